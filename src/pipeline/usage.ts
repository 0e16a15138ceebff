// `oci-s2i usage BUILDER`: run only the builder's `usage` script (S2I-CONTRACT.md commands) and hand its
// stdout to the caller. Nothing is committed; the overlay's upper dir is thrown away.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError, ExitCode } from '../errors.js';
import { parseImageLocation } from '../transport/parse.js';
import type { Platform } from '../oci/types.js';
import { detectRuntime, prepareRuntime } from '../sandbox/runtime.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { fileInRoot } from '../sandbox/rootfs.js';
import { resolveScripts, materializeScripts, scriptPathInImage } from '../s2i/scripts.js';
import { resolveDestination, assembleUser as pickAssembleUser, destinationPaths } from '../s2i/destination.js';
import { parseEnvFlag, mergeEnvStrings } from '../s2i/environment.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, type PullPolicy } from './pull.js';
import { mountRootfs, resolveUser, runScript, copyIntoRoot } from './sandbox-run.js';
import { Steps } from './steps.js';
import { workingDirOf } from '../oci/image-path.js';

export interface UsageOptions extends EngineOptions {
  builder: string;
  scriptsUrl?: string;
  destination?: string;
  assembleUser?: string;
  env?: string[];
  platform?: Platform;
  pullPolicy?: PullPolicy;
  runtime?: string;
  /** Receives the script's stdout. */
  stdout: NodeJS.WritableStream;
}

/** Resolves with the usage script's exit code. A builder without `usage` is ERR_SCRIPT_MISSING (exit 11). */
export async function runUsage(opts: UsageOptions): Promise<number> {
  const ref = parseImageLocation(opts.builder);
  const detected = detectRuntime(opts.runtime);
  if (!namespaceMode()) throw new S2IError('ERR_NAMESPACE', 'usage must run inside the oci-s2i namespace');
  const runtime = prepareRuntime(detected, { explicit: opts.runtime !== undefined, onFallback: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) });
  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    const image = await steps.run('pull', () => pullImage(engine, ref, { policy: opts.pullPolicy ?? 'if-not-present', ...(opts.platform ? { platform: opts.platform } : {}) }));
    const lease = await engine.cache.lease(image.layers.map((l) => l.diffID));
    steps.defer('release layer lease', () => lease.release());
    const runs = path.join(engine.root, 'builds');
    await mkdir(runs, { recursive: true });
    const dir = await mkdtemp(path.join(runs, 'u-'));
    steps.defer('remove usage dir', () => rm(dir, { recursive: true, force: true }));
    const rootfs = await mountRootfs(steps, dir, image.layers.map((l) => l.dir));
    const cfg = image.config.config ?? {};
    const labels = cfg.Labels ?? {};
    // No application source: an empty directory stands in for it, so `.s2i/bin` plays no part.
    const scripts = await resolveScripts({
      ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
      sourceDir: path.join(os.tmpdir(), 'oci-s2i-no-source'),
      imageLabels: labels,
      imageEnv: cfg.Env ?? [],
      needed: ['usage'],
      optional: [],
      probeImage: async (p) => (await fileInRoot(rootfs.merged, p)) !== undefined,
    });
    const destination = resolveDestination(opts.destination, labels);
    const user = await resolveUser(rootfs.merged, pickAssembleUser(opts.assembleUser, labels, cfg.User));
    const staging = path.join(dir, 'scripts');
    if ((await materializeScripts(scripts, staging)).length > 0) {
      await copyIntoRoot(rootfs.merged, staging, destinationPaths(destination).scripts, { uid: user.uid, gid: 0 });
    }
    const env = mergeEnvStrings(cfg.Env ?? [], (opts.env ?? []).map(parseEnvFlag));
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const result = await runScript({
      runtime,
      rootfs: rootfs.merged,
      bundleDir: path.join(dir, 'bundle'),
      storeRoot: engine.root,
      id: `oci-s2i-usage-${path.basename(dir)}`,
      args: [scriptPathInImage('usage', scripts.get('usage')!, destination)],
      env,
      cwd: workingDirOf(image.config, 'the builder image'),
      user,
      signal: engine.signal,
      onProgress: (e) => {
        if (e.type === 'output' && e.stream === 'stdout') opts.stdout.write(e.data);
        else engine.onProgress(e);
      },
      restricted: namespaceMode() === 'userns-single',
    });
    if (engine.signal.aborted) return ExitCode.interrupted;
    return result.exitCode;
  } finally {
    await steps.cleanup();
  }
}
