// The simple-signing payload of a sigstore image signature (containers/image signature/internal/sigstore_payload.go,
// cosign's payload.SimpleContainerImage): {"critical":{"identity":{"docker-reference"},"image":{"docker-manifest-digest"},
// "type":"cosign container image signature"},"optional":{…}}, signed as its exact bytes with ECDSA-SHA256 (ASN.1 DER
// signature, base64 in the layer's `dev.cosignproject.cosign/signature` annotation).
import { sign, verify, type KeyObject } from 'node:crypto';
import { isValidDigest } from '../oci/digest.js';

export const SIGNATURE_TYPE = 'cosign container image signature';
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** The payload bytes, keys in the order Go's encoding/json writes a map (sorted), as containers/image does. */
export function signaturePayload(dockerReference: string, manifestDigest: string, creator: string, timestamp: number): Buffer {
  const payload = {
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: SIGNATURE_TYPE },
    optional: { creator, timestamp },
  };
  return Buffer.from(JSON.stringify(payload));
}

/** ECDSA-SHA256 over `bytes`, ASN.1 DER, base64 (what cosign and containers/image put in the annotation). */
export function signBytes(key: KeyObject, bytes: Buffer): string {
  return sign('sha256', bytes, key).toString('base64');
}

/** What a verified payload claims. */
export interface SignedClaims {
  dockerReference: string;
  manifestDigest: string;
}

/**
 * Checks `base64Signature` over `payload` with any of `keys`, then reads the payload as strictly as containers/image:
 * `critical` has exactly type, image and identity; `optional` may be null. Returns why not as a string.
 */
export function verifyPayload(keys: readonly KeyObject[], payload: Buffer, base64Signature: string): SignedClaims | string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64Signature)) return 'the signature annotation is not base64';
  const sig = Buffer.from(base64Signature, 'base64');
  if (!keys.some((k) => safeVerify(k, payload, sig))) return 'cryptographic signature verification failed';
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'the signed payload is not JSON';
  }
  const top = exactObject(doc, ['critical', 'optional']);
  if (!top) return 'the signed payload does not have exactly critical and optional';
  if (top.optional !== null && (typeof top.optional !== 'object' || Array.isArray(top.optional))) return 'optional is not an object';
  const critical = exactObject(top.critical, ['type', 'image', 'identity']);
  if (!critical) return 'critical does not have exactly type, image and identity';
  if (critical.type !== SIGNATURE_TYPE) return `unrecognized signature type ${JSON.stringify(critical.type)}`;
  const image = exactObject(critical.image, ['docker-manifest-digest']);
  const identity = exactObject(critical.identity, ['docker-reference']);
  const digest = image?.['docker-manifest-digest'];
  const ref = identity?.['docker-reference'];
  if (typeof digest !== 'string' || typeof ref !== 'string') return 'image or identity is malformed';
  if (!isValidDigest(digest)) return `invalid docker-manifest-digest ${JSON.stringify(digest)}`;
  return { dockerReference: ref, manifestDigest: digest };
}

function safeVerify(key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    return verify('sha256', data, key, sig);
  } catch {
    return false;
  }
}

function exactObject(v: unknown, keys: string[]): Record<string, unknown> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const own = Object.keys(v);
  if (own.length !== keys.length || !keys.every((k) => own.includes(k))) return undefined;
  return v as Record<string, unknown>;
}
