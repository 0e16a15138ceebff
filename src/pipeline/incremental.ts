// Incremental builds (S2I-CONTRACT.md "Incremental"): run save-artifacts in the PREVIOUS image, its stdout
// captured as a tar stream into a size-capped file. Every failure is a warning and means a clean build.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import type { Platform } from '../oci/types.js';
import type { ImageLocation } from '../transport/parse.js';
import type { Runtime } from '../sandbox/runtime.js';
import { fileInRoot } from '../sandbox/rootfs.js';
import { materializeScripts, scriptPathInImage, type ScriptSource } from '../s2i/scripts.js';
import { destinationPaths } from '../s2i/destination.js';
import type { Engine } from './context.js';
import { pullImage, locationName, type PullPolicy } from './pull.js';
import { builderRootfs } from './copied-rootfs.js';
import type { Isolation } from './options.js';
import { resolveUser, runScript, copyIntoRoot } from './sandbox-run.js';
import { singleIdUser } from './single-id.js';
import type { Steps } from './steps.js';
import { workingDirOf } from '../oci/image-path.js';

export interface SaveArtifactsInput {
  engine: Engine;
  steps: Steps;
  runtime: Runtime;
  /** Scratch directory (inside the build dir). */
  workDir: string;
  previous: ImageLocation;
  policy: PullPolicy;
  platform?: Platform;
  script: ScriptSource;
  destination: string;
  /** USER spec save-artifacts runs as (the assemble user), resolved in the previous image. */
  user: string;
  env: string[];
  network: 'host' | 'none';
  capDrop: string[];
  restricted: boolean;
  /** --isolation: with `auto`, a copied rootfs where overlay cannot be mounted (copied-rootfs.ts). */
  isolation?: Isolation;
  /** Cap on the tar output; default 8 GiB. */
  maxBytes?: number;
}

export const defaultArtifactsMaxBytes = 8 * 1024 ** 3;

function warn(engine: Engine, message: string): undefined {
  engine.onProgress({ type: 'log', level: 'warn', message });
  return undefined;
}

/** Returns the host path of the save-artifacts tar, or undefined for a clean build (reason reported). */
export async function saveArtifacts(input: SaveArtifactsInput): Promise<string | undefined> {
  const { engine, steps } = input;
  const name = locationName(input.previous);
  let prev;
  try {
    prev = await pullImage(engine, input.previous, { policy: input.policy, ...(input.platform ? { platform: input.platform } : {}) });
  } catch (e) {
    if (engine.signal.aborted) throw e;
    // A policy that cannot be applied fails the build; a previous image it refuses is not used (its save-artifacts never runs).
    if (e instanceof S2IError && e.code === 'ERR_POLICY_INVALID') throw e;
    if (e instanceof S2IError && e.code === 'ERR_POLICY_REJECTED') return warn(engine, `previous image not used: ${e.message.split('\n')[0]}: clean build`);
    engine.onProgress({ type: 'log', level: 'info', message: `no previous image ${name} (${(e as Error).message.split('\n')[0]}): clean build` });
    return undefined;
  }
  const lease = await engine.cache.lease(prev.layers.map((l) => l.diffID));
  steps.defer('release previous image lease', () => lease.release());
  await mkdir(input.workDir, { recursive: true });
  const rootfs = await builderRootfs(steps, input.workDir, prev.layers.map((l) => l.dir), { isolation: input.isolation, onWarning: (m) => warn(engine, m) });
  try {
    const scriptPath = scriptPathInImage('save-artifacts', input.script, input.destination);
    // In a single-ID namespace only 0 exists: save-artifacts (which only reads) runs as 0.
    const resolved = await resolveUser(rootfs.merged, input.user);
    const user = singleIdUser(resolved, input.restricted)?.runAs ?? resolved;
    if (input.script.kind === 'image') {
      if (!(await fileInRoot(rootfs.merged, scriptPath))) return warn(engine, `previous image ${name} has no ${scriptPath}: clean build`);
    } else {
      const staging = path.join(input.workDir, 'scripts');
      await materializeScripts(new Map([['save-artifacts', input.script]]), staging);
      await copyIntoRoot(rootfs.merged, staging, destinationPaths(input.destination).scripts, { uid: user.uid, gid: 0 });
    }
    const tarFile = path.join(input.workDir, 'artifacts.tar');
    const max = input.maxBytes ?? defaultArtifactsMaxBytes;
    let total = 0;
    // Past the cap the bytes are dropped, not refused: the process must never block on a full pipe.
    const cap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        total += chunk.length;
        cb(null, total > max ? undefined : chunk);
      },
    });
    const file = createWriteStream(tarFile);
    cap.pipe(file);
    const written = finished(file);
    const result = await runScript({
      runtime: input.runtime,
      rootfs: rootfs.merged,
      bundleDir: path.join(input.workDir, 'bundle'),
      storeRoot: engine.root,
      id: `oci-s2i-save-${path.basename(path.dirname(input.workDir))}`,
      args: [scriptPath],
      env: input.env,
      cwd: workingDirOf(prev.config, 'the previous image'),
      user,
      network: input.network,
      capDrop: input.capDrop,
      signal: engine.signal,
      onProgress: engine.onProgress,
      stdoutSink: cap,
      restricted: input.restricted,
    });
    if (!cap.writableEnded) cap.end();
    await written;
    if (engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
    if (result.exitCode !== 0) {
      const last = result.tail.filter((l) => l.trim()).slice(-3).join(' | ');
      return warn(engine, `save-artifacts in ${name} exited with code ${result.exitCode}${last ? ` (${last})` : ''}: clean build`);
    }
    if (total > max) return warn(engine, `save-artifacts output is larger than ${max} bytes: clean build`);
    return tarFile;
  } finally {
    await rootfs.unmount();
  }
}
