// OCI runtime detection (runc, crun) and running one container from a generated spec, so that the container
// ends with this process whatever ends it (kill -9 included): see lifetimeWrapper.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { createContainerState, killAndDeleteContainers, reapDeadContainers } from '../store/container-state.js';
import { native, MNT_DETACH } from '../sys/native.js';
import { diesWithParent, which } from '../sys/child-lifetime.js';

export interface Runtime {
  name: 'runc' | 'crun' | 'custom';
  path: string;
  /** Global flags placed before the command (e.g. crun's --cgroup-manager=disabled). */
  globalArgs: string[];
}

/** A host whose /sys/fs/cgroup is a pure cgroup v2 mount (crun 1.8 refuses hybrid mode). */
export function isUnifiedCgroup(): boolean {
  return existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/**
 * Whether crun can run here: on pure cgroup v2 hosts always; on hybrid hosts only as root inside our private
 * mount namespace, where prepareCgroupsFor gives it a cgroup2 mount of its own.
 */
export function crunRunsHere(env: NodeJS.ProcessEnv = process.env): boolean {
  return isUnifiedCgroup() || (process.getuid?.() === 0 && env.OCI_S2I_NAMESPACE === 'root');
}

/**
 * `--runtime runc|crun|PATH`; default: crun where it runs (crunRunsHere: it starts ~50 ms faster than runc),
 * else runc; whichever of the two is installed when only one is. Errors name what to install.
 */
export function detectRuntime(choice?: string): Runtime {
  if (choice && choice.includes('/')) {
    if (!existsSync(choice)) throw new S2IError('ERR_RUNTIME_MISSING', `runtime ${choice} does not exist: give a path to runc or crun`);
    const base = path.basename(choice);
    const name = base.startsWith('crun') ? 'crun' : base.startsWith('runc') ? 'runc' : 'custom';
    return { name, path: choice, globalArgs: name === 'crun' ? crunArgs() : name === 'runc' ? runcArgs() : [] };
  }
  if (choice && choice !== 'runc' && choice !== 'crun') {
    throw new S2IError('ERR_RUNTIME_UNKNOWN', `unknown runtime "${choice}": use runc, crun or a path to one`);
  }
  const order: Array<'runc' | 'crun'> = choice ? [choice as 'runc' | 'crun'] : crunRunsHere() ? ['crun', 'runc'] : ['runc', 'crun'];
  for (const name of order) {
    const p = which(name);
    if (p) return { name, path: p, globalArgs: name === 'crun' ? crunArgs() : runcArgs() };
  }
  throw new S2IError(
    'ERR_RUNTIME_MISSING',
    `no OCI runtime found (${order.join(', ')}): install one (Debian: apt-get install ${order[0]})`,
  );
}

function runcArgs(): string[] {
  // Root of a user namespace that maps every ID (a pod's root without CAP_SYS_ADMIN, namespace.ts): runc takes
  // itself for real root and fails on the pod's read-only cgroup mount (EROFS); as rootless it skips cgroups it
  // cannot write.
  return process.env.OCI_S2I_NAMESPACE === 'userns-root' ? ['--rootless', 'true'] : [];
}

function crunArgs(): string[] {
  // Without a usable cgroup v2 hierarchy (hybrid hosts, or rootless) crun must not touch cgroups.
  return isUnifiedCgroup() && process.getuid?.() === 0 && !process.env.OCI_S2I_NAMESPACE?.startsWith('userns') ? [] : ['--cgroup-manager=disabled'];
}

/**
 * crun 1.8 refuses hybrid cgroup hosts. Inside our private mount namespace (root only) we can give it a
 * plain cgroup2 mount at /sys/fs/cgroup (ENVIRONMENT.md); the host never sees it.
 */
export function prepareCgroupsFor(runtime: Runtime): void {
  if (runtime.name !== 'crun' || isUnifiedCgroup()) return;
  if (process.env.OCI_S2I_NAMESPACE !== 'root') {
    throw new S2IError(
      'ERR_RUNTIME_UNSUPPORTED',
      'crun does not support this host\'s hybrid cgroup layout when rootless: use --runtime runc',
    );
  }
  const n = native();
  try {
    n.umount2('/sys/fs/cgroup', MNT_DETACH);
    n.mount('none', '/sys/fs/cgroup', 'cgroup2', 0, null);
  } catch (e) {
    throw new S2IError('ERR_RUNTIME_UNSUPPORTED', `crun needs a cgroup2 mount on this hybrid cgroup host and it could not be made (${(e as Error).message}): use --runtime runc`, {
      cause: e,
    });
  }
}

/**
 * Prepares the runtime detectRuntime picked for this host (prepareCgroupsFor) and returns the one to run
 * containers with. When the pick was the default (no `--runtime`) and it is crun that cannot be prepared, it
 * is runc instead, and `onFallback` hears why; an explicit choice is never replaced.
 */
export function prepareRuntime(runtime: Runtime, opts: { explicit: boolean; onFallback?: (message: string) => void }): Runtime {
  try {
    prepareCgroupsFor(runtime);
    return runtime;
  } catch (e) {
    const runc = !opts.explicit && runtime.name === 'crun' ? which('runc') : undefined;
    if (!runc) throw e;
    opts.onFallback?.(`${(e as Error).message.replace(/: use --runtime runc$/, '')}; using runc`);
    return { name: 'runc', path: runc, globalArgs: runcArgs() };
  }
}

export interface RunOptions {
  runtime: Runtime;
  /** Directory for config.json (the bundle). */
  bundleDir: string;
  /**
   * The store whose `containers/` holds the runtime's state (store/container-state.ts: reaped there when this
   * process is killed, by the next run and by `cache prune`); without one, the state goes beside the bundle.
   */
  storeRoot?: string;
  spec: Record<string, unknown>;
  id: string;
  signal?: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Pass stdin/stdout/stderr straight through (interactive `run`). */
  inheritStdio?: boolean;
  /** Extra stdout consumer (e.g. save-artifacts tar stream); when set, stdout is not sent to onOutput. */
  stdoutSink?: NodeJS.WritableStream;
}

export interface RunResult {
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** The last lines the process wrote (stdout+stderr), for error messages. */
  tail: string[];
}

/**
 * The command the runtime runs under, so that it and its containers die with this process:
 *   setpriv --pdeathsig KILL -- /bin/sh -c '[ "$PPID" = <our pid> ] || exit 125; exec "$@"' \
 *     unshare --pid --fork --kill-child --mount-proc -- <runtime> …
 * `setpriv` arms SIGKILL for our death and keeps it across its execs (none is set-user-ID); the shell checks that
 * we were still its parent after that (we may have died before it was armed). `unshare --fork --kill-child`
 * runs the runtime as PID 1 of a new PID namespace and kills it when unshare dies; when a namespace's first
 * process dies the kernel kills every process in it and in the namespaces below, so the container's processes
 * go with the runtime, reparented or not. `--mount-proc` gives the runtime a /proc of that namespace: it reads
 * its children there by the pids it sees. Signals: unshare ignores SIGINT/SIGTERM while it waits (the runtime,
 * in the terminal's process group, gets Ctrl-C and passes it to the container as before); an abort here
 * SIGKILLs unshare, which takes the rest. The pids in the runtime's state are those of its namespace, so
 * `<runtime> kill` from here cannot reach the container: this process kills the wrapper instead.
 */
export function lifetimeWrapper(pid = process.pid): string[] {
  const unshare = which('unshare');
  if (!unshare) {
    throw new S2IError('ERR_RUNTIME_START', 'setpriv and unshare (util-linux) are needed to run containers: install util-linux');
  }
  return [...diesWithParent(pid), unshare, '--pid', '--fork', '--kill-child', '--mount-proc', '--'];
}

export async function runContainer(opts: RunOptions): Promise<RunResult> {
  const wrapper = lifetimeWrapper();
  // The runtime's state goes to the store (reaped there when this process is killed), else beside the bundle.
  const root = opts.storeRoot;
  if (root) await reapDeadContainers(root);
  const where = root ? await createContainerState(root, opts.runtime) : { dir: path.join(opts.bundleDir, 'state'), state: path.join(opts.bundleDir, 'state') };
  try {
    await mkdir(where.state, { recursive: true });
    await mkdir(opts.bundleDir, { recursive: true });
    await writeFile(path.join(opts.bundleDir, 'config.json'), JSON.stringify(opts.spec));
    return await runWrapped(opts, wrapper, where.state);
  } finally {
    // Always remove the container's state, whatever happened. A `run` that returned has deleted its container
    // already (runc and crun keep <root>/<id> only for a container that still exists), so the clean-up (a /proc
    // scan for a runtime that escaped the kill, then `delete -f`: another runtime process, ~10-30 ms) runs only
    // when that directory is left, e.g. after the runtime was killed.
    if (existsSync(path.join(where.state, opts.id))) await killAndDeleteContainers(where.state, opts.runtime);
    await rm(where.dir, { recursive: true, force: true }).catch(() => {});
  }
}

async function runWrapped(opts: RunOptions, wrapper: string[], stateDir: string): Promise<RunResult> {
  const base = [...opts.runtime.globalArgs, '--root', stateDir];
  const child = spawn(wrapper[0]!, [...wrapper.slice(1), opts.runtime.path, ...base, 'run', '--bundle', opts.bundleDir, opts.id], {
    stdio: opts.inheritStdio ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  let partial = '';
  const keep = (data: Buffer) => {
    const text = partial + data.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    tail.push(...lines);
    if (tail.length > 20) tail.splice(0, tail.length - 20);
  };
  if (!opts.inheritStdio) {
    if (opts.stdoutSink) child.stdout?.pipe(opts.stdoutSink);
    else
      child.stdout?.on('data', (d: Buffer) => {
        keep(d);
        opts.onOutput?.('stdout', d);
      });
    child.stderr?.on('data', (d: Buffer) => {
      keep(d);
      opts.onOutput?.('stderr', d);
    });
  }
  // SIGKILL to unshare (or to the shell or setpriv before it): the runtime and the container follow.
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  opts.signal?.addEventListener('abort', kill, { once: true });
  if (opts.signal?.aborted) kill();
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (e) =>
        reject(new S2IError('ERR_RUNTIME_START', `cannot start ${opts.runtime.path}: ${e.message}`, { cause: e })),
      );
      child.once('close', (c, s) => resolve({ code: c, signal: s }));
    });
    if (partial) tail.push(partial);
    return { exitCode: code ?? 128, signal, tail };
  } finally {
    opts.signal?.removeEventListener('abort', kill);
  }
}
