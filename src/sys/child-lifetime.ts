// Finding the tools the engine runs, and tying a child's life to its parent's: a command started under
// `diesWithParent` gets SIGKILL when the process that started it dies, kill -9 included (PR_SET_PDEATHSIG, set by
// util-linux's setpriv), so nothing it started outlives it: the runtimes (sandbox/runtime.ts), the demo's
// registry and app, the test registries.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';

/** The path of `cmd` on PATH, then in the sbin directories (a user's PATH often lacks them). */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The command prefix under which a command gets SIGKILL when process `pid` (its parent) dies, and stays in its
 * parent's process group. The death signal is armed by setpriv before the command is exec'd; a parent that died
 * before that is caught by the shell's check of its parent pid (exit 125).
 */
export function diesWithParent(pid = process.pid): string[] {
  const setpriv = which('setpriv');
  if (!setpriv) {
    throw new S2IError('ERR_RUNTIME_START', 'setpriv and unshare (util-linux) are needed to run containers: install util-linux');
  }
  return [setpriv, '--pdeathsig', 'KILL', '--', '/bin/sh', '-c', '[ "$PPID" = "$0" ] || exit 125; exec "$@"', String(pid)];
}
