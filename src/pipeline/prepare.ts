// Prepare, the first part of a build: everything decided or fetched before anything runs in the builder. The OCI
// runtime (and the namespace check), the build dir, the source, the builder pulled and its layers leased, the
// S2I plan (s2i/plan.ts), the sandbox mounts, the rootfs mounted, the scripts found and assemble's user.
import { mkdtemp, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { ProgressEvent, ProgressSink } from '../events.js';
import { workingDirOf } from '../oci/image-path.js';
import { detectRuntime, prepareRuntime, type Runtime } from '../sandbox/runtime.js';
import { namespaceMode, type NamespaceMode } from '../sandbox/namespace.js';
import { fileInRoot } from '../sandbox/rootfs.js';
import type { Mount } from '../sandbox/spec.js';
import { buildEnvironment, type EnvList } from '../s2i/environment.js';
import { onBuildTriggers } from '../s2i/onbuild.js';
import { onBuildWarning, planFlags, planS2I, type S2IPlan } from '../s2i/plan.js';
import { resolveScripts, type ScriptName, type ScriptSource } from '../s2i/scripts.js';
import type { ResolvedUser } from '../s2i/user.js';
import type { Engine } from './context.js';
import { injectionsUnder, type Injection } from './injections.js';
import { bindMounts, writeHostsFile } from './mounts.js';
import type { BuildOptions } from './options.js';
import { pullImage, locationName, resultNameOf, type PulledImage } from './pull.js';
import { removeTreeNow } from './remove.js';
import { builderRootfs } from './copied-rootfs.js';
import { resolveUser, type Rootfs } from './sandbox-run.js';
import { singleIdUser, singleIdWarning } from './single-id.js';
import { prepareSource, type PreparedSource } from './source.js';
import type { Steps } from './steps.js';

/** How scripts run: the OCI runtime, and whether the namespace is a single-ID user namespace. */
export interface Sandbox {
  runtime: Runtime;
  restricted: boolean;
}

/** The runtime assemble runs with; refuses to go on outside the oci-s2i namespace (before the engine opens). */
export function sandboxFor(choice: string | undefined, onProgress: ProgressSink | undefined): Sandbox {
  const detected = detectRuntime(choice);
  if (!namespaceMode()) {
    throw new S2IError('ERR_NAMESPACE', 'build must run inside the oci-s2i namespace (use the oci-s2i CLI, or reexecInNamespace)');
  }
  const runtime = prepareRuntime(detected, { explicit: choice !== undefined, onFallback: (message) => onProgress?.({ type: 'log', level: 'warn', message }) });
  return { runtime, restricted: namespaceMode() === 'userns-single' };
}

/** The build dir's scratch trees (upper and work dirs) once removed in the background; the dir waits for it. */
export interface Scratch {
  removal?: Promise<void>;
}

export interface Prepared {
  kind: 's2i';
  /** The build's own directory under `<root>/builds` (removed at the end unless --save-temp-dir). */
  buildDir: string;
  scratch: Scratch;
  source: PreparedSource;
  /** .s2i/environment, -e, -E: kept in the image. */
  env: EnvList;
  builder: PulledImage;
  /** The builder and the result as the user named them (labels, messages, the local tag). */
  builderName: string;
  /** The name the result is stored under; undefined: unnamed (a build without a TAG). */
  targetName: string | undefined;
  plan: S2IPlan;
  /** The builder's WORKDIR (assemble's cwd). */
  workdir: string;
  /** -v binds, relative destinations under WORKDIR. */
  mounts: Mount[];
  /** --inject, destinations absolute (relative and empty ones under WORKDIR). */
  injections: Injection[];
  hostsFile?: string;
  rootfs: Rootfs;
  scripts: Map<ScriptName, ScriptSource>;
  /** The user assemble runs as, resolved in the builder's rootfs (0:0 in a single-ID namespace: single-id.ts). */
  user: ResolvedUser;
  /** Single-ID namespace with a USER other than 0: the owner the layer records for what the build created. */
  recordOwner?: { uid: number; gid: number };
}

/**
 * A builder with ONBUILD triggers, built by s2i's onbuild strategy (BuildOptions.onBuildStrategy): what prepare
 * decided before it would mount the builder and look for its scripts, which that strategy does its own way.
 */
export interface OnBuildHandOff {
  kind: 'onbuild';
  buildDir: string;
  source: PreparedSource;
  env: EnvList;
  builder: PulledImage;
  builderName: string;
  /** undefined: no TAG (the strategy refuses it). */
  targetName: string | undefined;
  plan: S2IPlan;
  triggers: string[];
}

export async function prepareBuild(engine: Engine, steps: Steps, opts: BuildOptions): Promise<Prepared | OnBuildHandOff> {
  const buildsDir = path.join(engine.root, 'builds');
  await mkdir(buildsDir, { recursive: true });
  const buildDir = await realpath(await mkdtemp(path.join(buildsDir, 'b-')));
  // Started early (after the layer is written) for a big upper dir; the rest goes at the end.
  const scratch: Scratch = {};
  if (!opts.saveTempDir) {
    steps.defer('remove build dir', async () => {
      await scratch.removal;
      removeTreeNow(buildDir);
    });
  } else engine.onProgress({ type: 'temp-dir', path: buildDir });

  const source = await steps.run('source', () =>
    prepareSource({ source: opts.source, ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}), submodules: opts.submodules !== false, copy: opts.copy === true, onWarning: (message) => engine.onProgress({ type: 'log', level: 'warn', message }) }, buildDir),
  );
  const env = await buildEnvironment({ sourceDir: source.dir, env: opts.env, envFiles: opts.envFiles });

  const builder = await steps.run('pull', () => pullImage(engine, opts.builder, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.pullPolicy }));
  const lease = await engine.cache.lease(builder.layers.map((l) => l.diffID));
  steps.defer('release layer lease', () => lease.release());
  const imgConfig = builder.config.config ?? {};
  const imageLabels = imgConfig.Labels ?? {};
  const imageEnv = imgConfig.Env ?? [];
  const workdir = workingDirOf(builder.config, 'the builder image');
  const builderName = opts.builderName ?? locationName(opts.builder);
  const targetName = resultNameOf(opts.target);
  const triggers = onBuildTriggers(imgConfig);

  // What the build does with this builder, decided from its config and the options (s2i/plan.ts): the allowed
  // UIDs verdict (exit 15), destination, users, environments and the labels it adds.
  const plan = planS2I(
    { labels: imageLabels, env: imageEnv, user: imgConfig.User, onBuild: triggers },
    {
      builderName,
      ...(targetName !== undefined ? { tag: targetName } : {}),
      source,
      ...planFlags(opts),
      env,
      buildEnv: opts.buildEnv,
    },
  );
  const mounts = bindMounts(opts.binds, workdir);
  const injections = injectionsUnder(opts.injections, workdir || '/');
  const hostsFile = opts.addHosts.length > 0 ? await writeHostsFile(path.join(buildDir, 'hosts'), opts.addHosts) : undefined;

  const warn = (message: string) => engine.onProgress({ type: 'log', level: 'warn', message });
  if (triggers.length > 0 && opts.onBuildStrategy && !opts.blockOnBuild) {
    return { kind: 'onbuild', buildDir, source, env, builder, builderName, targetName, plan, triggers };
  }
  const onBuild = onBuildWarning(imgConfig, builderName, opts.blockOnBuild ? '--block-onbuild' : 'no onbuild strategy given');
  if (onBuild) warn(onBuild);
  const rootfs = await steps.run('mount', () => builderRootfs(steps, buildDir, builder.layers.map((l) => l.dir), { isolation: opts.isolation, onWarning: warn }));
  const needed: ScriptName[] = opts.runtimeImage ? ['assemble'] : ['assemble', 'run'];
  const scripts = await steps.run('scripts', () =>
    resolveScripts({
      ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
      ...(opts.imageScriptsUrl ? { imageScriptsUrl: opts.imageScriptsUrl } : {}),
      sourceDir: source.dir,
      imageLabels,
      imageEnv,
      needed,
      optional: opts.incremental ? ['save-artifacts'] : [],
      probeImage: async (p) => (await fileInRoot(rootfs.merged, p)) !== undefined,
    }),
  );
  const resolved = await resolveUser(rootfs.merged, plan.assembleUser);
  const single = singleIdUser(resolved, namespaceMode() === 'userns-single');
  if (single) warn(singleIdWarning(single));
  const user = single?.runAs ?? resolved;
  engine.onProgress(isolationEvent(namespaceMode(), rootfs.kind));
  return { kind: 's2i', buildDir, scratch, source, env, builder, builderName, targetName, plan, workdir, mounts, injections, ...(hostsFile ? { hostsFile } : {}), rootfs, scripts, user, ...(single ? { recordOwner: single.recordAs } : {}) };
}

const NAMESPACE_SHOWN: Record<NamespaceMode, string> = {
  root: 'root, private mount namespace',
  'userns-root': 'root without CAP_SYS_ADMIN, user namespace mapping every ID',
  userns: 'rootless, user namespace with the subordinate IDs',
  'userns-single': 'rootless, single-ID user namespace',
};

/** The one line that says where assemble runs (`--isolation auto` picks it: copied-rootfs.ts, namespace.ts). */
function isolationEvent(mode: NamespaceMode | undefined, rootfs: Rootfs['kind']): ProgressEvent {
  const m = mode ?? 'root';
  return { type: 'isolation', path: `sandbox/${m}/${rootfs}`, message: `isolation: sandbox (${NAMESPACE_SHOWN[m]}, ${rootfs === 'copy' ? 'copied rootfs' : 'overlay rootfs'})` };
}
