// The namespaced engine dies with the command that started it. A launcher (cli/launch.ts for root, the rootless
// re-exec of sandbox/namespace.ts) starts the engine as its child and names itself in OCI_S2I_PARENT_PID; the
// engine then arms PR_SET_PDEATHSIG(SIGKILL) first thing, so a `kill -9` of the command (which only the
// launcher receives) takes the engine with it, and the engine's own children follow (sandbox/runtime.ts).
// The signal is armed in the engine itself, after its last exec: the kernel clears it on credential changes
// and set-user-ID execs, and the rootless engine is exec'd only once its ID maps are written.
// Imports only node built-ins and the native loader: cli/launch.ts loads it before the CLI.
import { native } from './native.js';

/** Set by a launcher in the environment of the engine it starts: the launcher's pid. */
export const PARENT_PID_ENV = 'OCI_S2I_PARENT_PID';

const SIGKILL = 9;
// A global, not a module variable: the launcher module and the CLI bundle each hold a copy of this module.
const key = Symbol.for('oci-s2i.parent-pid');
type Holder = { [key]?: number };

/**
 * When this process was started by a launcher (OCI_S2I_PARENT_PID), arms SIGKILL for the launcher's death and
 * ends this process at once when the launcher is already gone (it died before the signal was armed). The variable
 * is removed from the environment so that nothing this process starts mistakes it for its own parent. Idempotent.
 */
export function dieWithLauncher(env: NodeJS.ProcessEnv = process.env): void {
  const text = env[PARENT_PID_ENV];
  if (text === undefined) return;
  delete env[PARENT_PID_ENV];
  const expected = Number(text);
  if (!Number.isSafeInteger(expected) || expected <= 1) return;
  (globalThis as Holder)[key] = expected;
  if (native().setParentDeathSignal(SIGKILL) !== expected) process.kill(process.pid, 'SIGKILL');
}

/** True when this process was started by a launcher that is gone: such an engine must not publish anything. */
export function parentLost(): boolean {
  const expected = (globalThis as Holder)[key];
  return expected !== undefined && process.ppid !== expected;
}
