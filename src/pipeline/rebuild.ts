// `oci-s2i rebuild IMAGE [NEW-TAG]`: the build options of a previous build, read back from its labels
// (io.openshift.s2i.build.image, …source-location, …commit.ref, …source-context-dir).
import { S2IError } from '../errors.js';
import { parseImageLocation } from '../transport/parse.js';
import { Label } from '../s2i/labels.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, type PullPolicy } from './pull.js';

export interface RebuildSpec {
  builder: string;
  source: string;
  ref?: string;
  contextDir?: string;
}

/** The parts of a build that the labels of `labels` record; missing ones are ERR_REBUILD_LABELS (exit 1). */
export function rebuildSpecFromLabels(image: string, labels: Record<string, string>): RebuildSpec {
  const builder = labels[Label.buildImage];
  const source = labels[Label.sourceLocation];
  if (!builder || !source) {
    throw new S2IError('ERR_REBUILD_LABELS', `image ${image} has no ${!builder ? Label.buildImage : Label.sourceLocation} label: it was not built by s2i/oci-s2i; use build instead`);
  }
  const ref = labels[Label.commitRef] || labels[Label.commitId];
  const contextDir = labels[Label.sourceContextDir];
  return { builder, source, ...(ref && ref !== 'HEAD' ? { ref } : {}), ...(contextDir ? { contextDir } : {}) };
}

/** Reads the image's config (manifest + config only) and returns its rebuild spec. */
export async function readRebuildSpec(image: string, opts: EngineOptions & { pullPolicy?: PullPolicy } = {}): Promise<RebuildSpec> {
  const engine = await openEngine(opts);
  try {
    const img = await pullImage(engine, parseImageLocation(image), { metadataOnly: true, keepBlobs: false, policy: opts.pullPolicy ?? 'always' });
    return rebuildSpecFromLabels(image, img.config.config?.Labels ?? {});
  } finally {
    await engine.close();
  }
}
