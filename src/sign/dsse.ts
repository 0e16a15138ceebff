// DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol.md): the signature is over
// PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal byte
// counts; cosign signs in-toto attestations this way with the same ECDSA-SHA256 key as image signatures.
import type { SigningKey } from './key.js';
import { signBytes } from './payload.js';

export interface DsseEnvelope {
  payloadType: string;
  /** The payload, standard base64. */
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

/** The pre-authentication encoding DSSE signs. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** An envelope of `payload` signed with `key` (keyid empty, as cosign writes it for a key without a name). */
export function signDsse(key: SigningKey, payloadType: string, payload: Buffer): DsseEnvelope {
  return {
    payloadType,
    payload: payload.toString('base64'),
    signatures: [{ keyid: '', sig: signBytes(key.privateKey, preAuthEncoding(payloadType, payload)) }],
  };
}
