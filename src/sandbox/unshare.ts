// Runs a command under util-linux `unshare` with this process's stdio, forwarding SIGINT/SIGTERM to it, and
// resolves with the exit code the CLI should end with. The command is told this process's pid
// (OCI_S2I_PARENT_PID): the engine it starts arms a parent-death signal on it (sys/parent-death.ts), so a
// `kill -9` of this process ends the engine too. Imports nothing of the project but that constant's module: the
// CLI launcher (cli/launch.ts) loads it before anything else.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { PARENT_PID_ENV } from '../sys/parent-death.js';

/** Set in the environment of the re-executed CLI: the namespace mode it runs in (namespace.ts). */
export const NAMESPACE_ENV = 'OCI_S2I_NAMESPACE';

/** A private mount namespace whose mounts propagate nowhere: they vanish with the process, even on kill -9. */
export const ROOT_UNSHARE_ARGS: readonly string[] = ['-m', '--propagation', 'private'];

export interface Unshared {
  child: ChildProcess;
  /** The command's exit code; 130 when SIGINT killed it, 143 for any other signal. Rejects when `unshare` cannot start. */
  exited: Promise<number>;
  /** Stops forwarding signals (call once `exited` settled). */
  dispose(): void;
}

export function runUnshared(unshareArgs: readonly string[], command: readonly string[], opts: { env: NodeJS.ProcessEnv; stdio?: StdioOptions }): Unshared {
  // `unshare` without --fork execs the command, which is thus this process's child: its parent-death signal
  // fires when this process dies.
  const env = { ...opts.env, [PARENT_PID_ENV]: String(process.pid) };
  const child = spawn('unshare', [...unshareArgs, '--', ...command], { stdio: opts.stdio ?? 'inherit', env });
  const forward = (sig: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(sig);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 128 + 15)));
  });
  return {
    child,
    exited,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
