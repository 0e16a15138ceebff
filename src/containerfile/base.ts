// FROM: the base image's config, layers (unpacked once into the layer cache, as overlay lower dirs) and where its
// blobs can be read when pushing. A registry image goes through build/pull.ts (store, cache, pull policy);
// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` and `docker-archive:FILE[:REF]` through the transports; `scratch` is
// an empty image.
import { checkPolicy } from '../pipeline/policy-check.js';
import type { Readable } from 'node:stream';
import { tagStep } from '../errors.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { hostPlatform } from '../oci/platform.js';
import { pullImage, type PullPolicy } from '../pipeline/pull.js';
import type { Engine } from '../pipeline/context.js';
import { openSource } from '../transport/open.js';
import { localImages } from '../pipeline/local-images.js';
import { parseImageLocation } from '../transport/parse.js';
import { resolveImage } from '../transport/resolve-image.js';
import { storeDestination } from '../transport/store-destination.js';
import { writeImage } from '../transport/write-image.js';
import type { ImageSource } from '../transport/types.js';

export interface BaseImage {
  /** What FROM named, for messages and history. */
  name: string;
  config: ImageConfig;
  /** Layer blobs in image order, and their unpacked dirs. */
  layers: Descriptor[];
  dirs: string[];
  /** The registry source holding the layers (for cross-repo mounts / streaming them on push). */
  source?: ImageSource;
}

export interface BaseOptions {
  platform?: Platform;
  policy?: PullPolicy;
}

export function scratchConfig(platform: Platform = hostPlatform()): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

export async function resolveBase(engine: Engine, from: string, opts: BaseOptions = {}): Promise<BaseImage> {
  if (from === 'scratch') return { name: from, config: scratchConfig(opts.platform), layers: [], dirs: [] };
  const loc = parseImageLocation(from);
  if (loc.transport === 'docker') {
    const pulled = await pullImage(engine, loc.ref, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.policy ?? 'if-not-present' });
    return {
      name: from,
      config: pulled.config,
      layers: pulled.layers.map((l) => l.blob),
      dirs: pulled.layers.map((l) => l.dir),
      ...(pulled.source ? { source: pulled.source } : {}),
    };
  }
  const src = await openSource(loc, { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root, local: localImages(engine.root, engine.store) });
  try {
    // The signature policy before anything of it is read (registry images: in pullImage).
    await checkPolicy(engine, { name: from, transport: loc.transport, manifestDigest: (await src.resolve()).descriptor.digest });
    const image = await resolveImage(src, { ...(opts.platform ? { platform: opts.platform } : {}), signal: engine.signal });
    const layers = image.layers();
    // Blobs go into the store first (through the one writer, one at a time): pushing the result later needs them,
    // and the source may be gone by then.
    await writeImage(storeDestination(engine.store, { name: from, signal: engine.signal }), { blobs: layers.map((l) => ({ descriptor: l.descriptor, open: (offset) => l.open(offset) })) }, { concurrency: 1 });
    const dirs: string[] = [];
    for (const layer of layers) {
      const blob = layer.descriptor;
      const open = async (): Promise<Readable> => engine.store.open(blob.digest);
      const r = await engine.cache.ensure(blob, open, {
        expectedDiffID: layer.diffID,
        signal: engine.signal,
        onWarning: (m) => engine.onProgress({ type: 'log', level: 'warn', message: m }),
      });
      dirs.push(r.dir);
    }
    return { name: from, config: image.config.config, layers: image.manifest.manifest.layers, dirs };
  } catch (e) {
    throw tagStep('from', e, from);
  } finally {
    await src.close();
  }
}
