// writeLayer: directory → deterministic tar → compression → sink, digesting the tar (diffID) and the blob
// (digest, size) in the same single streaming pass. Memory is bounded by stream buffers, never by the tree.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rename, stat, unlink } from 'node:fs/promises';
import { openSync, closeSync, writevSync as fsWritevSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { Digester } from './digester.js';
import { compressor, compressionLevel, defaultGzipBackend, type Compression, type GzipBackend } from './compress.js';
import { BufferPool } from './buffer-pool.js';
import { LIBDEFLATE_GZIP_BLOCK } from './parallel-gzip.js';
import { nativeDeflate } from '../sys/native.js';
import { tarChunks, type TarWriterStats } from './tar-writer.js';
import type { WalkNode } from './walk.js';

export interface WriteLayerOptions {
  /** Default 'gzip'. */
  compression?: Compression;
  /** Default 6 (gzip), 3 (zstd). */
  level?: number;
  /** gzip backend; default: the fastest (compress.ts defaultGzipBackend). 'pako' = bit-reproducible. */
  backend?: GzipBackend;
  /** Treat `dir` as an overlay upper dir: char device 0:0 → `.wh.NAME` entry (regular, size 0), dir with xattr
   *  user.overlay.opaque=y (or trusted.overlay.opaque=y) → the dir entry plus a `.wh..wh..opq` entry inside it.
   *  Default true. Also skip overlay-internal xattrs (`user.overlay.*`, `trusted.overlay.*`) from PAX xattrs. */
  overlayWhiteouts?: boolean;
  /** Clamp every mtime to at most this (seconds since epoch) for reproducibility; also used as the mtime of generated whiteout entries. */
  mtimeClamp?: number;
  /** Paths (relative to dir, posix, no leading /) to leave out of the layer entirely (e.g. mount points created for the sandbox). */
  exclude?: (relPath: string, isDir: boolean) => boolean;
  /** Write these nodes of `dir`, in this order, instead of walking it (`exclude` then does not apply): a snapshot
   *  diff's changes (snapshot-write.ts). */
  nodes?: Iterable<WalkNode> | AsyncIterable<WalkNode>;
  /** xattrs never recorded (by name); default none. */
  dropXattrs?: readonly string[];
  signal?: AbortSignal;
  /** Called with the running total of tar (uncompressed) bytes produced. */
  onProgress?: (bytesIn: number) => void;
}

export interface LayerResult {
  /** sha256 of the uncompressed tar. */
  diffID: string;
  /** sha256 of the bytes written to the sink. */
  digest: string;
  size: number;
  uncompressedSize: number;
  compression: Compression;
  /** Tar entries, generated whiteouts included. */
  entries: number;
}

/** Walks `dir` in sorted (byte order) order, writes a deterministic tar (PAX for long names/xattrs, uid/gid numeric
 *  as on disk, uname/gname empty, mode incl. setuid/setgid/sticky, mtime; hardlinks detected by (dev, ino) and
 *  written as link entries; symlinks; FIFOs; char/block devices), compresses and computes the diffID (sha256 of the
 *  tar) and the digest+size of the compressed bytes in ONE streaming pass, writing the compressed bytes to `sink`.
 *  Bounded memory whatever the size. Never follows symlinks. Ends `sink` on success, destroys it on failure. */
export async function writeLayer(dir: string, sink: Writable, opts: WriteLayerOptions = {}): Promise<LayerResult> {
  return writeLayerTo(dir, sink, opts, undefined);
}

/** Whether this layer is compressed by the libdeflate backend (whose buffers can be pooled). */
function usesLibdeflate(opts: WriteLayerOptions): boolean {
  return (opts.compression ?? 'gzip') === 'gzip' && (opts.backend ?? defaultGzipBackend()) === 'libdeflate';
}

/** `outputPool`: the compressor's output buffers come from it, and `sink` gives them back once written. */
async function writeLayerTo(dir: string, sink: Writable, opts: WriteLayerOptions, outputPool: BufferPool | undefined): Promise<LayerResult> {
  const compression = opts.compression ?? 'gzip';
  const stats: TarWriterStats = { entries: 0 };
  const diff = new Digester();
  let blob = diff;
  try {
    const level = compressionLevel(compression, opts.level);
    await checkSource(dir);
    opts.signal?.throwIfAborted();
    const backend = opts.backend ?? defaultGzipBackend();
    // libdeflate takes whole 1 MiB blocks: tar chunks of exactly that size need no copying into blocks, and
    // the compressor gives each one back to the pool once deflated, so the same few MiB are reused.
    const pool = usesLibdeflate(opts) ? new BufferPool(LIBDEFLATE_GZIP_BLOCK) : undefined;
    const tar = Readable.from(withProgress(tarChunks(dir, {
      overlayWhiteouts: opts.overlayWhiteouts ?? true,
      ...(pool ? { pool } : {}),
      ...(opts.mtimeClamp !== undefined ? { mtimeClamp: Math.floor(opts.mtimeClamp) } : {}),
      ...(opts.exclude ? { exclude: opts.exclude } : {}),
      ...(opts.nodes ? { nodes: opts.nodes } : {}),
      ...(opts.dropXattrs ? { dropXattrs: new Set(opts.dropXattrs) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }, stats), opts.onProgress), { objectMode: false });
    const comp = compressor(compression, { level, backend, ...(pool ? { pool } : {}), ...(outputPool ? { outputPool } : {}) });
    if (comp) blob = new Digester();
    const stages = comp ? [tar, diff, comp, blob, sink] : [tar, diff, sink];
    await pipeline(stages, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (!sink.destroyed) sink.destroy();
    throw layerError(e, dir, opts.signal);
  }
  return {
    diffID: diff.digest(),
    digest: blob.digest(),
    size: blob.size,
    uncompressedSize: diff.size,
    compression,
    entries: stats.entries,
  };
}

/** Convenience: write to a file path atomically (temp file in the same directory, then rename). */
export async function writeLayerFile(dir: string, file: string, opts: WriteLayerOptions = {}): Promise<LayerResult> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // Opened before writeLayer runs, so the temp file exists by the time a failure unlinks it.
    const fd = openSync(tmp, 'wx');
    // The file sink writes synchronously, so it can give the compressor's output buffers back right away.
    // Without the addon there is nothing to pool: the compressor refuses an explicit --backend libdeflate itself.
    const lib = usesLibdeflate(opts) ? nativeDeflate() : null;
    const outputPool = lib ? new BufferPool(lib.deflateBound(LIBDEFLATE_GZIP_BLOCK)) : undefined;
    const result = await writeLayerTo(dir, syncFileSink(fd, outputPool), opts, outputPool);
    await rename(tmp, file);
    return result;
  } catch (e) {
    await unlink(tmp).catch(() => {});
    if (e instanceof S2IError) throw e;
    throw new S2IError('ERR_LAYER_WRITE', `could not write layer file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** A file sink writing synchronously: a write into the page cache takes well under a millisecond per MiB,
 *  while an asynchronous one would wait in the libuv pool's queue behind the deflate jobs of parallel gzip
 *  (and hold the whole pipeline back meanwhile). Once written, buffers from `written` go back to that pool.
 *  Closes the descriptor when done or destroyed. */
function syncFileSink(fd: number, written?: BufferPool): Writable {
  let closed = false;
  const close = (): void => {
    if (!closed) {
      closed = true;
      closeSync(fd);
    }
  };
  return new Writable({
    highWaterMark: 1024 * 1024,
    writev(chunks, cb) {
      try {
        const bufs = chunks.map((c) => c.chunk as Buffer);
        writevSync(fd, bufs);
        if (written) for (const b of bufs) written.releaseView(b);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    final(cb) {
      try {
        close();
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    destroy(err, cb) {
      try {
        close();
      } catch {
        /* the original error matters more */
      }
      cb(err);
    },
  });
}

/** writev(2) until every byte is written (a short write is possible for large vectors). */
function writevSync(fd: number, bufs: Buffer[]): void {
  let rest = bufs;
  while (rest.length > 0) {
    let n = fsWritevSync(fd, rest);
    const next: Buffer[] = [];
    for (const b of rest) {
      if (n >= b.length) n -= b.length;
      else {
        next.push(n > 0 ? b.subarray(n) : b);
        n = 0;
      }
    }
    rest = next;
  }
}

async function checkSource(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new S2IError('ERR_SOURCE_MISSING', `layer source directory ${dir} does not exist; check the path`, { cause: e });
    }
    throw new S2IError('ERR_SOURCE_UNREADABLE', `cannot read layer source directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory()) throw new S2IError('ERR_SOURCE_NOT_DIR', `layer source ${dir} is not a directory; give a directory`);
}

async function* withProgress(chunks: AsyncGenerator<Buffer>, onProgress?: (bytesIn: number) => void): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const c of chunks) {
    total += c.length;
    onProgress?.(total);
    yield c;
  }
}

function layerError(e: unknown, dir: string, signal?: AbortSignal): S2IError {
  if (signal?.aborted || (e as Error)?.name === 'AbortError') {
    return new S2IError('ERR_ABORTED', `writing the layer from ${dir} was cancelled`, { cause: e });
  }
  if (e instanceof S2IError) return e;
  return new S2IError('ERR_LAYER_WRITE', `could not write the layer from ${dir}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
