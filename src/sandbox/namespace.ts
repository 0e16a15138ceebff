// Re-executes the current command inside a private mount namespace, and for non-root callers inside a user
// namespace too, so that mounts vanish with the process (kill -9 included) and layer ownership is real.
//
// Root with CAP_SYS_ADMIN: `unshare -m --propagation private`. Root without it (a pod's root with the default
// capabilities, where `unshare -m` is EPERM): `unshare -U -m`, a user namespace whose map this process writes
// itself (every ID to itself: root has CAP_SETUID/CAP_SETGID here) and the mount namespace inside it
// ('userns-root'). Unprivileged with a subordinate range: `unshare -U -m` runs a tiny shell that waits on a
// socket (fd 3) while the parent writes the ID maps with newuidmap/newgidmap (container 0 = caller, 1..N = the
// range); only then does it exec node. The exec must come after the maps: capabilities are computed at execve,
// and a process exec'd while its uid is still unmapped has none in the namespace. Where the maps cannot be
// written (newuidmap without its privileges: no_new_privs, a pod without SETUID/SETGID; root without
// CAP_SETUID) only the caller's own IDs are mapped, as `unshare -r` does, and the shell is told so: the
// single-ID fallback ('userns-single', with a warning), also what a caller without a range gets (`unshare -U -m
// -r`). With `fallbacks: false` (`--isolation sandbox`) neither fallback is taken: the sandbox error instead
// (sandbox-error.ts), as when no user namespace can be made at all (a probe, `unshare -U -m true`, tells first,
// so unshare's own message is never the command's last word). The namespaced engine is this process's child
// (unshare and the shell exec, they do not fork) and dies with it, kill -9 included: runUnshared names this
// process to it and it arms a parent-death signal (sys/parent-death.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { S2IError } from '../errors.js';
import { relocateExtraCa } from '../sys/extra-ca-env.js';
import { withPoolSize } from '../sys/pool-size.js';
import { CAP_SYS_ADMIN, hasCapability } from './caps.js';
import { callerSubIds, mapArgs } from './idmap.js';
import { sandboxError } from './sandbox-error.js';
import { NAMESPACE_ENV as ENV_FLAG, ROOT_UNSHARE_ARGS, runUnshared } from './unshare.js';

const execFileP = promisify(execFile);

export type NamespaceMode = 'root' | 'userns-root' | 'userns' | 'userns-single';

const MODES: readonly NamespaceMode[] = ['root', 'userns-root', 'userns', 'userns-single'];

/** The mode this process runs in, when it is the re-executed child; undefined in the original process. */
export function namespaceMode(): NamespaceMode | undefined {
  const v = process.env[ENV_FLAG];
  return MODES.find((m) => m === v);
}

export interface ReexecOptions {
  /** Called with a warning (single-ID fallback). */
  onWarning?: (msg: string) => void;
  /** Force a mode (tests). */
  mode?: NamespaceMode;
  /** Default true (`--isolation auto`). false (`--isolation sandbox`): no user namespace for root without
   *  CAP_SYS_ADMIN and no single-ID map where newuidmap fails: the sandbox error instead. */
  fallbacks?: boolean;
}

/** The shell between `unshare -U` and the engine: waits for the ID maps (fd 3), then execs it; told `s` when only
 *  one ID could be mapped, it says so in the engine's environment. */
const WAIT_FOR_MAPS =
  'printf r >&3; read -r ok <&3; exec 3<&-; case "$ok" in g) ;; s) OCI_S2I_NAMESPACE=userns-single; export OCI_S2I_NAMESPACE ;; *) exit 1 ;; esac; exec "$@"';

/** Runs `unshare ARGS true`: undefined when it works, else what unshare said. */
async function probeUnshare(args: readonly string[]): Promise<string | undefined> {
  try {
    await execFileP('unshare', [...args, '--', 'true']);
    return undefined;
  } catch (e) {
    const err = e as { stderr?: string; code?: unknown; message: string };
    if (err.code === 'ENOENT') throw new S2IError('ERR_UNSHARE', 'cannot start `unshare` (util-linux): not found; install util-linux', { cause: e });
    return (err.stderr?.trim() || err.message).split('\n')[0];
  }
}

/**
 * The mode root gets: 'root' with CAP_SYS_ADMIN (a private mount namespace); without it (a pod's root with the
 * default capabilities) a user namespace that maps every ID to itself, with the mount namespace inside it.
 * Neither: the sandbox error.
 */
async function rootMode(fallbacks: boolean): Promise<NamespaceMode> {
  if (hasCapability(CAP_SYS_ADMIN)) return 'root';
  const mnt = await probeUnshare(ROOT_UNSHARE_ARGS);
  if (mnt === undefined) return 'root';
  if (!fallbacks) throw sandboxError('mount-namespace', 'root without CAP_SYS_ADMIN cannot make a mount namespace (--isolation sandbox: no user namespace instead)', mnt);
  const userns = await probeUnshare(['-U', '-m']);
  if (userns === undefined) return 'userns-root';
  throw sandboxError('mount-namespace', 'root without CAP_SYS_ADMIN cannot make a mount namespace, and no user namespace is allowed either', `${mnt}; ${userns}`);
}

/** Writes the single-ID maps (0 → this process's uid/gid) the way `unshare -r` does: allowed without privilege. */
function writeSingleMaps(pid: number, uid: number, gid: number): void {
  writeFileSync(`/proc/${pid}/uid_map`, `0 ${uid} 1\n`);
  writeFileSync(`/proc/${pid}/setgroups`, 'deny\n');
  writeFileSync(`/proc/${pid}/gid_map`, `0 ${gid} 1\n`);
}

function stderrOf(e: unknown): string {
  return ((e as { stderr?: string }).stderr?.trim() || (e as Error).message).replace(/\s+/g, ' ');
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
  } else if (!opts.mode) {
    mode = await rootMode(opts.fallbacks !== false);
  }
  const singleWarning =
    `no subordinate ID range for uid ${uid} in /etc/subuid and /etc/subgid: only your own uid is mapped, so every ` +
    `file in the image is owned by one user (ask an admin to run \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${uid}\`)`;
  if (mode === 'userns-single') opts.onWarning?.(singleWarning);
  const waits = mode === 'userns' || mode === 'userns-root';
  const unshareArgs =
    mode === 'root'
      ? [...ROOT_UNSHARE_ARGS]
      : waits
        ? ['-U', '-m', '--propagation', 'private']
        : ['-U', '-m', '--propagation', 'private', '-r'];
  const env: NodeJS.ProcessEnv = withPoolSize(relocateExtraCa({ ...process.env, [ENV_FLAG]: mode }));
  // `--` before the script: Node 20 reads --env-file anywhere in its argv, after the script too.
  const cmd = [process.execPath, ...process.execArgv, '--', ...argv];
  const wrapped = waits ? ['/bin/sh', '-c', WAIT_FOR_MAPS, 'oci-s2i-userns', ...cmd] : cmd;
  // A user namespace refused (seccomp, user.max_user_namespaces) is found by a probe first: unshare's own
  // message would otherwise be the command's last word.
  if (mode !== 'root' && !opts.mode) {
    const refused = await probeUnshare(['-U', '-m']);
    if (refused !== undefined) throw sandboxError('user-namespace', 'no user namespace can be made here', refused);
  }
  const { child, exited: raw, dispose } = runUnshared(unshareArgs, wrapped, { env, stdio: waits ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit' });
  try {
    const exited = raw.catch((e: Error) => {
      throw new S2IError('ERR_UNSHARE', `cannot start \`unshare\` (util-linux): ${e.message}; install util-linux`, { cause: e });
    });
    if (waits) {
      const sock = child.stdio[3] as Socket;
      await new Promise<void>((resolve, reject) => {
        sock.once('data', () => resolve());
        sock.once('error', reject);
        exited.catch(reject);
        child.once('exit', () => reject(new S2IError('ERR_UNSHARE', 'the namespace child exited before it was ready')));
      });
      const pid = child.pid!;
      let answer = 'g';
      try {
        if (mode === 'userns-root') {
          // Root with CAP_SETUID/CAP_SETGID in this namespace may map every ID to itself.
          writeFileSync(`/proc/${pid}/uid_map`, '0 0 4294967295\n');
          writeFileSync(`/proc/${pid}/gid_map`, '0 0 4294967295\n');
        } else {
          await execFileP('newuidmap', [String(pid), ...mapArgs(uid, sub.uids)]);
          await execFileP('newgidmap', [String(pid), ...mapArgs(gid, sub.gids)]);
        }
      } catch (e) {
        if (opts.fallbacks === false) {
          sock.end('x\n');
          await exited.catch(() => 0);
          throw sandboxError('id-map', 'the ID maps of the build\'s user namespace cannot be written (--isolation sandbox: no single-ID map instead)', stderrOf(e));
        }
        // No right to map more than one ID (newuidmap without its privileges: no_new_privs, no CAP_SETUID in a
        // pod; root without CAP_SETUID): map only this process's own IDs, as `unshare -r` does.
        try {
          writeSingleMaps(pid, uid, gid);
          answer = 's';
          opts.onWarning?.(
            mode === 'userns-root'
              ? `root without CAP_SYS_ADMIN and CAP_SETUID/CAP_SETGID: only uid 0 is mapped in the build's user namespace (${stderrOf(e)}), so every file in the image is owned by root`
              : `${mode === 'userns' ? `newuidmap/newgidmap failed (${stderrOf(e)})` : 'no ID range'}: only your own uid is mapped, so every file in the image is owned by one user (newuidmap needs its set-user-ID bit or file capabilities: --cap-add SETUID,SETGID, no no-new-privileges)`,
          );
        } catch (e2) {
          sock.end('x\n');
          await exited.catch(() => 0);
          throw sandboxError('id-map', 'the ID maps of the build\'s user namespace cannot be written', `${stderrOf(e)}; ${stderrOf(e2)}`);
        }
      }
      sock.end(`${answer}\n`);
    }
    return await exited;
  } finally {
    dispose();
  }
}
