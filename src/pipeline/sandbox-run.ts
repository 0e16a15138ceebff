// Runs one S2I script in the builder's rootfs: overlay (cached layers + fresh upper), source and scripts placed
// under the destination, the process run by the OCI runtime as the given user. The caller owns `buildDir`.
import { fchownSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { mountOverlay, unmount } from '../sandbox/overlay.js';
import { buildRuntimeSpec, type Mount } from '../sandbox/spec.js';
import { runContainer, type Runtime, type RunResult } from '../sandbox/runtime.js';
import { underSeccompFilter } from '../sandbox/caps.js';
import { refusalInOutput } from '../sandbox/sandbox-error.js';
import { ensureDirInRoot, fileInRoot, readFileInRoot, withDirInRoot } from '../sandbox/rootfs.js';
import { InRoot, copyTreeInto } from '../sys/in-root.js';
import { resolveUserSpec, type ResolvedUser } from '../s2i/user.js';
import type { Steps } from './steps.js';

export interface Rootfs {
  /** `overlay`: the cached layers as lower dirs, the new layer is the upper dir. `copy`: the layers copied into a
   *  plain directory (copied-rootfs.ts), the new layer is the diff against `before`. */
  kind: 'overlay' | 'copy';
  merged: string;
  upper: string;
  /** Unmounts the overlay (idempotent; also registered as a cleanup step). */
  unmount(): Promise<void>;
  /** Where a path under `merged` lives in the upper dir (it is there only once the overlay copied it up). */
  upperPath(mergedPath: string): string;
  /**
   * Runs `fn` with the overlay unmounted, so that it can write straight into the upper dir, then mounts it again
   * (with a fresh work dir: a volatile mount's old one refuses a second mount). Kernel overlayfs makes every
   * file created through the merged view several times slower: `cp -a` of 5,001 small files took 1.0-2.1 s
   * into the merged dir and 0.3-0.5 s into a plain one. Writing under a lower dir's path this way would
   * change what the image's files look like; callers only write into directories that are new in this build.
   */
  withUpper<T>(fn: () => Promise<T>): Promise<T>;
  /** The upper dir and the work dirs: what the mounts wrote, removable once the overlay is unmounted. */
  scratchDirs(): string[];
}

export async function mountRootfs(steps: Steps, buildDir: string, lowers: string[]): Promise<Rootfs> {
  const dirs = {
    lowers,
    upper: path.join(buildDir, 'upper'),
    work: path.join(buildDir, 'work'),
    merged: path.join(buildDir, 'merged'),
  };
  await mountOverlay(dirs);
  let mounted = true;
  let mounts = 1;
  const scratch = [dirs.upper, dirs.work];
  const doUnmount = async () => {
    if (!mounted) return;
    mounted = false;
    unmount(dirs.merged);
  };
  steps.defer('unmount rootfs', doUnmount);
  return {
    kind: 'overlay',
    merged: dirs.merged,
    upper: dirs.upper,
    unmount: doUnmount,
    upperPath: (p) => path.join(dirs.upper, path.relative(dirs.merged, p)),
    scratchDirs: () => [...scratch],
    async withUpper(fn) {
      if (!mounted) return await fn();
      await doUnmount();
      try {
        return await fn();
      } finally {
        dirs.work = path.join(buildDir, `work${++mounts}`);
        scratch.push(dirs.work);
        await mountOverlay(dirs);
        mounted = true;
      }
    },
  };
}

export async function resolveUser(rootfs: string, user: string | undefined): Promise<ResolvedUser> {
  const passwd = (await readFileInRoot(rootfs, '/etc/passwd'))?.toString('utf8');
  const group = (await readFileInRoot(rootfs, '/etc/group'))?.toString('utf8');
  return resolveUserSpec(user && user.length > 0 ? user : '0', passwd, group);
}

export interface ScriptRunInput {
  runtime: Runtime;
  rootfs: string;
  bundleDir: string;
  /** The engine's store: the runtime's state is kept (and reaped) there. */
  storeRoot?: string;
  id: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  network?: 'host' | 'none';
  mounts?: Mount[];
  capDrop?: string[];
  signal?: AbortSignal;
  onProgress: ProgressSink;
  stdoutSink?: NodeJS.WritableStream;
  restricted?: boolean;
  /** --add-host: a generated hosts file bound at /etc/hosts. */
  hostsFile?: string;
}

/** Mount destinations the runtime creates in the rootfs when missing; they must not end up in the layer. */
const RUNTIME_MOUNT_POINTS = ['/proc', '/dev', '/sys', '/etc/resolv.conf', '/etc/hosts'];

export async function runScript(input: ScriptRunInput): Promise<RunResult> {
  const created = new Set<string>();
  const destinations = [...RUNTIME_MOUNT_POINTS, ...(input.mounts ?? []).map((m) => m.destination)];
  // The runtime creates a missing mount point AND its missing parents; all of them must go again so that
  // nothing of an injection (not even an empty directory) reaches the layer.
  for (const d of destinations) for (const p of await missingChain(input.rootfs, d)) created.add(p);
  // runc would create a missing cwd following symlinks on its own terms; create it in-root first.
  await ensureDirInRoot(input.rootfs, input.cwd);
  const spec = buildRuntimeSpec({
    rootfs: input.rootfs,
    process: { args: input.args, env: input.env, cwd: input.cwd, uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids ? { additionalGids: input.user.additionalGids } : {}) },
    network: input.network ?? 'host',
    mounts: input.mounts ?? [],
    capDrop: input.capDrop ?? [],
    restricted: input.restricted ?? false,
    // Under a pod's seccomp filter sethostname is refused: the container keeps the pod's name (caps.ts).
    ...(underSeccompFilter() ? { hostname: null } : {}),
    ...(input.hostsFile ? { hostsFile: input.hostsFile } : {}),
  });
  try {
    return await runContainer({
      runtime: input.runtime,
      bundleDir: input.bundleDir,
      ...(input.storeRoot ? { storeRoot: input.storeRoot } : {}),
      spec,
      id: input.id,
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.stdoutSink ? { stdoutSink: input.stdoutSink } : {}),
      onOutput: (stream, data) => input.onProgress({ type: 'output', stream, data }),
    });
  } finally {
    // Deepest first, so a created /etc/hosts goes before a created /etc would.
    for (const d of [...created].sort((a, b) => b.length - a.length)) removeCreated(input.rootfs, d);
  }
}

/** The prefixes of containerPath that do not exist in the rootfs yet (shallowest first). */
async function missingChain(rootfs: string, containerPath: string): Promise<string[]> {
  const comps = containerPath.split('/').filter((c) => c !== '' && c !== '.');
  const out: string[] = [];
  for (let i = 1; i <= comps.length; i++) {
    const p = '/' + comps.slice(0, i).join('/');
    if (out.length > 0 || !(await fileInRoot(rootfs, p))) out.push(p);
  }
  return out;
}

function removeCreated(rootfs: string, containerPath: string): void {
  try {
    InRoot.with(rootfs, (root) => root.removeIfEmpty(containerPath));
  } catch {
    /* best effort: a mount point that is still busy stays */
  }
}

/**
 * Copies the contents of a host staging directory (made by this process) into the rootfs at containerDir, through
 * descriptors: the directory is created in-root, and a symlink of the image at any entry written is replaced, never
 * followed (issue 16). `last`: 'replace' (default, for the trees the build creates: scripts) also replaces a
 * symlink at containerDir itself; 'follow' resolves it in-root (the runtime image's own WORKDIR may be a link).
 * `owner` is given to everything copied and to containerDir.
 */
export async function copyIntoRoot(
  rootfs: string,
  hostSrc: string,
  containerDir: string,
  owner?: { uid: number; gid: number },
  last: 'replace' | 'follow' = 'replace',
): Promise<void> {
  await withDirInRoot(rootfs, containerDir, last, (fd) => {
    copyTreeInto(hostSrc, fd, owner);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
  });
}

export function assembleFailed(result: RunResult, script: string): S2IError {
  // The container never ran the script: the sandbox failed (exit 13 and what to do), not the build.
  const refused = result.signal ? undefined : refusalInOutput(result.tail);
  if (refused) return refused;
  const last = result.tail.filter((l) => l.trim() !== '').slice(-5).join(' | ');
  const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
  return new S2IError('ERR_ASSEMBLE_FAILED', `${script} ${how}${last ? `; last output: ${last}` : ''}; fix the build or run with --loglevel 2 to see all output`);
}
