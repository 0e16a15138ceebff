// Exit codes are the CLI's to give (src/cli/error-table.ts): a library error carries a code and a step, not an
// exit code. These wrappers let a test assert the exit code the CLI would give an error, through the same table.
import { exitCodeFor } from '../../src/cli/error-table.js';

function withExitCode(e: unknown): unknown {
  if (e !== null && typeof e === 'object') Object.defineProperty(e, 'exitCode', { value: exitCodeFor(e), configurable: true });
  return e;
}

/** `p`, whose rejection carries `exitCode`: the exit code the CLI gives that error. */
export function exitOf<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    throw withExitCode(e);
  });
}

/** `f`, whose throw carries `exitCode`: the exit code the CLI gives that error. */
export function exitOfSync<T>(f: () => T): () => T {
  return () => {
    try {
      return f();
    } catch (e) {
      throw withExitCode(e);
    }
  };
}

/** The exit code the CLI gives `e`. */
export { exitCodeFor };

/** `e`, carrying `exitCode`: the exit code the CLI gives it. */
export { withExitCode };
