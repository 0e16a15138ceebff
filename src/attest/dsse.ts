// DSSE envelopes (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md): the payload base64, its
// type, and the signatures over PAE(type, payload). An attestation is written as an envelope whether or not it is
// signed, so a consumer reads one format either way; without a signing key its `signatures` list is empty (a
// verifier that requires a signature rejects it, as it should). Signing is src/sign/'s.

export const InTotoPayloadType = 'application/vnd.in-toto+json';
export const DsseEnvelopeMediaType = 'application/vnd.dsse.envelope.v1+json';

export interface DsseSignature {
  keyid?: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

/** Signs an envelope's payload; the build gets one when a signing key was given. */
export type EnvelopeSigner = (payloadType: string, payload: Buffer) => Promise<DsseSignature[]>;

/** The envelope of `payload`, signed by `sign` when given. */
export async function envelopeOf(payloadType: string, payload: Buffer, sign?: EnvelopeSigner): Promise<DsseEnvelope> {
  return { payloadType, payload: payload.toString('base64'), signatures: sign ? await sign(payloadType, payload) : [] };
}
