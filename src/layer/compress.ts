// Compression backends behind one shape: a Transform from tar bytes to blob bytes (null for 'none').
// gzip: 'libdeflate' (libdeflate blocks on every core, one gzip stream: the fastest, when built), 'parallel'
// (zlib blocks on every core, one gzip stream), 'zlib' (Node's zlib, one core), 'pako' (bit-reproducible across
// Node/zlib builds). The default is the fastest one this installation has. zstd: libzstd in-process
// (zstd-napi), multi-threaded.
// Every gzip header written here has mtime 0 and no file name, so the output is a function of the input.
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { S2IError } from '../errors.js';
import { PakoGzip } from './compress-pako.js';
import { ZstdCompress } from './compress-zstd.js';
import { ParallelGzip, libdeflateAvailable } from './parallel-gzip.js';
import type { BufferPool } from './buffer-pool.js';

export type Compression = 'gzip' | 'zstd' | 'none';
export type GzipBackend = 'zlib' | 'pako' | 'parallel' | 'libdeflate';
export const gzipBackends: readonly GzipBackend[] = ['libdeflate', 'parallel', 'zlib', 'pako'];

/** The fastest gzip backend of this installation: libdeflate when build/deflate.node was built, else parallel. */
export function defaultGzipBackend(): GzipBackend {
  return libdeflateAvailable() ? 'libdeflate' : 'parallel';
}

export interface CompressorOptions {
  /** gzip 0-9 (default 6), zstd 1-19 (default 3). */
  level?: number;
  /** gzip only; default `defaultGzipBackend()`. */
  backend?: GzipBackend;
  /** libdeflate backend: whole-block input chunks from this pool are given back once compressed. */
  pool?: BufferPool;
  /** libdeflate backend: output buffers come from this pool; the final consumer gives them back (parallel-gzip.ts). */
  outputPool?: BufferPool;
}

const LEVELS: Record<Exclude<Compression, 'none'>, { min: number; max: number; def: number }> = {
  gzip: { min: 0, max: 9, def: 6 },
  zstd: { min: 1, max: 19, def: 3 },
};

/** The level that `compressor(kind, opts)` uses, validated. */
export function compressionLevel(kind: Compression, level: number | undefined): number {
  if (kind === 'none') return 0;
  const r = LEVELS[kind];
  if (r === undefined) throw badKind(kind);
  const l = level ?? r.def;
  if (!Number.isInteger(l) || l < r.min || l > r.max) {
    throw new S2IError('ERR_BAD_COMPRESSION_LEVEL', `compression level ${String(level)} is not valid for ${kind}; use an integer from ${r.min} to ${r.max}`);
  }
  return l;
}

/** A fresh compressing Transform, or null for 'none'. Throws S2IError on a bad kind, level or backend. */
export function compressor(kind: Compression, opts: CompressorOptions = {}): Transform | null {
  const level = compressionLevel(kind, opts.level);
  switch (kind) {
    case 'none':
      return null;
    case 'zstd':
      return new ZstdCompress(level);
    case 'gzip':
      switch (opts.backend ?? defaultGzipBackend()) {
        // Node's gzip header: mtime 0, no name, OS byte from the zlib build (3 on Linux).
        case 'zlib': return zlib.createGzip({ level, chunkSize: 128 * 1024 });
        case 'pako': return new PakoGzip(level);
        case 'parallel': return new ParallelGzip(level, { engine: 'zlib' });
        case 'libdeflate':
          return new ParallelGzip(level, { engine: 'libdeflate', ...(opts.pool ? { pool: opts.pool } : {}), ...(opts.outputPool ? { outputPool: opts.outputPool } : {}) });
        default:
          throw new S2IError('ERR_BAD_COMPRESSION', `unknown gzip backend ${JSON.stringify(opts.backend)}; use ${gzipBackends.join(', ')}`);
      }
    default:
      throw badKind(kind);
  }
}

function badKind(kind: unknown): S2IError {
  return new S2IError('ERR_BAD_COMPRESSION', `unknown compression ${JSON.stringify(kind)}; use gzip, zstd or none`);
}
