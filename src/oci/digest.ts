// Content digests (image-spec descriptor.md "Digests"). Only the registered algorithms with their exact
// encodings pass: a digest ends up in URLs and file paths, so anything looser is a traversal waiting to
// happen (CVE-2024-3727: containers/image built blob paths from unvalidated digests).
import { createHash } from 'node:crypto';
import { S2IError } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Encoded length per algorithm; the spec requires lowercase hex of exactly this length. */
const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const lowerHex = /^[0-9a-f]+$/;

function describe(s: unknown): string {
  if (typeof s !== 'string') return String(s);
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/** Parses `algorithm:hex`; throws ERR_INVALID_DIGEST for anything else (wrong length, case, algorithm). */
export function parseDigest(s: string): ParsedDigest {
  const bad = (why: string): S2IError =>
    new S2IError('ERR_INVALID_DIGEST', `invalid digest ${describe(s)}: ${why}; expected sha256:<64 lowercase hex>`);
  if (typeof s !== 'string') throw bad('not a string');
  const colon = s.indexOf(':');
  if (colon < 0) throw bad('missing "algorithm:" prefix');
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') throw bad(`unsupported algorithm "${algorithm.slice(0, 32)}"`);
  const want = hexLength[algorithm];
  if (hex.length !== want || !lowerHex.test(hex)) throw bad(`${algorithm} needs exactly ${want} lowercase hex characters`);
  return { algorithm, hex };
}

export function isValidDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/** `algorithm:<hex>` of in-memory bytes (manifests, configs); layers are hashed as streams (layer/digester.ts). */
export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** The digest the engine gives what it writes: `sha256:<hex>`. */
export function sha256Digest(data: Buffer | string): string {
  return digestOf(data, 'sha256');
}
