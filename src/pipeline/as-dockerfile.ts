// `build --as-dockerfile PATH`: instead of building, write a Containerfile + context for buildah/podman.
// Only the builder's manifest and config are fetched (labels, USER, Env); no layer, no sandbox, no namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { formatReference, type Reference } from '../oci/reference.js';
import { buildEnvironment } from '../s2i/environment.js';
import { resolveScripts, type ScriptName } from '../s2i/scripts.js';
import { planFlags, planS2I, outputLabels } from '../s2i/plan.js';
import { makeSourceFilter } from '../s2i/ignore.js';
import { writeAsDockerfile } from '../s2i/as-dockerfile.js';
import { makeDirs } from '../sys/make-dirs.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage } from './pull.js';
import { prepareSource } from './source.js';
import type { BuildOptions } from './options.js';

type Shared = 'source' | 'ref' | 'contextDir' | 'platform' | 'pullPolicy' | 'env' | 'envFiles' | 'scriptsUrl' | 'imageScriptsUrl' | 'copy' | 'submodules' | 'destination' | 'assembleUser' | 'allowedUids' | 'labels' | 'applicationName' | 'description' | 'exclude' | 'keepSymlinks';

export interface AsDockerfileOptions extends EngineOptions, Pick<BuildOptions, Shared> {
  /** Path of the Containerfile to write; its directory becomes the build context. */
  asDockerfile: string;
  /** A registry image: the Containerfile's FROM. */
  builder: Reference;
  /** The TAG as written, if any. */
  tag?: string;
  /** --incremental: save-artifacts is looked for, and the previous image (`--incremental-from`, else TAG) as written. */
  incremental?: { previousImage?: string };
}

export interface AsDockerfileResult {
  containerfile: string;
  files: number;
  bytes: number;
}

export async function writeBuildAsDockerfile(opts: AsDockerfileOptions): Promise<AsDockerfileResult> {
  const builderRef = opts.builder;
  const engine = await openEngine(opts);
  const work = await mkdtemp(path.join(engine.root, 'as-dockerfile-'));
  try {
    const source = await prepareSource({ source: opts.source, ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}), submodules: opts.submodules !== false, copy: opts.copy === true, onWarning: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) }, work);
    const builder = await pullImage(engine, builderRef, { metadataOnly: true, policy: opts.pullPolicy, ...(opts.platform ? { platform: opts.platform } : {}) });
    const cfg = builder.config.config ?? {};
    const labels = cfg.Labels ?? {};
    const env = await buildEnvironment({ sourceDir: source.dir, env: opts.env, envFiles: opts.envFiles });
    // The same plan as a build's (s2i/plan.ts): allowed-UIDs verdict, destination, users, added labels.
    const plan = planS2I(
      { labels, env: cfg.Env ?? [], user: cfg.User },
      {
        builderName: formatReference(builderRef),
        tag: opts.tag,
        source,
        ...planFlags(opts),
        env,
      },
    );
    const optional: ScriptName[] = opts.incremental ? ['save-artifacts'] : [];
    const scripts = await resolveScripts({ ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}), ...(opts.imageScriptsUrl ? { imageScriptsUrl: opts.imageScriptsUrl } : {}), sourceDir: source.dir, imageLabels: labels, imageEnv: cfg.Env ?? [], needed: ['assemble', 'run'], optional });
    const containerfile = path.resolve(opts.asDockerfile);
    await makeDirs(path.dirname(containerfile)); // bounded: Node's recursive mkdir spins under /proc
    const previous = opts.incremental?.previousImage;
    const r = await writeAsDockerfile({
      containerfile,
      builderImage: formatReference(builderRef),
      destination: plan.destination,
      assembleUser: plan.assembleUser,
      imageUser: plan.imageUser,
      labels: outputLabels(plan, {}),
      env,
      scripts,
      ...(previous ? { incremental: { previousImage: previous } } : {}),
      sourceDir: source.dir,
      filter: await makeSourceFilter(source.dir, opts.exclude),
      keepSymlinks: opts.keepSymlinks ?? false,
    });
    return { containerfile, files: r.files, bytes: r.bytes };
  } finally {
    await rm(work, { recursive: true, force: true });
    await engine.close();
  }
}
