// zstd in-process through zstd-napi's low-level binding (libzstd statically linked, pinned by the exact package
// version in package.json, so output no longer depends on whatever `zstd` the host has installed).
// The high-level `CompressStream`/`DecompressStream` of zstd-napi are not used: they push every output buffer a
// chunk produces without looking at backpressure, so one small chunk of a zstd bomb could queue gigabytes.
// `SteppedTransform` below pauses mid-chunk when the reader is slow; `decompress.ts` builds on it too.
import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import zstd from 'zstd-napi/binding.js';
import { S2IError } from '../errors.js';

/** One step of a native streaming codec: bytes it produced, input bytes it took, and whether it has more output. */
export interface Step {
  out: Buffer;
  consumed: number;
  more: boolean;
}

/**
 * A Transform over a native step function (`ZSTD_compressStream2` / `ZSTD_decompressStream`) that may take part
 * of its input and fill part of an output buffer per call. When `push` says the reader is full, the rest of the
 * chunk waits for `_read`, so buffered output stays near one output buffer whatever the compression ratio.
 */
export abstract class SteppedTransform extends Transform {
  private pending: { src: Buffer; ending: boolean; cb: TransformCallback } | undefined;

  /** One native call. `ending` is true once, from `_flush`, with an empty `src`. Throws on bad data. */
  protected abstract step(src: Buffer, ending: boolean): Step;
  /** The S2IError for a failed step. */
  protected abstract fail(e: unknown): S2IError;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.run(chunk, false, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.run(Buffer.alloc(0), true, cb);
  }

  override _read(size: number): void {
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      this.run(p.src, p.ending, p.cb);
    }
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.pending = undefined; // its callback is never called: the stream is gone
    this.release();
    cb(err);
  }

  /** Drops the native context (its memory and, for compression, its worker threads go with the next GC). */
  protected abstract release(): void;

  private run(src: Buffer, ending: boolean, cb: TransformCallback): void {
    for (;;) {
      if (this.destroyed) return;
      let s: Step;
      try {
        s = this.step(src, ending);
      } catch (e) {
        cb(this.fail(e));
        return;
      }
      src = src.subarray(s.consumed);
      const room = s.out.length === 0 || this.push(s.out);
      if (src.length === 0 && !s.more) {
        cb();
        return;
      }
      if (!room) {
        this.pending = { src, ending, cb };
        return;
      }
    }
  }
}

/** Keeps an output buffer for the next step unless most of it was handed downstream. */
export class OutBuffer {
  private buf: Buffer;
  constructor(private readonly size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  get target(): Buffer {
    return this.buf;
  }
  /** The produced bytes: a copy when small (the big buffer is reused), else the buffer itself (a new one follows). */
  take(produced: number): Buffer {
    if (produced === 0) return Buffer.alloc(0);
    if (produced < this.size / 4) return Buffer.from(this.buf.subarray(0, produced));
    const out = this.buf.subarray(0, produced);
    this.buf = Buffer.allocUnsafe(this.size);
    return out;
  }
}

/**
 * Compression worker threads. zstd's multi-threaded mode (nbWorkers ≥ 1) cuts the input into jobs of a size set
 * by the level alone, so its output is the same for 1 or 64 workers (zstd manual, ZSTD_c_nbWorkers; checked in
 * test/layer/compress.test.ts) — but differs from single-threaded mode (nbWorkers 0), which is never used.
 * Capped because every worker holds its own context and job buffers (~100 MiB each at level 19).
 */
export const ZSTD_MAX_WORKERS = 4;
const OUT_SIZE = zstd.cStreamOutSize();

export interface ZstdCompressOptions {
  /** Worker threads (≥ 1); default min(CPUs, ZSTD_MAX_WORKERS). Does not change the output. */
  workers?: number;
}

/**
 * tar → zstd (one frame, checksum on, no content size: the length is unknown when it starts).
 * Compression runs on zstd's own threads; the main thread copies input into jobs and waits only when all
 * workers are busy.
 */
export class ZstdCompress extends SteppedTransform {
  private cctx: zstd.CCtx | undefined;
  private readonly out = new OutBuffer(OUT_SIZE);

  constructor(level: number, opts: ZstdCompressOptions = {}) {
    super();
    const workers = opts.workers ?? Math.min(os.availableParallelism(), ZSTD_MAX_WORKERS);
    if (!Number.isInteger(workers) || workers < 1) {
      throw new S2IError('ERR_COMPRESS', `zstd worker count ${String(workers)} is not valid; use an integer of at least 1`);
    }
    try {
      const c = new zstd.CCtx();
      c.setParameter(zstd.CParameter.compressionLevel, level);
      c.setParameter(zstd.CParameter.checksumFlag, 1);
      c.setParameter(zstd.CParameter.nbWorkers, workers);
      this.cctx = c;
    } catch (e) {
      throw this.fail(e);
    }
  }

  protected step(src: Buffer, ending: boolean): Step {
    if (!this.cctx) throw new Error('compression context already released');
    const [left, produced, consumed] = this.cctx.compressStream2(this.out.target, src, ending ? zstd.EndDirective.end : zstd.EndDirective.continue);
    // While not ending, output the context keeps back comes out with later input; at the end, `left` > 0 until
    // the frame's last byte (epilogue and checksum) is out.
    return { out: this.out.take(produced), consumed, more: ending && left !== 0 };
  }

  protected fail(e: unknown): S2IError {
    if (e instanceof S2IError) return e;
    return new S2IError('ERR_COMPRESS', `zstd compression failed (${(e as Error | undefined)?.message ?? String(e)})`, { cause: e });
  }

  protected release(): void {
    this.cctx = undefined;
  }
}
