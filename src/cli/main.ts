// CLI entry: picks the command, re-executes inside the private (user) namespace when the command needs one,
// runs it, and maps errors to one line and a stable exit code (a stack only with --debug).
import { S2IError, ExitCode, errorCode } from '../errors.js';
import { namespaceMode, reexecInNamespace } from '../sandbox/namespace.js';
import type { Command, GlobalFlags } from './command.js';
import { parseCommandArgs, usage, intFlag, str } from './command.js';
import { buildCommand } from './commands/build.js';
import { runCommand } from './commands/run.js';
import { versionCommand } from './commands/version.js';
import { copyCommand } from './commands/copy.js';
import { inspectCommand } from './commands/inspect.js';
import { buildImageCommand } from './commands/build-image.js';
import { cacheCommand } from './commands/cache.js';
import { loginCommand } from './commands/login.js';
import { logoutCommand } from './commands/logout.js';
import { usageCommand } from './commands/usage.js';
import { rebuildCommand } from './commands/rebuild.js';
import { createCommand } from './commands/create.js';
import { completionCommand } from './commands/completion.js';
import { layerCommand } from './commands/layer.js';

export const commands: Command[] = [buildCommand, buildImageCommand, runCommand, copyCommand, inspectCommand, cacheCommand, loginCommand, logoutCommand, usageCommand, rebuildCommand, createCommand, layerCommand, completionCommand, versionCommand];

function topUsage(): string {
  const lines = ['Usage: oci-s2i COMMAND [flags] [args]', '', 'Daemonless, rootless Source-to-Image builds.', '', 'Commands:'];
  for (const c of commands) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run `oci-s2i COMMAND --help` for the flags of a command.');
  return lines.join('\n') + '\n';
}

export function describeError(e: unknown, debug: boolean): { line: string; exit: number } {
  if (e instanceof S2IError) {
    return { line: `oci-s2i: ${e.message}${debug && e.stack ? `\n${e.stack}` : ''}`, exit: e.exitCode };
  }
  const code = errorCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'ENOSPC') return { line: `oci-s2i: no space left on the device (${msg}); free space or use --root on a bigger disk`, exit: 1 };
  if (code === 'EACCES' || code === 'EPERM') return { line: `oci-s2i: permission denied (${msg}); check the path's owner or run with --root in a directory you own`, exit: 1 };
  return { line: `oci-s2i: unexpected error: ${msg}${debug && e instanceof Error && e.stack ? `\n${e.stack}` : ' (run with --debug for details)'}`, exit: 1 };
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return name ? 0 : ExitCode.usage;
  }
  if (name === '--version') return main(['version']);
  const cmd = commands.find((c) => c.name === name);
  const debug = rest.includes('--debug');
  try {
    if (!cmd) throw new S2IError('ERR_USAGE', `unknown command "${name}": run \`oci-s2i --help\` for the list`, { exitCode: ExitCode.usage });
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
    if (cmd.needsNamespace && !namespaceMode()) {
      return await reexecInNamespace([process.argv[1]!, ...argv], {
        onWarning: (m) => {
          if (!global.quiet) process.stderr.write(`warning: ${m}\n`);
        },
      });
    }
    const controller = new AbortController();
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const code = await cmd.run({ positionals, values, global, signal: controller.signal, stdout: process.stdout, stderr: process.stderr });
      return interrupted ? ExitCode.interrupted : code;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } catch (e) {
    const { line, exit } = describeError(e, debug);
    process.stderr.write(line + '\n');
    return exit;
  }
}
