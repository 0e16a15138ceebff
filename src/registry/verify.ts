// Content verification for bytes from a registry: the digest algorithm named by the descriptor, the exact
// size, and an error raised *before* the stream ends when either is wrong, so no consumer ever sees a clean
// end on bad content.
import { createHash, type Hash } from 'node:crypto';
import { parseDigest } from '../oci/digest.js';
import { S2IError } from '../errors.js';

export function hashFor(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

// The one in-memory digest helper is oci's; re-exported for this folder's callers.
export { digestOf } from '../oci/digest.js';

export function digestMismatch(what: string, expected: string, actual: string): S2IError {
  return new S2IError(
    'ERR_DIGEST_MISMATCH',
    `${what}: content digest ${actual} does not match the expected ${expected}; the registry or a proxy served wrong bytes, nothing was kept`,
    { step: 'pull' },
  );
}

export function sizeMismatch(what: string, expected: number, actual: number | string): S2IError {
  return new S2IError(
    'ERR_SIZE_MISMATCH',
    `${what}: got ${actual} bytes, expected ${expected}; the registry or a proxy served wrong bytes, nothing was kept`,
    { step: 'pull' },
  );
}

/** Incremental digest+size check used by the resumable download. */
export class ContentVerifier {
  private readonly hash: Hash;
  size = 0;
  constructor(
    private readonly what: string,
    private readonly digest: string,
    private readonly expectedSize: number,
  ) {
    this.hash = hashFor(digest);
  }

  /** Throws as soon as more bytes than announced arrive. */
  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.expectedSize) throw sizeMismatch(this.what, this.expectedSize, `more than ${this.expectedSize}`);
    this.hash.update(chunk);
  }

  /** Call at the end of the bytes; throws on a short body or a wrong digest. */
  final(): void {
    if (this.size !== this.expectedSize) throw sizeMismatch(this.what, this.expectedSize, this.size);
    const actual = `${this.digest.slice(0, this.digest.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) throw digestMismatch(this.what, this.digest, actual);
  }
}
