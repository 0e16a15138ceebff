// Byte checks shared by the file-backed transports: a pass-through that fails the stream (before 'end') when the
// bytes do not hash to the descriptor, helpers to read small blobs with a cap and to skip a prefix on resume.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ExitCode, S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';

export class VerifyStream extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  size = 0;

  constructor(
    private readonly desc: Descriptor,
    private readonly what: string,
  ) {
    super();
    this.algorithm = parseDigest(desc.digest).algorithm;
    this.hash = createHash(this.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.desc.size) return cb(this.mismatch(`more than ${this.desc.size} bytes`));
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (this.size !== this.desc.size || actual !== this.desc.digest) return cb(this.mismatch(`${actual} (${this.size} bytes)`));
    cb();
  }

  private mismatch(got: string): S2IError {
    // Exit 2 as for a registry's corrupt blob (spec/cli.md): the source does not hold what its descriptor says.
    return new S2IError('ERR_DIGEST_MISMATCH', `${this.what}: expected ${this.desc.digest} (${this.desc.size} bytes), got ${got}; the file is corrupt or was changed`, {
      exitCode: ExitCode.pull,
    });
  }
}

/** Reads a whole small stream, refusing more than `max` bytes (never trusts a size from outside). */
export async function readCappedStream(s: Readable, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of s) {
    const b = c as Buffer;
    n += b.length;
    if (n > max) {
      s.destroy();
      throw new S2IError('ERR_BLOB_TOO_LARGE', `${what} is over the ${max}-byte limit for this kind of content`);
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Drops the first `n` bytes of a stream (resuming an upload from a source that cannot seek). */
export function skipBytes(s: Readable, n: number): Readable {
  if (n <= 0) return s;
  let left = n;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
      } else {
        const rest = chunk.subarray(left);
        left = 0;
        cb(null, rest);
      }
    },
  });
  s.on('error', (e) => t.destroy(e));
  return s.pipe(t);
}
