// `oci-s2i build`: source + builder → pushed application image, in four parts with typed hand-offs:
// prepare.ts (runtime, source, pull, plan, mounts, scripts) → assemble.ts (incremental restore, inject source,
// assemble) → commit.ts (layer or runtime stage, convert builder layers, config + manifest, importer check) →
// push.ts; then the callback. Builder and result may be in any transport (transport/parse.ts). The options are
// typed (options.ts): the CLI parsed the flags.
import { postCallback } from '../s2i/callback.js';
import { writeOutputFile } from '../sys/output-file.js';
import type { LayerResult } from '../layer/write.js';
import type { AttachResult } from '../attest/attach.js';
import { assembleBuild } from './assemble.js';
import { commitBuild, sourceFacts } from './commit.js';
import { buildInImage } from './in-image.js';
import { openEngine } from './context.js';
import type { BuildOptions } from './options.js';
import type { Engine } from './context.js';
import { prepareBuild, sandboxFor, type OnBuildHandOff, type Sandbox } from './prepare.js';
import { preparePush, pushTargetOf, type PushStats } from './push.js';
import { publishBuild } from './publish.js';
import { Steps } from './steps.js';

export interface BuildResult {
  /** The name the result is stored under; undefined: unnamed (no TAG). */
  reference: string | undefined;
  digest: string;
  /** The image ID: the config digest (`sha256:<hex>`), as podman and docker name a local image. */
  imageId: string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  /** The new layer (s2i's onbuild strategy: the last one its instructions made; absent when they made none). */
  layer?: LayerResult;
  labels: Record<string, string>;
  timings: Record<string, number>;
  /** The OCI runtime assemble ran with (`--runtime`, or the default for this host: sandbox/runtime.ts). */
  runtime: string;
  push?: PushStats;
  /** Artifacts from the previous image were restored. */
  incremental: boolean;
  /** --save-temp-dir: the kept build directory. */
  tempDir?: string;
  /** The provenance and SBOM attached to the pushed image (attest/attach.ts), when any was. */
  attached?: AttachResult;
}

/** s2i's onbuild strategy (containerfile/onbuild.ts): builds the hand-off, pushes as build does, says what it made. */
export type OnBuildStrategy = (engine: Engine, steps: Steps, sandbox: Sandbox, opts: BuildOptions, handOff: OnBuildHandOff) => Promise<BuildResult>;

export async function build(opts: BuildOptions): Promise<BuildResult> {
  if (!opts.callbackUrl) return buildImage(opts);
  try {
    const r = await buildImage(opts);
    await postCallback(opts.callbackUrl, { success: true, labels: r.labels }, opts.onProgress ? { onProgress: opts.onProgress } : {});
    return r;
  } catch (e) {
    await postCallback(opts.callbackUrl, { success: false, labels: {} }, opts.onProgress ? { onProgress: opts.onProgress } : {});
    throw e;
  }
}

async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  if (opts.isolation === 'in-image') return await buildInImage(opts);
  const startedOn = new Date().toISOString();
  const sandbox = sandboxFor(opts.runtime, opts.onProgress);
  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    // The destination is checked and made ready for the push while the source and the builder are fetched (a
    // registry: reachable, a push token, the upload sessions of the new layer and the config); a destination that
    // cannot be written fails the build before assemble runs, and a ready one costs it no wait.
    const pushTo = pushTargetOf(opts);
    const ready = pushTo ? preparePush(engine, pushTo) : undefined;
    const prepared = await prepareBuild(engine, steps, opts);
    if (ready) await steps.run('check destination', () => ready);
    if (prepared.kind === 'onbuild') return await opts.onBuildStrategy!(engine, steps, sandbox, opts, prepared);
    const assembled = await assembleBuild(engine, steps, sandbox, opts, prepared);
    const committed = await commitBuild(engine, steps, sandbox, opts, prepared, assembled);
    let push: PushStats | undefined;
    let attached: AttachResult | undefined;
    if (pushTo) {
      const { base } = committed;
      ({ push, attached } = await publishBuild(
        engine,
        steps,
        opts,
        pushTo,
        {
          manifest: committed.manifest,
          blobs: committed.blobs,
          ...(base.source ? { source: base.source } : {}),
          sourceBlobs: new Set(base.manifest.layers.map((l) => l.digest)),
        },
        {
          subject: committed.manifest.descriptor,
          created: committed.created,
          builder: prepared.builder,
          ...(opts.runtimeImage ? { runtimeImage: base } : {}),
          source: sourceFacts(prepared.source),
          startedOn,
          internal: { runtime: sandbox.runtime.name, rootfs: prepared.rootfs.kind },
          sbom: committed.sbom,
        },
      ));
    }
    return {
      reference: prepared.targetName,
      digest: committed.manifest.digest,
      imageId: committed.imageId,
      manifest: committed.manifest,
      layer: committed.layer,
      labels: committed.labels,
      timings: steps.timings,
      runtime: sandbox.runtime.name,
      incremental: assembled.incremental,
      ...(push ? { push } : {}),
      ...(attached ? { attached } : {}),
      ...(opts.saveTempDir ? { tempDir: prepared.buildDir } : {}),
    };
  } finally {
    await steps.cleanup();
  }
}

/** --digestfile: the digest alone, no newline (as skopeo and podman write it). */
export async function writeDigestFile(file: string, digest: string): Promise<void> {
  await writeOutputFile(file, digest, '--digestfile');
}
