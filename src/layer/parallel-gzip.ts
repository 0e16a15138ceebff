// Gzip on every core: the input is cut into blocks of a pinned size, each block is deflated on the libuv
// pool (zlib.deflateRaw, async) with the previous block's last 32 KiB as preset dictionary (what pigz does,
// so the ratio matches single-stream gzip), non-final blocks end with Z_SYNC_FLUSH (byte-aligned, no BFINAL,
// RFC 1951 §3.2.4 empty stored block) and the last with Z_FINISH, so the concatenation is one valid deflate
// stream. One gzip header/trailer around it (RFC 1952); the CRC-32 is computed over the input on the main
// thread with zlib.crc32. Output depends only on the input, the level, the block size and the zlib build,
// never on timing or the number of threads.
import { Transform, type TransformCallback } from 'node:stream';
import { availableParallelism } from 'node:os';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { S2IError } from '../errors.js';

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

/** Pinned: changing it changes the output bytes. */
export const PARALLEL_GZIP_BLOCK = 128 * 1024;
const WINDOW = 32 * 1024;

export interface ParallelGzipOptions {
  blockSize?: number;
  /** Blocks in flight at once; default 4 per CPU (at least 8). Does not affect the output. */
  concurrency?: number;
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private prev: Buffer | undefined;
  private readonly inflight: Array<Promise<Buffer>> = [];
  private crc = 0;
  private total = 0;
  private started = false;

  constructor(level: number, opts: ParallelGzipOptions = {}) {
    super();
    this.level = level;
    this.blockSize = opts.blockSize ?? PARALLEL_GZIP_BLOCK;
    // Blocks finish out of order but are emitted in order: with only CPUs + 1 in flight, a slow oldest block
    // left pool threads idle (measured: 1.66 of 2 cores busy). A deeper queue keeps every thread fed for a
    // few MiB of memory (each block is 128 KiB in, at most that out).
    this.concurrency = opts.concurrency ?? Math.max(8, 4 * availableParallelism());
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
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
      const block = all.subarray(0, this.blockSize);
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
    const opts: zlib.ZlibOptions = {
      level: this.level,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      // Room for the whole deflated block (deflateBound: incompressible data grows by ~0.03 % plus a few
      // bytes): one trip to the pool and one output buffer per block, instead of one per 16 KiB.
      chunkSize: Math.max(block.length + (block.length >> 8) + 64, 1024),
    };
    if (this.prev) opts.dictionary = this.prev.subarray(Math.max(0, this.prev.length - WINDOW));
    this.prev = block;
    const p = deflateRaw(block, opts);
    p.catch(() => {}); // awaited in order by drain(); this only keeps an early failure from being "unhandled"
    this.inflight.push(p);
  }

  /** Emits finished blocks, in order, until at most `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.inflight.length > keep) {
      const out = await this.inflight.shift()!;
      this.push(out);
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
