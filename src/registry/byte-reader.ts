// Exact byte counts off one upload source: a chunked upload takes its PATCH bodies from one stream, and a
// source that is shorter or longer than its descriptor says fails with ERR_SIZE_MISMATCH, not a bad blob.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { sizeMismatch } from './verify.js';

export class ByteReader {
  private readonly it: AsyncIterator<unknown>;
  private leftover: Buffer | undefined;
  constructor(
    private readonly stream: Readable,
    private readonly what: string,
  ) {
    this.it = stream[Symbol.asyncIterator]();
    // The iterator listens only from its first next(); an error before that (a file that cannot be opened
    // emits ENOENT on the next tick) would otherwise be an uncaught 'error' event that kills the process. The
    // error is not lost: the iterator finds the stream errored and rejects with it.
    stream.on('error', () => {});
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const b = this.leftover;
      this.leftover = undefined;
      return b;
    }
    let r: IteratorResult<unknown>;
    try {
      r = await this.it.next();
    } catch (e) {
      if (e instanceof S2IError) throw e;
      // The local content failed (a missing or unreadable file): say so, not "connection lost" — and it is not
      // retried as a network fault would be.
      throw new S2IError('ERR_UPLOAD_SOURCE', `${this.what}: cannot read the content to upload: ${(e as Error).message}`, { cause: e });
    }
    if (r.done) return undefined;
    return Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const buf = await this.next();
      if (!buf) throw sizeMismatch(`${this.what}: the content to upload`, n, `only ${n - left} of the chunk`);
      if (buf.length > left) {
        this.leftover = buf.subarray(left);
        yield buf.subarray(0, left);
        return;
      }
      left -= buf.length;
      if (buf.length > 0) yield buf;
    }
  }

  async atEnd(): Promise<boolean> {
    for (;;) {
      const b = await this.next();
      if (!b) return true;
      if (b.length > 0) {
        this.leftover = b;
        return false;
      }
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/** Reads exactly `size` bytes of an upload's content (size is small: WHOLE_UPLOAD_MAX); more or fewer is ERR_SIZE_MISMATCH. */
export async function readWhole(stream: Readable, size: number, what: string): Promise<Buffer> {
  const source = new ByteReader(stream, what);
  try {
    const parts: Buffer[] = [];
    for await (const b of source.take(size)) parts.push(b);
    if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, size, `more than ${size}`);
    return Buffer.concat(parts, size);
  } finally {
    source.destroy();
  }
}
