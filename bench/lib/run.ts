// Runs one command and measures it: wall time (from the parent, the same way for every tool), CPU time and the
// peak RSS of the largest process in its tree (GNU time's %M, i.e. getrusage(RUSAGE_CHILDREN).ru_maxrss: the
// maximum over the waited-for descendants, not their sum).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Measured {
  ms: number;
  /** Peak RSS in KiB of the largest process of the command's tree; undefined without /usr/bin/time. */
  rssKB?: number;
  userS?: number;
  sysS?: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Stop it after this long (a hung tool must not hang the suite). Default 30 min. */
  timeoutMs?: number;
}

const GNU_TIME = '/usr/bin/time';
const hasGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%M', 'true'], { stdio: 'ignore' }).status === 0;
const timeDir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-bench-time-'));
process.on('exit', () => rmSync(timeDir, { recursive: true, force: true }));
let seq = 0;

/** Runs argv (no shell) and measures it; rejects with the tail of stderr when it fails. */
export async function measure(argv: string[], opts: RunOptions = {}): Promise<Measured> {
  const timeFile = path.join(timeDir, `t${seq++}`);
  const full = hasGnuTime ? [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, ...argv] : argv;
  const start = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(full[0]!, full.slice(1), { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-8000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30 * 60_000);
    p.once('error', reject);
    p.once('close', (c, sig) => {
      clearTimeout(timer);
      resolve({ code: c ?? (sig ? 128 : 1), stdout: out, stderr: err });
    });
  });
  const ms = performance.now() - start;
  if (code !== 0) {
    throw new Error(`${argv.join(' ').slice(0, 300)} failed (exit ${code}):\n${stderr.trim().split('\n').slice(-8).join('\n')}`);
  }
  const m: Measured = { ms, stdout, stderr };
  if (hasGnuTime) {
    const [u, s, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    rmSync(timeFile, { force: true });
    m.userS = u;
    m.sysS = s;
    m.rssKB = rss;
  }
  return m;
}

/** A bash pipeline, failing when any stage fails. */
export function sh(script: string): string[] {
  return ['bash', '-c', `set -euo pipefail; ${script}`];
}

/** Single-quotes for bash. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command's path, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export const isRoot = process.getuid?.() === 0;

/** Why a comparison that needs these tools cannot run, or undefined when they are all there. */
export function missingTools(...cmds: string[]): string | undefined {
  const missing = cmds.filter((c) => !which(c));
  if (missing.length === 0) return undefined;
  return `needs ${missing.join(', ')} (not installed${isRoot ? '' : '; run `npm run bench` as root to have them installed, or apt-get install them'})`;
}

/** First line of `cmd --version` (or the given args), for the machine table. */
export function toolVersion(cmd: string, args = ['--version']): string | undefined {
  if (!which(cmd)) return undefined;
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
  return text || undefined;
}
