// Unprivileged test users (CI runs as root): created once with useradd, which gives them a subordinate ID
// range; `withoutSubIds` removes the range to test the single-ID fallback.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
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

/** True when `user` can read `file` (and so traverse every directory above it). */
export function canRead(user: TestUser, file: string): boolean {
  return spawnSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'test', '-r', file]).status === 0;
}

const copies = new Map<string, string>();

/**
 * A copy of what running the project needs (bin, dist: the CLI and the compiled tests, the native addon,
 * node_modules, package.json) that every user can read, made once per process and removed when it exits. Tests
 * that run something as another user take files from here, never from the checkout: a checkout under a 0700
 * dir (a clone in /root) is unreachable to them, and the suite must not depend on where it lives.
 */
export function readableProjectCopy(from: string = projectRoot): string {
  const made = copies.get(from);
  if (made !== undefined) return made;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-project-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  // realpath: a node_modules that is itself a link (to a dir the user cannot reach either) is copied, not linked.
  for (const p of ['bin', 'dist', 'build', 'node_modules', 'package.json']) {
    if (existsSync(path.join(from, p))) linkOrCopyTree(realpathSync(path.join(from, p)), path.join(dir, p));
  }
  copies.set(from, dir);
  return dir;
}

/**
 * Mirrors `src` at `dst`: new dirs (0755), files others can already read hard-linked (node_modules alone is
 * ~20,000 files: a copy took most of a test's time), other files copied and made readable, symlinks as they are.
 * Timestamps stay (the launcher runs dist/bundle only when it is not older than dist/src: src/cli/launch.ts).
 */
function linkOrCopyTree(src: string, dst: string): void {
  const st = lstatSync(src);
  if (st.isDirectory()) {
    mkdirSync(dst, { mode: 0o755 });
    chmodSync(dst, 0o755);
    for (const name of readdirSync(src)) linkOrCopyTree(path.join(src, name), path.join(dst, name));
    utimesSync(dst, st.atime, st.mtime);
  } else if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dst);
  } else if (st.isFile()) {
    if ((st.mode & 0o004) !== 0) {
      try {
        linkSync(src, dst);
        return;
      } catch {
        /* another file system, or links not allowed: copy */
      }
    }
    copyFileSync(src, dst);
    chmodSync(dst, (st.mode & 0o777) | 0o444 | ((st.mode & 0o100) !== 0 ? 0o111 : 0));
    utimesSync(dst, st.atime, st.mtime);
  }
}

/**
 * The project root `user` runs from: the checkout when the user can read it (no copy needed), else
 * readableProjectCopy(). Paths below it mirror the checkout (bin/oci-s2i.js, dist/test/…, dist/src/…).
 */
export function projectRootFor(user: TestUser, from: string = projectRoot): string {
  const reachable = ['bin/oci-s2i.js', 'dist/test/helpers/users.js'].every((f) => canRead(user, path.join(from, f)));
  return reachable ? from : readableProjectCopy(from);
}

/** A CLI entry the user can execute (see projectRootFor). */
export function cliFor(user: TestUser): string {
  return path.join(projectRootFor(user), 'bin', 'oci-s2i.js');
}

/** A temp dir owned by the user. */
export function userTempDir(user: TestUser, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}
