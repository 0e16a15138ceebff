// Where the OCI runtime keeps the state of the containers an engine runs: `<root>/containers/<pid>-<random>/`,
// one dir per container run, named after the engine's pid like every temp of the store. It holds
// `runtime.json` (the runtime's path and global flags, to delete the container later) and `state/` (the
// runtime's `--root`). A dir whose engine is dead was left by a kill; `reapDeadContainers` ends whatever still
// runs from it, has the runtime delete its containers (their cgroups go with them) and removes it. Called before
// every container run (the next build) and by `cache prune`.
//
// The runtime itself needs no project code here: the record names the binary to run, so the store stays free of
// sandbox/ (which owns how containers are run, sandbox/runtime.ts).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { processAlive } from './lock-file.js';

const execFileP = promisify(execFile);

export const containersDir = 'containers';

/** What deletes the containers of a state dir: `<path> <globalArgs…> --root <state> delete -f <id>`. */
export interface RuntimeRecord {
  path: string;
  globalArgs: string[];
}

export interface ContainerStateDir {
  /** `<root>/containers/<pid>-<random>`: removed as a whole when the run ends. */
  dir: string;
  /** The runtime's `--root`. */
  state: string;
}

/** Creates this process's state dir for one container run of `runtime`. */
export async function createContainerState(root: string, runtime: RuntimeRecord): Promise<ContainerStateDir> {
  const parent = path.join(root, containersDir);
  await fs.mkdir(parent, { recursive: true, mode: 0o700 });
  const dir = path.join(parent, `${process.pid}-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o700 });
  const state = path.join(dir, 'state');
  await fs.mkdir(state, { mode: 0o700 });
  await fs.writeFile(path.join(dir, 'runtime.json'), JSON.stringify({ path: runtime.path, globalArgs: runtime.globalArgs }));
  return { dir, state };
}

/** The state letter of /proc/<pid>/stat (R, S, D, Z, …); '' when the process is gone or unreadable. */
async function processState(pid: number): Promise<string> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const end = stat.lastIndexOf(')');
  return end < 0 ? '' : stat.charAt(end + 2);
}

/**
 * Whether `pid` runs: a zombie does not (a killed engine whose parent died too waits as one until init reaps
 * it, which takes a while on some hosts). A pid whose /proc entry we may not read (hidepid) is another user's,
 * so not an engine of ours.
 */
async function running(pid: number): Promise<boolean> {
  if (!processAlive(pid)) return false;
  const st = await processState(pid);
  return st !== 'Z' && st !== 'X' && st !== '';
}

/**
 * Pids of live processes started with `--root <state>` in their arguments: the runtime (and the wrapper it runs
 * under) of a container whose state is `state`. Zombies are dead already and not listed.
 */
export async function processesUsingState(state: string): Promise<number[]> {
  const needle = Buffer.from(`\0--root\0${state}\0`);
  const out: number[] = [];
  for (const name of await readdirOrEmpty('/proc')) {
    const pid = Number(name);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let cmdline: Buffer;
    try {
      cmdline = await fs.readFile(`/proc/${pid}/cmdline`);
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (cmdline.length === 0 || !Buffer.concat([Buffer.from([0]), cmdline]).includes(needle)) continue;
    if (await running(pid)) out.push(pid);
  }
  return out;
}

/**
 * SIGKILLs every process still running from `state` (sandbox/runtime.ts runs the runtime as the first process
 * of a PID namespace of its own, so this ends its containers too), then has the runtime delete each container
 * of the state dir (a stopped container's cgroups are removed with it). Best effort, bounded: each delete is
 * given 10 s.
 */
export async function killAndDeleteContainers(state: string, runtime: RuntimeRecord | undefined): Promise<void> {
  for (const pid of await processesUsingState(state)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  if (!runtime) return;
  for (const id of await readdirOrEmpty(state)) {
    const st = await fs.lstat(path.join(state, id)).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    await execFileP(runtime.path, [...runtime.globalArgs, '--root', state, 'delete', '-f', id], { timeout: 10_000 }).catch(() => undefined);
  }
}

async function readRecord(dir: string): Promise<RuntimeRecord | undefined> {
  try {
    const r = JSON.parse(await fs.readFile(path.join(dir, 'runtime.json'), 'utf8')) as Partial<RuntimeRecord>;
    if (typeof r.path !== 'string' || !path.isAbsolute(r.path) || !Array.isArray(r.globalArgs) || !r.globalArgs.every((a) => typeof a === 'string')) return undefined;
    return { path: r.path, globalArgs: r.globalArgs as string[] };
  } catch {
    return undefined; // killed before it was written: no container was started from this dir
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

/** Reaps the container state dirs of dead engines under `root`; returns how many were removed. */
export async function reapDeadContainers(root: string): Promise<number> {
  const parent = path.join(root, containersDir);
  let n = 0;
  for (const name of await readdirOrEmpty(parent)) {
    const pid = Number.parseInt(name.split('-')[0] ?? '', 10);
    if (!Number.isSafeInteger(pid) || pid <= 0 || (await running(pid))) continue;
    const dir = path.join(parent, name);
    await killAndDeleteContainers(path.join(dir, 'state'), await readRecord(dir));
    if (await fs.rm(dir, { recursive: true, force: true }).then(() => true, () => false)) n++;
  }
  return n;
}
