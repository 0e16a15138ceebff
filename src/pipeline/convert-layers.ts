// Builder layers in the output's format (spec/format-rules.md "Build-time rules"): the Docker format has no zstd
// layers, and OpenShift 4.6 imports gzip layers only, so with `--format docker` every zstd or plain-tar builder
// layer is recompressed to gzip (new blob digest, same diffID — checked while it streams) and stored. Which layers
// is the pure plan `copy` follows too (image/convert.ts planConversion); everything else keeps its blob, and
// buildManifest maps the media type.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { needsGzip, planConversion } from '../image/convert.js';
import type { GzipBackend } from '../layer/compress.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { recompressToGzip } from '../transport/recompress.js';
import type { Engine } from './context.js';
import { mapLimit } from '../registry/parallel.js';
import type { PulledImage } from './pull.js';

export interface ConvertOptions {
  /** Scratch dir for recompressed blobs before they enter the store. */
  workDir: string;
  /** gzip backend ('pako' for reproducible builds); default: the fastest (compress.ts defaultGzipBackend). */
  backend?: GzipBackend;
  /** gzip level; default 6. */
  level?: number;
}

/** True when a builder layer of this type must be recompressed to gzip to appear in an image of `format`: for the
 *  Docker format, zstd and plain tar alike (image/convert.ts `needsGzip`, the rule `copy` follows too). */
export function needsGzipFor(format: ImageFormat, mediaType: string): boolean {
  return needsGzip(mediaType, format, format === 'docker');
}

/** The base image's layer descriptors as an image of `format` carries them (recompressed blobs are in the store). */
export async function formatLayersFor(engine: Engine, base: PulledImage, format: ImageFormat, opts: ConvertOptions): Promise<Descriptor[]> {
  const plan = planConversion(base, format, { plainLayers: format === 'docker' });
  if (plan.rewrites.length === 0) return base.manifest.layers;
  await mkdir(opts.workDir, { recursive: true });
  try {
    return await mapLimit(plan.layers, 2, async (step) => {
      if (step.rewrite === false) return step.from;
      const { from: l, index: i } = step;
      const diffID = base.config.rootfs.diff_ids[i]!;
      let input: Readable;
      if (await engine.store.has(l.digest)) input = await engine.store.open(l.digest);
      else if (base.source) input = await base.source.fetchBlob(l, { signal: engine.signal });
      else throw new S2IError('ERR_BLOB_MISSING', `layer ${i} (${l.digest}) of ${base.name} is not in the local store; pull the image again`, { step: 'pull' });
      const file = path.join(opts.workDir, `layer-${i}.gz`);
      const r = await recompressToGzip(input, l, diffID, createWriteStream(file, { flags: 'wx' }), {
        ...(opts.level !== undefined ? { level: opts.level } : {}),
        ...(opts.backend ? { backend: opts.backend } : {}),
        signal: engine.signal,
        what: `layer ${i} (${l.digest}) of ${base.name}`,
      });
      const desc: Descriptor = { mediaType: step.mediaType, digest: r.digest, size: r.size };
      await engine.store.put(desc, createReadStream(file), { signal: engine.signal });
      await rm(file, { force: true });
      engine.onProgress({
        type: 'log',
        level: 'info',
        message: `builder layer ${i}: recompressed ${l.mediaType.replace(/^.*\./, '')} → gzip for the Docker format (${l.digest.slice(7, 19)} → ${desc.digest.slice(7, 19)}, diffID unchanged)`,
      });
      return desc;
    });
  } finally {
    await rm(opts.workDir, { recursive: true, force: true });
  }
}
