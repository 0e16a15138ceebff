// Gzip on every core: the input is cut into blocks of a pinned size, each block is deflated on the libuv pool,
// and the deflated blocks are joined, in order, into one DEFLATE stream inside one gzip member (RFC 1952):
// every block but the last ends byte-aligned with an empty stored block and no BFINAL (RFC 1951 §3.2.4, what
// zlib's Z_SYNC_FLUSH writes), as pigz does. Two engines:
// - 'libdeflate' (native/deflate.c, when built): libdeflate deflates each 1 MiB block about twice as fast as
//   zlib at the same level and ratio; it has no preset dictionary, so blocks are larger (1 MiB) to keep the
//   ratio; the native side computes each block's CRC-32 on the pool too, combined here in order.
// - 'zlib' (always available): zlib.deflateRaw on 128 KiB blocks with the previous block's last 32 KiB as
//   preset dictionary (what pigz does); the CRC-32 is computed here with zlib.crc32.
// Output depends only on the input, the level, the engine (and its library's version) and its pinned block
// size, never on timing or the number of threads.
import { Transform, type TransformCallback } from 'node:stream';
import { availableParallelism } from 'node:os';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { S2IError } from '../errors.js';
import { nativeDeflate, type NativeDeflate } from '../sys/native.js';
import type { BufferPool } from './buffer-pool.js';

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

export type ParallelGzipEngine = 'libdeflate' | 'zlib';

/** Pinned block sizes: changing one changes that engine's output bytes. */
export const PARALLEL_GZIP_BLOCK = 128 * 1024;
export const LIBDEFLATE_GZIP_BLOCK = 1024 * 1024;
const WINDOW = 32 * 1024;

/** True when the libdeflate engine was built (build/deflate.node). */
export function libdeflateAvailable(): boolean {
  return nativeDeflate() !== null;
}

export interface ParallelGzipOptions {
  /** Default 'zlib' (compress.ts picks the backend). 'libdeflate' throws ERR_COMPRESS when build/deflate.node is missing. */
  engine?: ParallelGzipEngine;
  /** Default: the engine's pinned size. */
  blockSize?: number;
  /** Blocks in flight at once; default 4 per CPU (at least 8). Does not affect the output. */
  concurrency?: number;
  /** libdeflate engine: input chunks that are whole blocks from this pool go back to it once deflated. */
  pool?: BufferPool;
  /**
   * libdeflate engine: deflate into buffers of this pool (its size must be `deflateBound(blockSize)`) and push
   * slices of them, which the final consumer gives back with `releaseView` once written. Without it, each
   * block's output is an exact-size copy and the worst-case buffer is reused here.
   */
  outputPool?: BufferPool;
}

interface Deflated {
  out: Buffer;
  /** CRC-32 of the block's input, when the engine computed it. */
  crc?: number;
  length: number;
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly lib: NativeDeflate | undefined;
  private readonly pool: BufferPool | undefined;
  private readonly outputPool: BufferPool | undefined;
  /** libdeflate engine without an output pool: worst-case output buffers, reused once their bytes are copied out. */
  private scratch: Buffer[] = [];
  private readonly bound: number;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private prev: Buffer | undefined;
  private readonly inflight: Array<Promise<Deflated>> = [];
  private crc = 0;
  private total = 0;
  private started = false;

  constructor(level: number, opts: ParallelGzipOptions = {}) {
    super();
    this.level = level;
    if (opts.engine === 'libdeflate') {
      const lib = nativeDeflate();
      if (!lib) throw new S2IError('ERR_COMPRESS', 'the libdeflate gzip backend was not built (build/deflate.node); install libdeflate-dev and run `npm run build`, or use --backend parallel');
      this.lib = lib;
    }
    this.blockSize = opts.blockSize ?? (this.lib ? LIBDEFLATE_GZIP_BLOCK : PARALLEL_GZIP_BLOCK);
    this.pool = this.lib ? opts.pool : undefined; // the zlib engine keeps the previous block as its dictionary
    this.bound = this.lib ? this.lib.deflateBound(this.blockSize) : 0;
    if (opts.outputPool && opts.outputPool.size !== this.bound) throw new RangeError(`outputPool buffers must be deflateBound(blockSize) = ${this.bound} bytes`);
    this.outputPool = this.lib ? opts.outputPool : undefined;
    // Blocks finish out of order but are emitted in order: with only CPUs + 1 in flight, a slow oldest block
    // left pool threads idle (measured: 1.66 of 2 cores busy). A deeper queue keeps every thread fed.
    this.concurrency = opts.concurrency ?? Math.max(8, 4 * availableParallelism());
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.lib) this.crc = zlib.crc32(chunk, this.crc);
    this.total = (this.total + chunk.length) % 2 ** 32;
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    this.cutBlocks().then(() => cb(), (e: unknown) => cb(wrap(e)));
  }

  override _flush(cb: TransformCallback): void {
    this.submit(this.takeAll(), true);
    this.drain(0).then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total >>> 0, 4);
      cb(null, trailer);
    }, (e: unknown) => cb(wrap(e)));
  }

  private async cutBlocks(): Promise<void> {
    while (this.pendingLen >= this.blockSize) {
      const all = this.takeAll();
      const block = all.length === this.blockSize ? all : all.subarray(0, this.blockSize);
      const rest = all.subarray(this.blockSize);
      if (rest.length > 0) {
        this.pending = [rest];
        this.pendingLen = rest.length;
      }
      this.submit(block, false);
      await this.drain(this.concurrency - 1);
    }
  }

  private takeAll(): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    return all;
  }

  private submit(block: Buffer, last: boolean): void {
    if (!this.started) {
      this.started = true;
      this.push(gzipHeader(this.level));
    }
    const p = this.lib ? this.deflateLib(this.lib, block, last) : this.deflateZlib(block, last);
    p.catch(() => {}); // awaited in order by drain(); this only keeps an early failure from being "unhandled"
    this.inflight.push(p);
  }

  private deflateLib(lib: NativeDeflate, block: Buffer, last: boolean): Promise<Deflated> {
    // Output goes into worst-case-sized buffers (deflateBound of a whole block; blocks are never larger) that are
    // reused: either the consumer gives them back (output pool: no copy), or an exact-size copy is handed on and
    // the buffer is reused here. Handing on a slice of a fresh buffer would keep the whole worst-case buffer
    // (≈ 2.7× the slice on binaries) alive as garbage until V8 collects it.
    const out = this.outputPool ? this.outputPool.acquire() : (this.scratch.pop() ?? Buffer.allocUnsafe(this.bound));
    return new Promise((resolve, reject) => {
      lib.deflateBlock(block, out, this.level, last, (err, length, crc) => {
        if (err) return reject(err);
        if (this.pool?.owns(block)) this.pool.release(block);
        if (this.outputPool) return resolve({ out: out.subarray(0, length), crc, length: block.length });
        const copy = Buffer.allocUnsafe(length);
        out.copy(copy, 0, 0, length);
        this.scratch.push(out);
        resolve({ out: copy, crc, length: block.length });
      });
    });
  }

  private async deflateZlib(block: Buffer, last: boolean): Promise<Deflated> {
    const opts: zlib.ZlibOptions = {
      level: this.level,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      // Room for the whole deflated block (deflateBound: incompressible data grows by ~0.03 % plus a few
      // bytes): one trip to the pool and one output buffer per block, instead of one per 16 KiB.
      chunkSize: Math.max(block.length + (block.length >> 8) + 64, 1024),
    };
    if (this.prev) opts.dictionary = this.prev.subarray(Math.max(0, this.prev.length - WINDOW));
    this.prev = block;
    return { out: await deflateRaw(block, opts), length: block.length };
  }

  /** Emits finished blocks, in order, until at most `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.inflight.length > keep) {
      const d = await this.inflight.shift()!;
      if (d.crc !== undefined) this.crc = this.lib!.crc32Combine(this.crc >>> 0, d.crc, d.length);
      this.push(d.out);
    }
  }
}

// RFC 1952: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL OS=3 (Unix); no name, no timestamp. XFL as zlib sets it.
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

function wrap(e: unknown): Error {
  return e instanceof S2IError ? e : new S2IError('ERR_COMPRESS', `parallel gzip failed: ${(e as Error).message}`, { cause: e });
}
