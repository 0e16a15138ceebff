// `build --use-config` as s2i has it (pkg/config/config.go Restore/Save, pkg/cmd/cli/cmd/build.go): a switch. The
// build's SOURCE, BUILDER, TAG and flags are restored from `.s2ifile` in the current directory (`.stifile`, s2i's
// older name, with a warning) and, once the flags are checked, the build's own are saved there for the next run.
// s2i's JSON: {"source": "...", "builderImage": "...", "tag": "...", "flags": {"name": "value", "env-0": "A=1"}}:
// every value a string ("true" for a switch); `-e` as env-N keys, and so, in files this engine writes, every
// other list flag as NAME-N keys (s2i's own lists, "[a,b]" and `-i` "SRC:DST,SRC:DST", are read too).
// Arguments and flags given on the command line win; a list given there replaces the stored one (as -e does in
// s2i). A file of the earlier shape, a flat object of flag values by long name (`"incremental": true`) plus
// `source`, `builder`, `tag`, is still read. Secret flag values (--creds…) are never written.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { readInputFileSync } from '../sys/input-file.js';
import type { CommandContext, Param } from './command.js';
import { list } from './command.js';

type Values = CommandContext['values'];

const S2I_CONFIG_FILE = '.s2ifile';
const OLD_CONFIG_FILE = '.stifile';
const s2iKeys = ['source', 'builderImage', 'tag', 'flags'];
/** Never saved: credentials, and the switch itself is saved as s2i does ("use-config": "true"). */
const unsaved = new Set(['creds', 'src-creds', 'dest-creds', 'password', 'json', 'debug']);
/** s2i's VolumeList flags: String() joins items with ",", Set() splits them at ";". */
const volumeLists = new Set(['inject', 'runtime-artifact']);

function bad(file: string, why: string): S2IError {
  return new S2IError('ERR_USE_CONFIG', `--use-config: ${file} ${why}; fix or remove it (s2i's format: {"source","builderImage","tag","flags":{"name":"value"}})`);
}

export interface Restored {
  values: Values;
  positionals: string[];
  warnings: string[];
}

/**
 * Restores SOURCE, BUILDER, TAG and flags from `.s2ifile` in `dir` under the command line's. No file: nothing
 * restored (it is written after the flags are checked). A file that is not such a JSON object: ERR_USE_CONFIG.
 */
export function restoreS2iConfig(dir: string, values: Values, positionals: string[], params: Param[]): Restored {
  const warnings: string[] = [];
  let file = path.join(dir, S2I_CONFIG_FILE);
  let text: string | undefined;
  for (const [i, f] of [file, path.join(dir, OLD_CONFIG_FILE)].entries()) {
    try {
      text = readInputFileSync(f, { what: '--use-config', code: 'ERR_USE_CONFIG' }).toString('utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if (e instanceof S2IError) throw e;
      throw bad(f, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    file = f;
    if (i === 1) warnings.push(`${OLD_CONFIG_FILE} is deprecated: it is read now and ${S2I_CONFIG_FILE} written`);
    break;
  }
  if (text === undefined) return { values, positionals, warnings: [`no ${S2I_CONFIG_FILE} in ${dir}: nothing restored; it is written for the next build`] };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(file, `is not JSON (${(e as Error).message.slice(0, 100)})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad(file, 'is not a JSON object');
  const obj = doc as Record<string, unknown>;
  const s2iShape = Object.keys(obj).some((k) => s2iKeys.includes(k)) && !('builder' in obj);
  const stored = s2iShape ? fromS2i(file, obj, params, warnings) : fromFlat(file, obj, params);
  // s2i: SOURCE and BUILDER given replace the stored ones, and TAG when given too.
  const pos = positionals.length >= 2 ? [positionals[0]!, positionals[1]!, positionals[2] ?? stored.tag] : [positionals[0] ?? stored.source, stored.builder, stored.tag];
  while (pos.length > 0 && pos[pos.length - 1] === undefined) pos.pop();
  if (pos.some((x) => x === undefined)) throw bad(file, 'names no source or builder image');
  const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  return { values: { ...stored.values, ...given }, positionals: pos as string[], warnings };
}

interface Stored {
  source?: string;
  builder?: string;
  tag?: string;
  values: Values;
}

function str(file: string, obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw bad(file, `has a "${key}" that is not a string`);
  return v;
}

function fromS2i(file: string, obj: Record<string, unknown>, params: Param[], warnings: string[]): Stored {
  const flags = obj.flags ?? {};
  if (typeof flags !== 'object' || flags === null || Array.isArray(flags)) throw bad(file, 'has "flags" that is not an object');
  const values: Values = {};
  const indexed = new Map<string, Array<[number, string]>>();
  for (const [k, v] of Object.entries(flags as Record<string, unknown>)) {
    if (typeof v !== 'string') throw bad(file, `has flag "${k}" whose value is not a string`);
    if (k === 'use-config') continue;
    const m = /^(.+)-(\d+)$/.exec(k);
    const p = params.find((x) => x.name === k) ?? (m ? params.find((x) => x.name === m[1] && x.multiple) : undefined);
    if (!p) {
      warnings.push(`${file}: flag "${k.slice(0, 60)}" is not an oci-s2i build flag: ignored`);
      continue;
    }
    if (p.name !== k && m) {
      indexed.set(p.name, [...(indexed.get(p.name) ?? []), [Number(m[2]), v]]);
      continue;
    }
    if (p.type === 'boolean') {
      if (v !== 'true' && v !== 'false') throw bad(file, `has flag "${k}" = "${v.slice(0, 40)}": a switch is "true" or "false"`);
      values[k] = v === 'true';
    } else if (p.multiple) {
      const inner = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : undefined;
      values[k] = inner !== undefined ? (inner === '' ? [] : inner.split(',')) : volumeLists.has(k) ? v.split(/[;,]/).filter(Boolean) : [v];
    } else {
      values[k] = v;
    }
    if (p.check) for (const x of p.type === 'boolean' ? [] : list(values[k])) p.check(x);
  }
  for (const [name, items] of indexed) values[name] = [...list(values[name]), ...items.sort((a, b) => a[0] - b[0]).map(([, v]) => v)];
  const source = str(file, obj, 'source');
  const builder = str(file, obj, 'builderImage');
  const tag = str(file, obj, 'tag');
  return { ...(source ? { source } : {}), ...(builder ? { builder } : {}), ...(tag ? { tag } : {}), values };
}

/** The earlier shape: flag values by long name, JSON-typed, plus source, builder and tag. */
function fromFlat(file: string, obj: Record<string, unknown>, params: Param[]): Stored {
  const values: Values = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'source' || k === 'builder' || k === 'tag') continue;
    const p = params.find((x) => x.name === k);
    if (!p || k === 'use-config') throw bad(file, `has unknown flag "${k.slice(0, 60)}"`);
    const ok = p.type === 'boolean' ? typeof v === 'boolean' : p.multiple ? (Array.isArray(v) && v.every((x) => typeof x === 'string')) || typeof v === 'string' : typeof v === 'string' || typeof v === 'number';
    if (!ok) throw bad(file, `has flag "${k}" of the wrong type (${p.type}${p.multiple ? ' list' : ''})`);
    values[k] = p.type === 'boolean' ? (v as boolean) : p.multiple ? (Array.isArray(v) ? (v as string[]) : [v as string]) : String(v);
    if (p.check) for (const x of list(values[k])) p.check(x);
  }
  const source = str(file, obj, 'source');
  const builder = str(file, obj, 'builder');
  const tag = str(file, obj, 'tag');
  return { ...(source ? { source } : {}), ...(builder ? { builder } : {}), ...(tag ? { tag } : {}), values };
}

/** Writes `.s2ifile` in `dir` in s2i's format (replaced whole). Returns a warning when it cannot be written. */
export function saveS2iConfig(dir: string, positionals: string[], values: Values, params: Param[]): string | undefined {
  const flags: Record<string, string> = {};
  for (const p of params) {
    const v = values[p.name];
    if (v === undefined || v === false || unsaved.has(p.name)) continue;
    if (p.type === 'boolean') flags[p.name] = String(v === true);
    else if (p.multiple) list(v).forEach((x, i) => (flags[`${p.name}-${i}`] = x));
    else if (typeof v === 'string') flags[p.name] = v;
  }
  flags['use-config'] = 'true';
  const [source, builderImage, tag] = positionals;
  const doc = { source, builderImage, ...(tag ? { tag } : {}), flags };
  const file = path.join(dir, S2I_CONFIG_FILE);
  try {
    writeFileSync(`${file}.tmp`, JSON.stringify(doc) + '\n', { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    return undefined;
  } catch (e) {
    return `--use-config: cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the next build restores nothing from it`;
  }
}
