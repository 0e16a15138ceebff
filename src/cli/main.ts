// CLI entry: picks the command, re-executes inside the private (user) namespace when the command needs one,
// runs it, and maps errors to one line and a stable exit code (a stack only with --debug).
import { S2IError, ExitCode, errorCode } from '../errors.js';
import { namespaceMode, reexecInNamespace } from '../sandbox/namespace.js';
import { interruptLockWaitsOn } from '../store/lock-file.js';
import type { GlobalFlags } from './command.js';
import { parseCommandArgs, usage, intFlag, str } from './command.js';
import { exitCodeFor, messageFor } from './error-table.js';
import { commandEntries, findCommand, loadCommands, runsWithoutNamespace } from './command-table.js';
import { askMissingPasswords } from './registry-flags.js';
import { hideSecretArgs, maskProcessTitle, revealSecretArgs } from './secret-args.js';

// The command list is command-table.ts's; exported here too for callers that drive main() (tests).
export { commandEntries, loadCommands };

async function topUsage(): Promise<string> {
  const lines = ['Usage: oci-s2i COMMAND [flags] [args]', '', 'Daemonless, rootless Source-to-Image builds.', '', 'Commands:'];
  for (const c of await loadCommands()) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run `oci-s2i COMMAND --help` for the flags of a command.');
  return lines.join('\n') + '\n';
}

export function describeError(e: unknown, debug: boolean): { line: string; exit: number } {
  if (e instanceof S2IError) {
    return { line: `oci-s2i: ${messageFor(e)}${debug && e.stack ? `\n${e.stack}` : ''}`, exit: exitCodeFor(e) };
  }
  const code = errorCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'ENOSPC') return { line: `oci-s2i: no space left on the device (${msg}); free space or use --root on a bigger disk`, exit: 1 };
  if (code === 'EACCES' || code === 'EPERM') return { line: `oci-s2i: permission denied (${msg}); check the path's owner or run with --root in a directory you own`, exit: 1 };
  return { line: `oci-s2i: unexpected error: ${msg}${debug && e instanceof Error && e.stack ? `\n${e.stack}` : ' (run with --debug for details)'}`, exit: 1 };
}

/**
 * The error as --json prints it: one object on stderr, where the JSON progress events go, with the stable
 * `code` (an S2IError code, else the system's errno code, else ERR_UNEXPECTED), the exit code and the message
 * the plain line would have (without its `oci-s2i: ` prefix).
 */
function errorJson(e: unknown, debug: boolean): string {
  const { line, exit } = describeError(e, false);
  const code = e instanceof S2IError ? e.code : (errorCode(e) ?? 'ERR_UNEXPECTED');
  const stack = debug && e instanceof Error && e.stack ? { stack: e.stack } : {};
  return JSON.stringify({ type: 'error', code, exit, message: line.replace(/^oci-s2i: /, ''), ...stack });
}

/** The one line (or, with --json, the one JSON object) for `e`, and its exit code. */
function reportError(e: unknown, debug: boolean, json: boolean): number {
  const { line, exit } = describeError(e, debug);
  process.stderr.write((json ? errorJson(e, debug) : line) + '\n');
  return exit;
}

/** --json given before any `--` (the flags are not parsed yet where errors may already happen). */
function wantsJson(rest: readonly string[]): boolean {
  const end = rest.indexOf('--');
  return (end < 0 ? rest : rest.slice(0, end)).includes('--json');
}

export async function main(args: string[]): Promise<number> {
  // A re-executed CLI gets its secret flag values from its environment; none of them shows in the process title.
  const argv = revealSecretArgs(args);
  maskProcessTitle(argv);
  const [name, ...rest] = argv;
  // `help COMMAND` (s2i's `s2i help build`): that command's usage, as `COMMAND --help` prints it.
  if (name === 'help' && rest[0] !== undefined && !rest[0].startsWith('-')) return main([rest[0], '--help']);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await topUsage());
    return name ? 0 : ExitCode.usage;
  }
  if (name === '--version') return main(['version']);
  const entry = findCommand(name);
  const debug = rest.includes('--debug');
  const json = wantsJson(rest);
  try {
    if (!entry) throw new S2IError('ERR_USAGE', `unknown command "${name}": run \`oci-s2i --help\` for the list`);
    const wantsHelp = rest.some((a) => a === '--help' || a === '-h');
    if (entry.namespace && !namespaceMode() && !wantsHelp && !runsWithoutNamespace(argv)) {
      // Flags are parsed (and usage errors reported) by the re-executed process.
      const quiet = rest.some((a) => a === '-q' || a === '--quiet');
      // --isolation sandbox: no fallback (no single-ID map where newuidmap fails, no user namespace for root).
      const strict = rest.some((a, i) => a === '--isolation=sandbox' || (a === '--isolation' && rest[i + 1] === 'sandbox'));
      const hidden = hideSecretArgs(argv);
      Object.assign(process.env, hidden.env);
      return await reexecInNamespace([process.argv[1]!, ...hidden.argv], {
        fallbacks: !strict,
        onWarning: (m) => {
          if (json) process.stderr.write(JSON.stringify({ type: 'log', level: 'warn', message: m }) + '\n');
          else if (!quiet) process.stderr.write(`warning: ${m}\n`);
        },
      });
    }
    const cmd = await entry.load();
    const { positionals, values } = parseCommandArgs(cmd, rest);
    if (values.help) {
      process.stdout.write(usage(cmd));
      return 0;
    }
    const global: GlobalFlags = {
      quiet: values.quiet === true,
      json: values.json === true,
      debug: values.debug === true,
      loglevel: intFlag('loglevel', str(values.loglevel), 0, 5) ?? 0,
    };
    await askMissingPasswords(values, process.stderr);
    const controller = new AbortController();
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    interruptLockWaitsOn(controller.signal); // also the store's lock waits that were given no signal
    const guard = stallGuard(controller, debug, json);
    try {
      const code = await cmd.run({ positionals, values, global, signal: controller.signal, stdout: process.stdout, stderr: process.stderr });
      if (guard.stalled) throw guard.error;
      return interrupted ? ExitCode.interrupted : code;
    } catch (e) {
      throw guard.stalled ? guard.error : e;
    } finally {
      guard.off();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } catch (e) {
    return reportError(e, debug, json);
  }
}

/**
 * Never exit 0 from a command that did not finish. When the event loop empties while the command's promise is
 * still pending (a stream nobody will end, a promise nobody will settle), Node would exit 0 having done nothing
 * (issue 16: a tar entry with a negative size did that). The first time, the command is aborted with an internal
 * error, so everything that listens to the signal unwinds through its `finally` (locks, leases, temp dirs); if
 * the loop empties again with the command still pending, the build steps' cleanups are run here, the one line is
 * printed and the process exits 1.
 */
function stallGuard(controller: AbortController, debug: boolean, json: boolean): { readonly stalled: boolean; readonly error: S2IError; off(): void } {
  const error = new S2IError('ERR_INTERNAL_STALL', 'internal error: the command stopped without finishing (nothing was left to wait for); please report this with the --debug output');
  let stalled = false;
  let finishing = false;
  const onBeforeExit = (): void => {
    if (!stalled) {
      stalled = true;
      controller.abort(error);
      // Node emits 'beforeExit' again only if the loop got work: one more turn, so a command that ignores the
      // abort still reaches the second stage.
      setImmediate(() => {});
      return;
    }
    if (finishing) return;
    finishing = true;
    void (async () => {
      try {
        const { runPendingCleanups } = await import('../pipeline/steps.js');
        await runPendingCleanups();
      } finally {
        process.exit(reportError(error, debug, json));
      }
    })();
  };
  process.on('beforeExit', onBeforeExit);
  return {
    get stalled() {
      return stalled;
    },
    error,
    off: () => process.off('beforeExit', onBeforeExit),
  };
}
