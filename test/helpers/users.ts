// Unprivileged test users (CI runs as root): created once with useradd, which gives them a subordinate ID
// range; `withoutSubIds` removes the range to test the single-ID fallback.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './cli.js';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function lookup(name: string): TestUser | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? `/home/${name}` };
}

export function canCreateUsers(): boolean {
  return process.getuid?.() === 0;
}

export function ensureUser(name: string, opts: { subIds: boolean }): TestUser {
  let u = lookup(name);
  if (!u) {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', name], { stdio: 'ignore' });
    u = lookup(name)!;
  }
  const has = readFileSync('/etc/subuid', 'utf8').split('\n').some((l) => l.startsWith(`${name}:`));
  if (opts.subIds && !has) {
    execFileSync('usermod', ['--add-subuids', '300000-365535', '--add-subgids', '300000-365535', name], { stdio: 'ignore' });
  } else if (!opts.subIds && has) {
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      const kept = readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${name}:`))
        .join('\n');
      execFileSync('sh', ['-c', `cat > ${f}`], { input: kept });
    }
  }
  return u;
}

/**
 * A CLI entry the user can execute. When the checkout is not readable by others (e.g. under /root), the files
 * the CLI needs are copied to a world-readable temp dir.
 */
export function cliFor(user: TestUser): string {
  const entry = path.join(projectRoot, 'bin', 'oci-s2i.js');
  try {
    execFileSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', 'test', '-r', path.join(projectRoot, 'dist', 'src', 'cli', 'entry.js')]);
    accessSync(entry, constants.R_OK);
    return entry;
  } catch {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-cli-'));
    chmodSync(dir, 0o755);
    for (const p of ['bin', 'dist/src', 'dist/bundle', 'build', 'node_modules', 'package.json']) {
      if (p === 'dist/bundle' && !existsSync(path.join(projectRoot, p))) continue; // only tsc ran: the CLI runs dist/src
      cpSync(path.join(projectRoot, p), path.join(dir, p), { recursive: true });
    }
    execFileSync('chmod', ['-R', 'a+rX', dir]);
    return path.join(dir, 'bin', 'oci-s2i.js');
  }
}

/** A temp dir owned by the user. */
export function userTempDir(user: TestUser, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}
