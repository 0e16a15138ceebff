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
  { name: 'json', type: 'boolean', description: 'machine-readable output: one JSON object per line on stderr, the result as JSON on stdout; an error is one {"type":"error","code","exit","message"} object on stderr' },
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
    throw new S2IError('ERR_USAGE', `${parseArgsMessage(cmd, e)}; see \`oci-s2i ${cmd.name} --help\``);
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
 * Flags of s2i (and habits of podman, buildah and docker) that oci-s2i spells differently or does not need,
 * by name without dashes: what to use instead, for the one line an unknown flag gets.
 */
const flagEquivalents: Record<string, string> = {
  U: 'no docker daemon is used: leave out -U/--url',
  url: 'no docker daemon is used: leave out -U/--url',
  ca: 'no docker daemon is used; for a registry\'s CA use --cert-dir DIR',
  cert: 'no docker daemon is used; for registry client certificates use --cert-dir DIR',
  key: 'no docker daemon is used; for registry client certificates use --cert-dir DIR',
  tlsverify: 'use --tls-verify=true|false (for registries; no docker daemon is used)',
  insecure: 'use --tls-verify=false',
  'tls-verify-registry': 'use --tls-verify=false',
  pull: 'use -p/--pull-policy always|if-not-present|never',
  'env-file': 'use -E/--environment-file FILE',
  'build-arg': 'use --build-env NAME=VALUE (assemble only) or -e NAME=VALUE (kept in the image)',
  'registry-config': 'use --authfile FILE',
  'cap-add': 'assemble gets the default capability set; only --cap-drop changes it',
  'log-level': 'use --loglevel N',
  verbose: 'use --loglevel 2',
  'disable-compression': 'use --compression none',
  'dest-creds': 'use --creds USER[:PASSWORD]',
  'src-creds': 'use --creds USER[:PASSWORD]',
};

/** The one line for a parseArgs failure, in oci-s2i's words (Node's own message quotes and explains `--`). */
function parseArgsMessage(cmd: Command, e: unknown): string {
  const err = e as { code?: string; message?: string };
  const first = String(err.message ?? e).split('\n')[0]!;
  const quoted = /'([^']*)'/.exec(first)?.[1] ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = quoted.split('=')[0]!;
    const bare = flag.replace(/^-+/, '');
    const known = [...cmd.params, ...globalParams];
    const hint = Object.hasOwn(flagEquivalents, bare) ? flagEquivalents[bare] : nearFlag(bare, known);
    return `unknown flag ${flag.slice(0, 100)} for ${cmd.name}${hint ? `: ${hint}` : ''}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '-p, --pull-policy <value>' argument missing" / "Option '--rm' does not take an argument"
    const flag = quoted.replace(/ <value>$/, '');
    if (/argument missing/.test(first)) return `${flag} needs a value`;
    if (/does not take an argument/.test(first)) return `${flag} takes no value`;
  }
  return first.replace(/'/g, '');
}

/** `use --NAME` for a flag of this command one or two edits away (a typo), else undefined. */
function nearFlag(bare: string, known: readonly Param[]): string | undefined {
  if (bare.length < 3) return undefined;
  let best: { name: string; d: number } | undefined;
  for (const p of known) {
    const d = editDistance(bare, p.name);
    if (d <= 2 && (!best || d < best.d)) best = { name: p.name, d };
  }
  return best ? `did you mean --${best.name}?` : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
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
