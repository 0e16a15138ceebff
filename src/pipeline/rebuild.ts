// `oci-s2i rebuild IMAGE [NEW-TAG]`: the build options of a previous build, read back from its labels
// (io.openshift.s2i.build.image, …source-location, …commit.ref, …commit.id, …source-context-dir).
import { S2IError } from '../errors.js';
import { Annotation } from '../image/annotations.js';
import { parseImageLocation } from '../transport/parse.js';
import { Label } from '../s2i/labels.js';
import { runGit } from '../s2i/git.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, type PullPolicy } from './pull.js';
import { isGitSource, localRepoRoot } from './source.js';

export interface RebuildSpec {
  builder: string;
  source: string;
  ref?: string;
  /** The commit built (…commit.id, else org.opencontainers.image.revision as a Docker image's label). */
  commit?: string;
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
  const commit = labels[Label.commitId] || labels[Annotation.revision];
  const contextDir = labels[Label.sourceContextDir];
  return { builder, source, ...(ref && ref !== 'HEAD' ? { ref } : {}), ...(commit ? { commit } : {}), ...(contextDir ? { contextDir } : {}) };
}

/**
 * The ref a rebuild checks out. A remote repository: the recorded ref (s2i: its branch as it is now). A local
 * repository: the recorded commit, not what its branch or HEAD has moved on to — the build clones the repository
 * into its own directory, so the user's working tree is never touched; a commit the repository lacks (history
 * rewritten, another clone) is ERR_REBUILD_COMMIT (exit 14). A plain directory: none.
 */
export async function rebuildRef(image: string, spec: RebuildSpec): Promise<string | undefined> {
  const repo = await localRepoRoot(spec.source);
  if (repo === undefined || spec.commit === undefined) return spec.ref && (await isGitSource(spec.source)) ? spec.ref : undefined;
  const commit = spec.commit.toLowerCase();
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(commit)) {
    throw new S2IError('ERR_REBUILD_COMMIT', `image ${image} records commit "${spec.commit.slice(0, 80)}", which is not a full commit id: rebuild cannot tell which commit to build; use build instead`, { step: 'source' });
  }
  const present = await runGit(['cat-file', '-e', `${commit}^{commit}`], { cwd: repo }).then(
    () => true,
    () => false,
  );
  if (!present) {
    throw new S2IError('ERR_REBUILD_COMMIT', `commit ${commit.slice(0, 12)} that ${image} was built from is not in the repository ${repo}: fetch it into that repository, or build its current tree with \`oci-s2i build\``, { step: 'source' });
  }
  return commit;
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
