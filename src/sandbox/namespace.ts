// Re-executes the current command inside a private mount namespace, and for non-root callers inside a user
// namespace too, so that mounts vanish with the process (kill -9 included) and layer ownership is real.
//
// Root: `unshare -m --propagation private`. Unprivileged with a subordinate range: `unshare -U -m` runs a tiny
// shell that waits on a socket (fd 3) while the parent writes the ID maps with newuidmap/newgidmap (container
// 0 = caller, 1..N = the range); only then does it exec node. The exec must come after the maps: capabilities
// are computed at execve, and a process exec'd while its uid is still unmapped has none in the namespace. Without a range: `unshare -U -m -r` (only the caller mapped,
// every file owned by it: the single-ID fallback), with a warning. The namespaced engine is this process's
// child (unshare and the shell exec, they do not fork) and dies with it, kill -9 included: runUnshared names
// this process to it and it arms a parent-death signal (sys/parent-death.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Socket } from 'node:net';
import { S2IError } from '../errors.js';
import { relocateExtraCa } from '../sys/extra-ca-env.js';
import { withPoolSize } from '../sys/pool-size.js';
import { callerSubIds, mapArgs } from './idmap.js';
import { NAMESPACE_ENV as ENV_FLAG, ROOT_UNSHARE_ARGS, runUnshared } from './unshare.js';

const execFileP = promisify(execFile);

export type NamespaceMode = 'root' | 'userns' | 'userns-single';

/** The mode this process runs in, when it is the re-executed child; undefined in the original process. */
export function namespaceMode(): NamespaceMode | undefined {
  const v = process.env[ENV_FLAG];
  if (v === 'root' || v === 'userns' || v === 'userns-single') return v;
  return undefined;
}

export interface ReexecOptions {
  /** Called with a warning (single-ID fallback). */
  onWarning?: (msg: string) => void;
  /** Force a mode (tests). */
  mode?: NamespaceMode;
}

/**
 * Runs `process.execPath process.execArgv argv` in the namespaces; resolves with the child's exit code.
 * SIGINT/SIGTERM are forwarded to the child, which cleans up and exits (130 on Ctrl-C).
 */
export async function reexecInNamespace(argv: string[], opts: ReexecOptions = {}): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let mode: NamespaceMode = opts.mode ?? 'root';
  let sub = { uids: [] as { start: number; count: number }[], gids: [] as { start: number; count: number }[] };
  if (!opts.mode && uid !== 0) {
    sub = await callerSubIds();
    mode = sub.uids.length > 0 && sub.gids.length > 0 ? 'userns' : 'userns-single';
  }
  if (mode === 'userns-single') {
    opts.onWarning?.(
      `no subordinate ID range for uid ${uid} in /etc/subuid and /etc/subgid: only your own uid is mapped, so every ` +
        `file in the image is owned by one user (ask an admin to run \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${uid}\`)`,
    );
  }
  const unshareArgs =
    mode === 'root'
      ? [...ROOT_UNSHARE_ARGS]
      : mode === 'userns'
        ? ['-U', '-m', '--propagation', 'private']
        : ['-U', '-m', '--propagation', 'private', '-r'];
  const env: NodeJS.ProcessEnv = withPoolSize(relocateExtraCa({ ...process.env, [ENV_FLAG]: mode }));
  const cmd = [process.execPath, ...process.execArgv, ...argv];
  const wrapped =
    mode === 'userns'
      ? ['/bin/sh', '-c', 'printf r >&3; read -r ok <&3; exec 3<&-; [ "$ok" = g ] || exit 1; exec "$@"', 'oci-s2i-userns', ...cmd]
      : cmd;
  const { child, exited: raw, dispose } = runUnshared(unshareArgs, wrapped, { env, stdio: mode === 'userns' ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit' });
  try {
    const exited = raw.catch((e: Error) => {
      throw new S2IError('ERR_UNSHARE', `cannot start \`unshare\` (util-linux): ${e.message}; install util-linux`, { cause: e });
    });
    if (mode === 'userns') {
      const sock = child.stdio[3] as Socket;
      await new Promise<void>((resolve, reject) => {
        sock.once('data', () => resolve());
        sock.once('error', reject);
        exited.catch(reject);
        child.once('exit', () => reject(new S2IError('ERR_UNSHARE', 'the namespace child exited before it was ready')));
      });
      const pid = String(child.pid);
      try {
        await execFileP('newuidmap', [pid, ...mapArgs(uid, sub.uids)]);
        await execFileP('newgidmap', [pid, ...mapArgs(gid, sub.gids)]);
        sock.end('g\n');
      } catch (e) {
        const msg = (e as { stderr?: string }).stderr?.trim() || (e as Error).message;
        process.stderr.write(
          `oci-s2i: newuidmap/newgidmap failed (${msg}); install the uidmap package and check /etc/subuid, /etc/subgid\n`,
        );
        sock.end('x\n');
      }
    }
    return await exited;
  } finally {
    dispose();
  }
}
