// The shape of a CLI command: name, summary, params (usage text is generated from these), and run(). Where it
// runs (in the namespace or not) is command-table.ts's: it is known there before the command is loaded.
import { parseArgs } from 'node:util';
import { S2IError } from '../errors.js';

export interface Param {
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** Value placeholder in usage, e.g. NAME=VALUE. */
  value?: string;
  description: string;
  default?: string | boolean;
  /** Validates each given value (throws a usage error); run by parseCommandArgs. */
  check?: (value: string) => void;
}

export interface GlobalFlags {
  quiet: boolean;
  json: boolean;
  debug: boolean;
  loglevel: number;
}

export interface Command {
  name: string;
  summary: string;
  /** Positional arguments, e.g. ['SOURCE', 'BUILDER', 'TAG']; a trailing `?` marks optional ones. */
  args: string[];
  params: Param[];
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  global: GlobalFlags;
  signal: AbortSignal;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export const globalParams: Param[] = [
  { name: 'quiet', short: 'q', type: 'boolean', description: 'print nothing but results and errors' },
  { name: 'json', type: 'boolean', description: 'machine-readable output: one JSON object per line on stderr, the result as JSON on stdout' },
  { name: 'debug', type: 'boolean', description: 'show stack traces and debug events' },
  { name: 'loglevel', type: 'string', value: 'N', description: 'verbosity 0-5 (s2i compatible); 2+ shows debug events' },
  { name: 'help', short: 'h', type: 'boolean', description: 'show help for the command' },
];

export function usage(cmd: Command): string {
  const shown = cmd.args.map((a) => (a.endsWith('?') ? `[${a.slice(0, -1)}]` : a));
  const lines = [`Usage: oci-s2i ${cmd.name} [flags] ${shown.join(' ')}`.trimEnd(), '', cmd.summary, '', 'Flags:'];
  for (const p of [...cmd.params, ...globalParams]) {
    const flag = `${p.short ? `-${p.short}, ` : '    '}--${p.name}${p.type === 'string' ? ` ${p.value ?? 'VALUE'}` : ''}`;
    const def = p.default !== undefined ? ` (default ${String(p.default)})` : '';
    lines.push(`  ${flag.padEnd(34)} ${p.description}${p.multiple ? ' (repeatable)' : ''}${def}`);
  }
  return lines.join('\n') + '\n';
}

export function parseCommandArgs(cmd: Command, argv: string[]): { positionals: string[]; values: CommandContext['values'] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const p of [...cmd.params, ...globalParams]) {
    options[p.name] = { type: p.type, ...(p.short ? { short: p.short } : {}), ...(p.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new S2IError('ERR_USAGE', `${(e as Error).message.split('\n')[0]}; see \`oci-s2i ${cmd.name} --help\``);
  }
  const values = parsed.values as CommandContext['values'];
  if (values.help) return { positionals: parsed.positionals, values };
  for (const p of [...cmd.params, ...globalParams]) {
    if (p.check) for (const x of list(values[p.name])) p.check(x);
  }
  const required = cmd.args.filter((a) => !a.endsWith('?') && !a.endsWith('...'));
  const max = cmd.args.some((a) => a.endsWith('...')) ? Infinity : cmd.args.length;
  if (parsed.positionals.length < required.length || parsed.positionals.length > max) {
    throw new S2IError(
      'ERR_USAGE',
      `${cmd.name} takes ${cmd.args.join(' ')}, got ${parsed.positionals.length} argument(s); see \`oci-s2i ${cmd.name} --help\``,
    );
  }
  return { positionals: parsed.positionals, values };
}

/**
 * A path flag that must not be empty: `--root ''` would otherwise resolve to the current directory and the
 * command would write its store there.
 */
export function nonEmptyPath(name: string): (value: string) => void {
  return (value) => {
    if (value === '') throw new S2IError('ERR_USAGE', `--${name} needs a directory, not an empty string`);
    if (value.includes('\0')) throw new S2IError('ERR_USAGE', `--${name} contains a NUL byte`);
  };
}

export function str(v: CommandContext['values'][string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function list(v: CommandContext['values'][string]): string[] {
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** `--tls-verify=false` style booleans given as strings. */
export function boolFlag(name: string, v: CommandContext['values'][string]): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new S2IError('ERR_USAGE', `--${name} takes true or false, not "${v}"`);
}

export function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new S2IError('ERR_USAGE', `--${name} must be one of ${allowed.join(', ')}, not "${v}"`);
  }
  return v as T;
}

export function intFlag(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new S2IError('ERR_USAGE', `--${name} must be an integer from ${min} to ${max}, not "${v}"`);
  }
  return n;
}
