// Gzip through pako, the reproducible backend: pako is plain JavaScript, so its output depends only on the
// input, the level and the pako version, never on the zlib that Node was built with. Header: mtime 0, no
// name, OS byte 3 (pako's constant), so the same tar always gives the same blob.
import { Transform, type TransformCallback } from 'node:stream';
import pako from 'pako';
import { S2IError } from '../errors.js';

export class PakoGzip extends Transform {
  private readonly deflate: pako.Deflate;

  constructor(level: number) {
    super();
    this.deflate = new pako.Deflate({ level: level as pako.DeflateFunctionOptions['level'], gzip: true, chunkSize: 128 * 1024 });
    // pako hands over a fresh (or final) output buffer each time, so it can be pushed without a copy.
    this.deflate.onData = (c: Uint8Array) => {
      this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(this.step(chunk, false));
  }

  override _flush(cb: TransformCallback): void {
    cb(this.step(new Uint8Array(0), true));
  }

  private step(data: Uint8Array, last: boolean): Error | null {
    if (this.deflate.push(data, last) && this.deflate.err === 0) return null;
    return new S2IError('ERR_COMPRESS', `pako gzip failed: ${this.deflate.msg || `code ${this.deflate.err}`}`);
  }
}
