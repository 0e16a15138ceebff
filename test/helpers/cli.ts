// Runs the real CLI (bin/oci-s2i.js) as a child process, optionally as another user.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(here, '..', '..', '..');
export const cliPath = path.join(projectRoot, 'bin', 'oci-s2i.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  /** Run as this user (via setpriv), with HOME set to their home. */
  user?: { name: string; uid: number; gid: number; home: string };
  /** Use this CLI entry instead of the project's (with `user`: users.ts cliFor, a copy when the checkout is unreachable). */
  cli?: string;
  cwd?: string;
  timeoutMs?: number;
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const cli = opts.cli ?? cliPath;
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  let cmd = process.execPath;
  // `--`: Node 20 reads --env-file anywhere in its argv, after the script too.
  let argv = ['--', cli, ...args];
  if (opts.user) {
    env.HOME = opts.user.home;
    env.USER = opts.user.name;
    delete env.XDG_RUNTIME_DIR;
    // tap's process-info hooks put an --import into NODE_OPTIONS of every child it sees spawned (even when we
    // pass our own env); as the other user they would write into the checkout, so strip them past setpriv.
    delete env.NODE_OPTIONS;
    cmd = 'setpriv';
    argv = ['--reuid', String(opts.user.uid), '--regid', String(opts.user.gid), '--init-groups', '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, '--', cli, ...args];
  }
  return new Promise((resolve, reject) => {
    // Another user starts in `/`, not in the checkout, which they may not be able to reach (a clone in /root).
    const p = spawn(cmd, argv, { env, cwd: opts.cwd ?? (opts.user ? '/' : projectRoot), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}
