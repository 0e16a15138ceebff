// Build environment (S2I-CONTRACT.md "Environment"): .s2i/environment, then -e NAME=VALUE, then -E files.
// Later wins. De-duplication keeps the LAST value at the FIRST position the name appeared, so a file's order
// is kept (the reference loses -E order) and an override does not move a variable around.

import path from 'node:path';
import { S2IError } from '../errors.js';
import { readInputFile } from '../sys/input-file.js';

export type EnvList = Array<[string, string]>;

/** Names a shell can export; dots and dashes are accepted because builders (and Kubernetes) use them. */
const nameRe = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isValidEnvName(name: string): boolean {
  return nameRe.test(name);
}

/**
 * Parse an environment file: `NAME=VALUE` lines, `#` comments, blank lines; split at the first `=`, name and
 * value trimmed, no quoting or expansion (as s2i). A line without `=` or with a bad name is ERR_ENV_SYNTAX
 * naming file:line.
 */
export function parseEnvironmentFile(text: string, fileName: string): EnvList {
  const out: EnvList = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const where = `${fileName}:${i + 1}`;
    if (eq < 0) {
      throw new S2IError('ERR_ENV_SYNTAX', `${where}: "${clip(line)}" is not NAME=VALUE; fix or comment out the line`);
    }
    const name = line.slice(0, eq).trim();
    if (!isValidEnvName(name)) {
      throw new S2IError('ERR_ENV_SYNTAX', `${where}: "${clip(name)}" is not a valid variable name (letters, digits, _ . -; not starting with a digit)`);
    }
    out.push([name, line.slice(eq + 1).trim()]);
  });
  return out;
}

/** Parse one `-e NAME=VALUE` flag (a usage error, exit 64, when malformed). The value is kept verbatim (may be empty, may contain `=`). */
export function parseEnvFlag(s: string): [string, string] {
  const eq = s.indexOf('=');
  if (eq < 0) {
    throw new S2IError('ERR_ENV_SYNTAX', `-e "${clip(s)}": use NAME=VALUE (an empty value is NAME=)`, { step: 'usage' });
  }
  const name = s.slice(0, eq);
  if (!isValidEnvName(name)) {
    throw new S2IError('ERR_ENV_SYNTAX', `-e "${clip(s)}": "${clip(name)}" is not a valid variable name; use NAME=VALUE`, { step: 'usage' });
  }
  return [name, s.slice(eq + 1)];
}

/** Later wins; each name keeps the position of its first appearance. */
export function dedupeEnv(list: EnvList): EnvList {
  const index = new Map<string, number>();
  const out: EnvList = [];
  for (const [k, v] of list) {
    const at = index.get(k);
    if (at === undefined) {
      index.set(k, out.length);
      out.push([k, v]);
    } else out[at] = [k, v];
  }
  return out;
}

/** Overlay `over` on `base` (e.g. image Env + build env): `NAME=VALUE` strings for an image config. */
export function mergeEnvStrings(base: string[], over: EnvList): string[] {
  const list: EnvList = base.map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? [e, ''] : [e.slice(0, eq), e.slice(eq + 1)];
  });
  return dedupeEnv([...list, ...over]).map(([k, v]) => `${k}=${v}`);
}

async function readEnvFile(file: string, label: string): Promise<string | undefined> {
  try {
    // Not readFile: a FIFO or device given as -E would block or stream forever (sys/input-file.ts).
    return (await readInputFile(file, { what: 'environment file', code: 'ERR_ENV_FILE' })).toString('utf8');
  } catch (e) {
    if (e instanceof S2IError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && label === '.s2i/environment') return undefined;
    throw new S2IError('ERR_ENV_FILE', `cannot read environment file ${file}: ${code ?? (e as Error).message}; check the path and its permissions`, {
      cause: e,
    });
  }
}

export interface BuildEnvironmentInput {
  sourceDir: string;
  /** -e NAME=VALUE, parsed (parseEnvFlag), in order. */
  env: EnvList;
  /** -E file, in order. */
  envFiles: string[];
}

/** .s2i/environment (optional) → -e flags → -E files; de-duplicated by dedupeEnv. */
export async function buildEnvironment(input: BuildEnvironmentInput): Promise<EnvList> {
  const all: EnvList = [];
  const s2iEnv = path.join(input.sourceDir, '.s2i', 'environment');
  const text = await readEnvFile(s2iEnv, '.s2i/environment');
  if (text !== undefined) all.push(...parseEnvironmentFile(text, s2iEnv));
  all.push(...input.env);
  for (const f of input.envFiles) {
    const t = await readEnvFile(f, f);
    all.push(...parseEnvironmentFile(t ?? '', f));
  }
  return dedupeEnv(all);
}

function clip(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}
