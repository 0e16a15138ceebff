// containers-registries.conf(5), version 2 (and the deprecated version 1 in the main file), as containers/image's
// sysregistriesv2 reads it: one file's TOML parsed and checked (`parseRegistriesConf`, `parseAliasCache`), then the
// files merged in their loading order (`mergeRegistriesConf`). Pure: the files are read by registries-conf-files.ts,
// the rules that use the result (prefix match, mirrors, short names) are registries-rules.ts.
//
// Stricter than containers/image on purpose: an unknown key, a value of the wrong type and a prefix defined twice
// in one file are errors (containers/image ignores the first two and keeps the first of the third), so a typo in
// an air-gapped configuration is found at once instead of as a pull from the internet. Every error is one line
// naming the file (and the line when it can be found) and what to change: ERR_REGISTRIES_CONF, exit 64.
import { parse, TomlError } from 'smol-toml';
import { S2IError } from '../errors.js';
import { isValidPathComponent, isValidRegistryHost, parseReference } from '../oci/reference.js';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

/** Where a setting was read, for messages. */
export interface Origin {
  file: string;
  line?: number;
}

export interface MirrorEntry {
  /** host[:port][/namespace…], without a trailing "/". */
  location: string;
  insecure: boolean;
  /** Unset: "all" (unless the registry says mirror-by-digest-only). */
  pullFromMirror?: PullFromMirror;
  origin: Origin;
}

export interface RegistryEntry {
  /** What image names are matched against: host[:port][/namespace…][:tag|@digest], or "*.example.com". */
  prefix: string;
  /** Where the prefix's namespace really is ('' only for a wildcard prefix: no rewrite). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
  origin: Origin;
}

/** A short-name alias; `value` undefined: reset by an empty string (no alias). */
export interface Alias {
  value: string | undefined;
  origin: Origin;
}

/** One file, parsed and checked. Fields the file does not set are absent (they do not override on merge). */
export interface ConfFile {
  file: string;
  registries: RegistryEntry[];
  search?: string[];
  shortNameMode?: ShortNameMode;
  aliases: Map<string, Alias>;
}

/** The configuration in effect. */
export interface RegistriesConf {
  /** Every file read, in loading order; empty when there is no registries.conf at all. */
  files: string[];
  /** At most one entry per prefix. */
  registries: RegistryEntry[];
  /** unqualified-search-registries, and the file that set it. */
  search: string[];
  searchOrigin?: string;
  /** Default "permissive", as containers/image. */
  shortNameMode: ShortNameMode;
  /** registries.conf aliases, merged; `aliasCache` (short-name-aliases.conf) is looked at first. */
  aliases: Map<string, Alias>;
  aliasCache: Map<string, Alias>;
}

const TOP_KEYS = ['unqualified-search-registries', 'registry', 'short-name-mode', 'aliases', 'credential-helpers', 'additional-layer-store-auth-helper'];
const REGISTRY_KEYS = ['prefix', 'location', 'insecure', 'blocked', 'mirror-by-digest-only', 'mirror'];
const MIRROR_KEYS = ['location', 'insecure', 'pull-from-mirror'];
const MODES: readonly ShortNameMode[] = ['enforcing', 'permissive', 'disabled'];
const PULL_FROM: readonly PullFromMirror[] = ['all', 'digest-only', 'tag-only'];

export function confError(origin: Origin, what: string): S2IError {
  return new S2IError('ERR_REGISTRIES_CONF', `${where(origin)}: ${what}`);
}

export function where(o: Origin): string {
  return o.line === undefined ? o.file : `${o.file}:${o.line}`;
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Lines of the file, to name the line of a table or key: smol-toml reports lines for syntax errors only. The n-th
 * `[[registry]]` header is the n-th registry; a key is looked for between its table's header and the next one.
 */
class Lines {
  private readonly lines: string[];
  private readonly registries: number[] = [];
  private readonly headers: number[] = [];

  constructor(text: string) {
    this.lines = text.split(/\r?\n/);
    this.lines.forEach((l, i) => {
      if (/^\s*\[/.test(l)) this.headers.push(i + 1);
      if (/^\s*\[\[\s*registry\s*\]\]/.test(l)) this.registries.push(i + 1);
    });
  }

  /** The first line that matches `re`. */
  header(re: RegExp): number | undefined {
    const i = this.lines.findIndex((l) => re.test(l));
    return i < 0 ? undefined : i + 1;
  }

  /** The header line of registry `i`, when the file writes its registries as `[[registry]]` tables. */
  registry(i: number, count: number): number | undefined {
    return this.registries.length === count ? this.registries[i] : undefined;
  }

  /** The header line of mirror `j` of the registry whose header is at `from`. */
  mirror(from: number | undefined, j: number): number | undefined {
    if (from === undefined) return undefined;
    const end = this.registries.find((l) => l > from) ?? Infinity;
    const mirrors = this.lines.map((l, i) => (i + 1 > from && i + 1 < end && /^\s*\[\[\s*registry\.mirror\s*\]\]/.test(l) ? i + 1 : 0)).filter((l) => l > 0);
    return mirrors[j];
  }

  /** The line of `key = …` in the table whose header is at `from` (0: the top level, before any header). */
  key(from: number | undefined, key: string): number | undefined {
    if (from === undefined) return undefined;
    const end = this.headers.find((l) => l > from) ?? this.lines.length + 1;
    const quoted = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`^\\s*(?:${quoted}|"${quoted}"|'${quoted}')\\s*=`);
    for (let n = from + 1; n < end; n++) if (re.test(this.lines[n - 1]!)) return n;
    return undefined;
  }
}

interface Ctx {
  file: string;
  lines: Lines;
}

/** Where `key` of the table at `header` is: its line, else (top level) its own table's header, else the table's. */
function at(ctx: Ctx, header: number | undefined, key: string): Origin {
  const line = ctx.lines.key(header, key) ?? (header === 0 ? findHeader(ctx, key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : header);
  return line === undefined ? { file: ctx.file } : { file: ctx.file, line };
}

function unknownKeys(ctx: Ctx, t: Table, allowed: readonly string[], table: string, header: number | undefined): void {
  for (const k of Object.keys(t)) {
    if (allowed.includes(k)) continue;
    const hint = k === 'pull-from-mirror' ? '; it belongs in a [[registry.mirror]] table' : `; the keys of ${table} are ${allowed.join(', ')}`;
    throw confError(at(ctx, header, k), `unknown key "${k}" in ${table}${hint}`);
  }
}

function str(ctx: Ctx, t: Table, key: string, table: string, header: number | undefined): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw confError(at(ctx, header, key), `${key} in ${table} must be a string, not ${describe(v)}`);
  return v;
}

function bool(ctx: Ctx, t: Table, key: string, table: string, header: number | undefined): boolean {
  const v = t[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw confError(at(ctx, header, key), `${key} in ${table} must be true or false, not ${describe(v)}`);
  return v;
}

function strings(ctx: Ctx, t: Table, key: string, header: number | undefined): string[] | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw confError(at(ctx, header, key), `${key} must be an array of strings, e.g. ["registry.example.com"]`);
  }
  return v as string[];
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (isTable(v)) return 'a table';
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40) ?? ''}`.trim();
}

/** host[:port] as containers/image's domain rule has it (a dot, a port or "localhost": not a path component). */
function isHost(h: string): boolean {
  return isValidRegistryHost(h) && (h.includes('.') || h.includes(':') || h === 'localhost' || h.startsWith('['));
}

/** host[:port][/namespace…]: what a location (and most prefixes) names. */
function isNamespace(s: string): boolean {
  const slash = s.indexOf('/');
  const host = slash < 0 ? s : s.slice(0, slash);
  if (!isHost(host)) return false;
  return slash < 0 || s.slice(slash + 1).split('/').every(isValidPathComponent);
}

/** A prefix: a namespace, an image with its tag or digest, or "*.example.com". */
function isPrefix(s: string): boolean {
  if (s.startsWith('*.')) return !/[/@:]/.test(s) && isValidRegistryHost(s.slice(2));
  if (isNamespace(s)) return true;
  try {
    return parseReference(s).shortName === undefined;
  } catch {
    return false;
  }
}

/** containers/image's parseLocation: trailing "/" dropped, URL schemes refused. */
function location(origin: Origin, key: string, v: string, valid: (s: string) => boolean, example: string): string {
  const s = v.replace(/\/+$/, '');
  if (/^https?:\/\//.test(s)) throw confError(origin, `${key} "${v}" has a URL scheme: write host[:port][/path] (insecure = true allows plain HTTP)`);
  if (!valid(s)) throw confError(origin, `${key} "${v.slice(0, 200)}" is not ${example}`);
  return s;
}

function parseMirror(ctx: Ctx, m: unknown, regLine: number | undefined, j: number, digestOnly: boolean): MirrorEntry {
  const line = ctx.lines.mirror(regLine, j);
  const origin = { file: ctx.file, ...(line !== undefined || regLine !== undefined ? { line: line ?? regLine! } : {}) };
  if (!isTable(m)) throw confError(origin, 'each [[registry.mirror]] must be a table with a location');
  unknownKeys(ctx, m, MIRROR_KEYS, '[[registry.mirror]]', line);
  const loc = str(ctx, m, 'location', '[[registry.mirror]]', line);
  if (!loc) throw confError(origin, '[[registry.mirror]] has no location: set location = "host[:port][/path]"');
  const pull = str(ctx, m, 'pull-from-mirror', '[[registry.mirror]]', line);
  if (pull !== undefined && pull !== '' && !PULL_FROM.includes(pull as PullFromMirror)) {
    throw confError(origin, `pull-from-mirror "${pull.slice(0, 40)}" is not one of ${PULL_FROM.join(', ')}`);
  }
  if (pull && digestOnly) {
    throw confError(origin, 'pull-from-mirror cannot be set on a mirror of a registry with mirror-by-digest-only = true: keep one of the two');
  }
  return {
    location: location(origin, 'mirror location', loc, isNamespace, 'host[:port][/path]'),
    insecure: bool(ctx, m, 'insecure', '[[registry.mirror]]', line),
    ...(pull ? { pullFromMirror: pull as PullFromMirror } : {}),
    origin,
  };
}

function parseRegistry(ctx: Ctx, r: unknown, i: number, count: number): RegistryEntry {
  const line = ctx.lines.registry(i, count);
  const origin = { file: ctx.file, ...(line !== undefined ? { line } : {}) };
  if (!isTable(r)) throw confError(origin, '[[registry]] entries must be tables');
  unknownKeys(ctx, r, REGISTRY_KEYS, '[[registry]]', line);
  const rawLoc = str(ctx, r, 'location', '[[registry]]', line) ?? '';
  const rawPrefix = str(ctx, r, 'prefix', '[[registry]]', line) ?? '';
  const loc = rawLoc === '' ? '' : location(origin, 'location', rawLoc, isNamespace, 'host[:port][/path]');
  let prefix: string;
  if (rawPrefix === '') {
    if (loc === '') throw confError(origin, '[[registry]] has neither prefix nor location: set location (and prefix to remap a name)');
    prefix = loc;
  } else {
    prefix = location(origin, 'prefix', rawPrefix, isPrefix, 'host[:port][/path][:tag|@digest] or *.example.com');
    if (loc === '' && !prefix.startsWith('*.')) throw confError(origin, `[[registry]] prefix "${prefix}" has no location: set location (only a *.example.com prefix may go without)`);
  }
  const mirrorByDigestOnly = bool(ctx, r, 'mirror-by-digest-only', '[[registry]]', line);
  const rawMirrors = r.mirror ?? [];
  if (!Array.isArray(rawMirrors)) throw confError(origin, 'mirror must be an array of tables: write each one as [[registry.mirror]]');
  return {
    prefix,
    location: loc,
    insecure: bool(ctx, r, 'insecure', '[[registry]]', line),
    blocked: bool(ctx, r, 'blocked', '[[registry]]', line),
    mirrorByDigestOnly,
    mirrors: rawMirrors.map((m, j) => parseMirror(ctx, m, line, j, mirrorByDigestOnly)),
    origin,
  };
}

/** One prefix per file, and one `insecure`/`blocked` per location (containers/image checks the second only). */
function checkConflicts(entries: RegistryEntry[]): void {
  const byPrefix = new Map<string, RegistryEntry>();
  const byLocation = new Map<string, RegistryEntry>();
  for (const e of entries) {
    const first = byPrefix.get(e.prefix);
    if (first) {
      throw confError(e.origin, `prefix "${e.prefix}" is already defined at ${where(first.origin)}: merge the two [[registry]] tables into one (a later drop-in file may override a prefix, one file may not define it twice)`);
    }
    byPrefix.set(e.prefix, e);
    const key = e.location || e.prefix;
    const other = byLocation.get(key);
    if (other) {
      for (const [k, a, b] of [['insecure', e.insecure, other.insecure], ['blocked', e.blocked, other.blocked]] as const) {
        if (a !== b) throw confError(e.origin, `registry "${key}" is also defined at ${where(other.origin)} with ${k} = ${b}: give both the same ${k}`);
      }
    } else byLocation.set(key, e);
  }
}

/** An alias name: a short name (no registry), without tag or digest. */
function checkAliasName(origin: Origin, name: string): void {
  let ok = false;
  try {
    ok = parseReference(name).shortName !== undefined && !/[:@]/.test(name);
  } catch {
    ok = false;
  }
  if (!ok) throw confError(origin, `alias name "${name.slice(0, 100)}" must be a short name without registry, tag or digest (e.g. "myimage" or "ns/myimage")`);
}

/** An alias value: a fully qualified name without tag or digest. */
function checkAliasValue(origin: Origin, name: string, value: string): void {
  let ok = false;
  try {
    const slash = value.lastIndexOf('/');
    ok = parseReference(value).shortName === undefined && !value.includes('@') && !value.slice(slash + 1).includes(':');
  } catch {
    ok = false;
  }
  if (!ok) throw confError(origin, `alias "${name}" = "${value.slice(0, 100)}" must be a fully qualified name without tag or digest (e.g. "quay.io/ns/myimage")`);
}

function parseAliases(ctx: Ctx, v: unknown): Map<string, Alias> {
  const out = new Map<string, Alias>();
  if (v === undefined) return out;
  const header = ctx.lines.key(0, 'aliases') ?? findHeader(ctx, 'aliases');
  if (!isTable(v)) throw confError({ file: ctx.file, ...(header ? { line: header } : {}) }, 'aliases must be a table: [aliases] then "name" = "registry.example.com/ns/name" lines');
  for (const [name, value] of Object.entries(v)) {
    const line = ctx.lines.key(header, name);
    const origin = { file: ctx.file, ...(line !== undefined ? { line } : {}) };
    if (typeof value !== 'string') throw confError(origin, `alias "${name}" must be a string`);
    checkAliasName(origin, name);
    if (value !== '') checkAliasValue(origin, name, value);
    out.set(name, { value: value === '' ? undefined : value, origin });
  }
  return out;
}

function findHeader(ctx: Ctx, table: string): number | undefined {
  return ctx.lines.header(new RegExp(`^\\s*\\[\\[?\\s*${table}\\s*\\]`));
}

function parseToml(file: string, text: string): Table {
  try {
    return parse(text) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const what = e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw confError({ file, line: e.line }, `invalid TOML: ${what} (column ${e.column}); fix the syntax (https://toml.io)`);
    }
    throw e;
  }
}

/** The deprecated version 1 format ([registries.search], .insecure, .block), converted as containers/image does. */
function fromV1(ctx: Ctx, v1: unknown, line: number | undefined): Pick<ConfFile, 'registries' | 'search'> {
  const origin = { file: ctx.file, ...(line !== undefined ? { line } : {}) };
  const lists: Record<string, string[]> = {};
  if (!isTable(v1)) throw confError(origin, 'registries must be a table (version 1 format: [registries.search] registries = [...])');
  for (const [k, t] of Object.entries(v1)) {
    if (!['search', 'insecure', 'block'].includes(k) || !isTable(t)) throw confError(origin, `unknown table [registries.${k}]: version 1 knows search, insecure and block`);
    unknownKeys(ctx, t, ['registries'], `[registries.${k}]`, undefined);
    lists[k] = strings(ctx, t, 'registries', undefined) ?? [];
  }
  const entries = new Map<string, RegistryEntry>();
  const entry = (loc: string): RegistryEntry => {
    const l = location(origin, 'registry', loc, isNamespace, 'host[:port][/path]');
    let e = entries.get(l);
    if (!e) entries.set(l, (e = { prefix: l, location: l, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [], origin }));
    return e;
  };
  for (const l of lists.block ?? []) entry(l).blocked = true;
  for (const l of lists.insecure ?? []) entry(l).insecure = true;
  return { registries: [...entries.values()], ...(lists.search ? { search: lists.search } : {}) };
}

/**
 * Parses one registries.conf file. `dropIn`: a file of a registries.conf.d directory, which must use the version 2
 * format (as containers/image requires).
 */
export function parseRegistriesConf(text: string, file: string, opts: { dropIn?: boolean } = {}): ConfFile {
  const doc = parseToml(file, text);
  const ctx: Ctx = { file, lines: new Lines(text) };
  const v1 = doc.registries;
  const v2Keys = Object.keys(doc).filter((k) => k !== 'registries');
  if (v1 !== undefined) {
    const line = findHeader(ctx, 'registries\\.[a-z]+');
    if (opts.dropIn) throw confError({ file, ...(line ? { line } : {}) }, 'drop-in files must use the version 2 format ([[registry]] tables, unqualified-search-registries), not [registries.*]');
    const known = v2Keys.filter((k) => TOP_KEYS.includes(k));
    if (known.length > 0) throw confError({ file, ...(line ? { line } : {}) }, `mixes the version 1 format ([registries.*]) with version 2 keys (${known.join(', ')}): convert it to version 2`);
  }
  unknownKeys(ctx, Object.fromEntries(v2Keys.map((k) => [k, doc[k]])), TOP_KEYS, 'registries.conf', 0);
  const rawRegs = doc.registry ?? [];
  if (!Array.isArray(rawRegs)) throw confError({ file, ...(findHeader(ctx, 'registry') ? { line: findHeader(ctx, 'registry')! } : {}) }, 'registry must be an array of tables: write each one as [[registry]]');
  const base = v1 !== undefined ? fromV1(ctx, v1, findHeader(ctx, 'registries\\.[a-z]+')) : { registries: rawRegs.map((r, i) => parseRegistry(ctx, r, i, rawRegs.length)) };
  checkConflicts(base.registries);
  const searchRaw = base.search ?? strings(ctx, doc, 'unqualified-search-registries', 0);
  const searchLine = ctx.lines.key(0, 'unqualified-search-registries');
  const search = searchRaw?.map((s) => location({ file, ...(searchLine ? { line: searchLine } : {}) }, 'unqualified-search-registries entry', s, isHost, 'host[:port]'));
  const mode = str(ctx, doc, 'short-name-mode', 'registries.conf', 0);
  if (mode !== undefined && mode !== '' && !MODES.includes(mode as ShortNameMode)) {
    const line = ctx.lines.key(0, 'short-name-mode');
    throw confError({ file, ...(line ? { line } : {}) }, `short-name-mode "${mode.slice(0, 40)}" is not one of ${MODES.join(', ')}`);
  }
  strings(ctx, doc, 'credential-helpers', 0);
  str(ctx, doc, 'additional-layer-store-auth-helper', 'registries.conf', 0);
  return {
    file,
    registries: base.registries,
    ...(search ? { search } : {}),
    ...(mode ? { shortNameMode: mode as ShortNameMode } : {}),
    aliases: parseAliases(ctx, doc.aliases),
  };
}

/** short-name-aliases.conf, the aliases podman records: an [aliases] table only. */
export function parseAliasCache(text: string, file: string): Map<string, Alias> {
  const doc = parseToml(file, text);
  const ctx: Ctx = { file, lines: new Lines(text) };
  unknownKeys(ctx, doc, ['aliases'], 'short-name-aliases.conf', 0);
  return parseAliases(ctx, doc.aliases);
}

/**
 * The files in loading order merged as containers/image merges drop-ins: a later file's [[registry]] replaces an
 * earlier one with the same prefix; unqualified-search-registries and short-name-mode replace the earlier value
 * when a later file sets them (an empty list too); aliases are merged name by name.
 */
export function mergeRegistriesConf(files: readonly ConfFile[], aliasCache: Map<string, Alias> = new Map()): RegistriesConf {
  const registries = new Map<string, RegistryEntry>();
  const aliases = new Map<string, Alias>();
  let search: string[] = [];
  let searchOrigin: string | undefined;
  let shortNameMode: ShortNameMode = 'permissive';
  for (const f of files) {
    for (const r of f.registries) registries.set(r.prefix, r);
    if (f.search) {
      search = f.search;
      searchOrigin = f.file;
    }
    if (f.shortNameMode) shortNameMode = f.shortNameMode;
    for (const [k, v] of f.aliases) aliases.set(k, v);
  }
  return {
    files: files.map((f) => f.file),
    registries: [...registries.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)),
    search,
    ...(searchOrigin ? { searchOrigin } : {}),
    shortNameMode,
    aliases,
    aliasCache,
  };
}
