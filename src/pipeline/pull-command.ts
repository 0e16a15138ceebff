// `oci-s2i pull IMAGE`: what a build does before it runs anything — resolve the manifest (by platform from an
// index), store the config and the layer blobs, and unpack every layer into the layer cache — and nothing else.
// A CI job runs it ahead of its builds (or while it checks out the source), so the builds start warm.
import { S2IError } from '../errors.js';
import type { Platform } from '../oci/types.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { parseImageLocation } from '../transport/parse.js';
import type { PulledFrom } from '../transport/types.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, type PullPolicy } from './pull.js';
import { Steps } from './steps.js';

export interface PullCommandOptions extends EngineOptions {
  image: string;
  platform?: Platform;
  /** Default 'always' (the registry is asked for the tag's current manifest; unchanged layers are not fetched). */
  pullPolicy?: PullPolicy;
}

export interface PullCommandResult {
  image: string;
  digest: string;
  mediaType: string;
  layers: Array<{ digest: string; diffID: string; size: number }>;
  timings: Record<string, number>;
  /** The endpoint that served it when the registry was asked (registries.conf: a mirror, a rewritten location). */
  pulledFrom?: PulledFrom;
}

export async function runPull(opts: PullCommandOptions): Promise<PullCommandResult> {
  const location = parseImageLocation(opts.image);
  // Layers are unpacked with their owners: as root, or in the user namespace that maps them.
  if (!namespaceMode()) throw new S2IError('ERR_NAMESPACE', 'pull must run inside the oci-s2i namespace');
  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    const image = await steps.run('pull', () => pullImage(engine, location, { policy: opts.pullPolicy ?? 'always', ...(opts.platform ? { platform: opts.platform } : {}) }));
    return {
      image: image.name,
      digest: image.manifestDescriptor.digest,
      mediaType: image.manifestDescriptor.mediaType,
      layers: image.layers.map((l) => ({ digest: l.blob.digest, diffID: l.diffID, size: l.blob.size })),
      timings: steps.timings,
      ...(image.pulledFrom ? { pulledFrom: image.pulledFrom } : {}),
    };
  } finally {
    await steps.cleanup();
  }
}
