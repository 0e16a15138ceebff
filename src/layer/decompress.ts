// Layer decompression by media type (image-spec media-types.md; distribution manifest-v2-2.md for Docker names).
// gzip uses Node's zlib, inflating 256 KiB of output per trip through the libuv pool (`gunzipChunk`): with zlib's
// default 16 KiB a 770 MB layer takes ~47,000 round trips, and the main thread (which writes the files) sat idle
// waiting for them (a 20,000-file layer: 0.86 s idle of 3.4 s; 0.30 s with 256 KiB). Node 20 has no zstd, so
// zstd goes through zstd-napi's binding (`ZSTD_decompressStream`), stepped with backpressure by
// `SteppedTransform` (compress-zstd.ts): a small chunk of a zstd bomb never queues more than one output buffer.
// The window is capped at zstd's default limit (2^27 = 128 MiB, as `zstd -d` without --memory): frames asking
// for more are refused, which bounds a decoder's memory.
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import zstd from 'zstd-napi/binding.js';
import { S2IError } from '../errors.js';
import { OutBuffer, SteppedTransform, type Step } from './compress-zstd.js';
import { layerCompression, MediaType } from '../oci/media-types.js';

// The one media type → compression table is oci/media-types.ts's (pure; image/convert.ts asks it too).
export { layerCompression };

/** Output bytes per inflate call on the pool (see above); bounded, so a gzip bomb still queues one chunk at a time. */
export const gunzipChunk = 256 * 1024;

/** A Transform that decompresses the layer, or null for an uncompressed tar. */
export function decompressor(mediaType: string): Transform | null {
  switch (layerCompression(mediaType)) {
    case 'none':
      return null;
    case 'gzip':
      return zlib.createGunzip({ chunkSize: gunzipChunk });
    case 'zstd':
      return new ZstdDecompress();
  }
}

/** Maps a decompression failure to a clean layer error naming `what` (leaves other S2IErrors and aborts alone). */
export function corruptLayerError(e: unknown, what: string): unknown {
  if (e instanceof ZstdDataError) {
    return new S2IError('ERR_LAYER_CORRUPT', `${what} is corrupt (zstd: ${e.detail}); pull it again`, { cause: e.cause ?? e });
  }
  if (e instanceof S2IError || (e as Error | undefined)?.name === 'AbortError') return e;
  return new S2IError('ERR_LAYER_CORRUPT', `${what} is corrupt (${(e as Error).message}); pull it again`, { cause: e });
}

/** Bad zstd input: ERR_LAYER_CORRUPT already, so appliers pass it on; `corruptLayerError` adds the layer's name. */
export class ZstdDataError extends S2IError {
  constructor(readonly detail: string, cause?: unknown) {
    super('ERR_LAYER_CORRUPT', `zstd-compressed layer data is corrupt (${detail}); pull the layer again or fix the image`, cause === undefined ? {} : { cause });
  }
}

const D_OUT_SIZE = zstd.dStreamOutSize();

/** zstd frames (and skippable frames) → bytes. Fails on garbage, a bad checksum, a truncated frame or no input. */
export class ZstdDecompress extends SteppedTransform {
  private dctx: zstd.DCtx | undefined = new zstd.DCtx();
  private readonly out = new OutBuffer(D_OUT_SIZE);
  private inFrame = false;
  private sawInput = false;

  protected step(src: Buffer, ending: boolean): Step {
    if (ending) {
      if (!this.sawInput) throw new ZstdDataError('empty input: no zstd frame');
      if (this.inFrame) throw new ZstdDataError('input ends in the middle of a frame (truncated)');
      return { out: Buffer.alloc(0), consumed: 0, more: false };
    }
    if (!this.dctx) throw new Error('decompression context already released');
    if (src.length > 0) this.sawInput = true;
    const [left, produced, consumed] = this.dctx.decompressStream(this.out.target, src);
    // left === 0: a frame is complete and flushed. A call that did nothing (no input, nothing waiting) returns
    // the next frame's header size, which says nothing about where we are, so it is not counted.
    if (consumed > 0 || produced > 0) this.inFrame = left !== 0;
    // A full output buffer may mean more output is waiting.
    return { out: this.out.take(produced), consumed, more: produced === D_OUT_SIZE };
  }

  protected fail(e: unknown): S2IError {
    if (e instanceof S2IError) return e;
    return new ZstdDataError((e as Error | undefined)?.message ?? String(e), e);
  }

  protected release(): void {
    this.dctx = undefined;
  }
}
