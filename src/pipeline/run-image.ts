// `oci-s2i run`: runs an image rootless for testing (same cache and sandbox as builds, host network),
// the way the S2I guide tests with `podman run -u 1234`. Changes are thrown away afterwards.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { S2IError, ExitCode } from '../errors.js';
import { parseImageLocation } from '../transport/parse.js';
import type { Platform } from '../oci/types.js';
import { detectRuntime, prepareRuntime, runContainer } from '../sandbox/runtime.js';
import { buildRuntimeSpec } from '../sandbox/spec.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { parseEnvFlag, mergeEnvStrings } from '../s2i/environment.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, type PullPolicy } from './pull.js';
import { mountRootfs, resolveUser } from './sandbox-run.js';
import { ensureDirInRoot } from '../sandbox/rootfs.js';
import { Steps } from './steps.js';
import { workingDirOf } from '../oci/image-path.js';

export interface RunImageOptions extends EngineOptions {
  image: string;
  user?: string;
  env?: string[];
  /** Replaces the image's Cmd. */
  command?: string[];
  entrypoint?: string;
  platform?: Platform;
  pullPolicy?: PullPolicy;
  runtime?: string;
  network?: 'host' | 'none';
}

export async function runImage(opts: RunImageOptions): Promise<number> {
  const ref = parseImageLocation(opts.image);
  const detected = detectRuntime(opts.runtime);
  if (!namespaceMode()) throw new S2IError('ERR_NAMESPACE', 'run must run inside the oci-s2i namespace');
  const runtime = prepareRuntime(detected, { explicit: opts.runtime !== undefined, onFallback: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) });
  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    const image = await pullImage(engine, ref, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.pullPolicy ?? 'if-not-present' });
    const lease = await engine.cache.lease(image.layers.map((l) => l.diffID));
    steps.defer('release layer lease', () => lease.release());
    const runs = path.join(engine.root, 'builds');
    await mkdir(runs, { recursive: true });
    const dir = await mkdtemp(path.join(runs, 'r-'));
    steps.defer('remove run dir', () => rm(dir, { recursive: true, force: true }));
    const rootfs = await mountRootfs(steps, dir, image.layers.map((l) => l.dir));
    const cfg = image.config.config ?? {};
    const user = await resolveUser(rootfs.merged, opts.user ?? cfg.User);
    const entrypoint = opts.entrypoint !== undefined ? (opts.entrypoint ? [opts.entrypoint] : []) : (cfg.Entrypoint ?? []);
    const cmd = opts.command && opts.command.length > 0 ? opts.command : (cfg.Cmd ?? []);
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) throw new S2IError('ERR_NO_COMMAND', `image ${opts.image} has no Entrypoint or Cmd: give a command after the image`);
    const env = mergeEnvStrings(cfg.Env ?? [], (opts.env ?? []).map(parseEnvFlag));
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const cwd = workingDirOf(image.config, opts.image);
    await ensureDirInRoot(rootfs.merged, cwd);
    const spec = buildRuntimeSpec({
      rootfs: rootfs.merged,
      process: { args, env, cwd, uid: user.uid, gid: user.gid, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
      network: opts.network ?? 'host',
      restricted: namespaceMode() === 'userns-single',
    });
    const result = await runContainer({
      runtime,
      bundleDir: path.join(dir, 'bundle'),
      storeRoot: engine.root,
      spec,
      id: `oci-s2i-run-${path.basename(dir)}`,
      signal: engine.signal,
      inheritStdio: true,
    });
    if (engine.signal.aborted) return ExitCode.interrupted;
    return result.exitCode;
  } finally {
    await steps.cleanup();
  }
}
