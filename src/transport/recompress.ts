// One layer to gzip in one streaming pass: source blob → decompress → diffID digest → gzip → blob digest → sink.
// Used by `copyImage` (zstd/plain → Docker) and by `build --format docker` on a builder with zstd or plain-tar
// layers (spec/format-rules.md "Build-time rules"); which layers is the pure plan's (image/convert.ts). The diffID
// is checked against the config's, so a layer that unpacks to something else is refused instead of silently
// re-described.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import { compressor, type GzipBackend } from '../layer/compress.js';
import { corruptLayerError, decompressor } from '../layer/decompress.js';
import { Digester } from '../layer/digester.js';
import type { Descriptor } from '../oci/types.js';

export interface RecompressOptions {
  /** gzip level 0-9; default 6. */
  level?: number;
  /** Default: the fastest backend (compress.ts defaultGzipBackend); 'pako' for bit-reproducible output. */
  backend?: GzipBackend;
  signal?: AbortSignal;
  /** Names the layer in errors, e.g. "layer 0 (sha256:…) of docker://…". */
  what: string;
}

/**
 * Gzips the layer `layer` (read from `input`, any supported compression) into `sink`; returns the new blob's digest
 * and size. ERR_DIFFID_MISMATCH when the tar's digest is not `diffID`; ERR_LAYER_CORRUPT when it does not decompress.
 */
export async function recompressToGzip(
  input: Readable,
  layer: Descriptor,
  diffID: string,
  sink: Writable,
  opts: RecompressOptions,
): Promise<{ digest: string; size: number }> {
  const un = decompressor(layer.mediaType);
  const diff = new Digester();
  const gz = compressor('gzip', { ...(opts.level !== undefined ? { level: opts.level } : {}), ...(opts.backend ? { backend: opts.backend } : {}) })!;
  const blob = new Digester();
  const signal = opts.signal ? { signal: opts.signal } : {};
  try {
    if (un) await pipeline(input, un, diff, gz, blob, sink, signal);
    else await pipeline(input, diff, gz, blob, sink, signal);
  } catch (e) {
    throw corruptLayerError(e, opts.what);
  }
  if (diff.digest() !== diffID) {
    throw new S2IError('ERR_DIFFID_MISMATCH', `${opts.what} unpacks to ${diff.digest()}, but its config says ${diffID}; the source image is corrupt`, { step: 'pull' });
  }
  return { digest: blob.digest(), size: blob.size };
}
