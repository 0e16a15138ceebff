// What registries.conf (registries-conf.ts) says about one image name, as containers/image applies it: the
// [[registry]] table with the longest matching prefix (`findRegistry`), the endpoints a pull tries in order
// (`pullSources`: mirrors allowed for a tag or digest pull, then the rewritten location), where a push goes
// (`pushTarget`), and the names a short name stands for (`resolveShortName`). Pure: no I/O.
import { S2IError } from '../errors.js';
import { formatAsTyped, formatReference, parseReference, qualified, type Reference } from '../oci/reference.js';
import { confError, where, type RegistriesConf, type RegistryEntry } from './registries-conf.js';

/**
 * containers/image's refMatchingPrefix: the length of `name` that `prefix` matches (up to a separator), or -1.
 * Unlike containers/image, a host prefix does not match the same host with a port ("example.com" is not
 * "example.com:5000", which it documents as unintended).
 */
export function prefixMatch(name: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const at = name.indexOf(prefix.slice(1));
    if (at < 0 || name.slice(0, at).includes('/')) return -1;
    const end = at + prefix.length - 1;
    return end === name.length || ':/@'.includes(name[end]!) ? end : -1;
  }
  if (!name.startsWith(prefix)) return -1;
  if (name.length === prefix.length) return prefix.length;
  const next = name[prefix.length]!;
  if (next === '/' || next === '@') return prefix.length;
  // ":" after a bare host is its port, not a tag.
  return next === ':' && prefix.includes('/') ? prefix.length : -1;
}

/** The [[registry]] table for `name` (host/path[:tag][@digest]): the longest matching prefix, or none. */
export function findRegistry(conf: RegistriesConf, name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const r of conf.registries) {
    if (prefixMatch(name, r.prefix) >= 0 && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  return best;
}

/** `ref` with the part its registry's prefix matched replaced by `location` ('' keeps it). */
function rewrite(ref: Reference, entry: RegistryEntry, location: string): Reference {
  const name = formatReference(qualified(ref));
  if (location === '') return qualified(ref);
  const rewritten = location + name.slice(prefixMatch(name, entry.prefix));
  try {
    const out = parseReference(rewritten);
    if (out.shortName === undefined) return out;
  } catch {
    // worded below
  }
  throw confError(entry.origin, `rewriting ${name} with location "${location}" gives "${rewritten.slice(0, 200)}", which is not an image reference: fix prefix or location`);
}

/** One endpoint a pull may read from. */
export interface PullSource {
  /** The reference as that endpoint names it (mirror or rewritten location). */
  ref: Reference;
  mirror: boolean;
  /** TLS not verified and plain HTTP allowed (the endpoint's `insecure`). */
  insecure: boolean;
  /** The [[registry]] table that blocks this endpoint: it is not contacted. */
  blockedBy?: RegistryEntry;
}

/**
 * The endpoints a pull of `ref` tries, in order: the mirrors of its registry that this pull may use (none for a
 * tag with mirror-by-digest-only, and each mirror's pull-from-mirror), then the registry's location. Whether an
 * endpoint is blocked is decided by the table its own name matches (so a blocked registry with mirrors is pulled
 * through its mirrors only, as OpenShift's NeverContactSource configures it).
 */
export function pullSources(conf: RegistriesConf, ref: Reference): PullSource[] {
  const logical = qualified(ref);
  const entry = findRegistry(conf, formatReference(logical));
  const blockedBy = (r: Reference): RegistryEntry | undefined => {
    const e = findRegistry(conf, formatReference(r));
    return e?.blocked ? e : undefined;
  };
  const source = (r: Reference, mirror: boolean, insecure: boolean): PullSource => {
    const b = blockedBy(r);
    return { ref: r, mirror, insecure, ...(b ? { blockedBy: b } : {}) };
  };
  if (!entry) return [source(logical, false, false)];
  const digested = logical.digest !== undefined;
  const mirrors = entry.mirrors.filter((m) => {
    if (entry.mirrorByDigestOnly) return digested;
    if (m.pullFromMirror === 'digest-only') return digested;
    if (m.pullFromMirror === 'tag-only') return !digested;
    return true;
  });
  return [
    ...mirrors.map((m) => source(rewrite(logical, entry, m.location), true, m.insecure)),
    source(rewrite(logical, entry, entry.location), false, entry.insecure),
  ];
}

/** The refusal to use an endpoint a [[registry]] table blocks. */
export function blockedError(entry: RegistryEntry, name: string, op: 'pull' | 'push'): S2IError {
  const how = op === 'pull' ? 'pull through a mirror listed for it, or' : 'push elsewhere, or';
  return new S2IError('ERR_REGISTRY_BLOCKED', `${name} is blocked by registries.conf (prefix "${entry.prefix}", blocked = true at ${where(entry.origin)}): ${how} remove blocked there`);
}

/**
 * Where a push of `ref` goes: the location its registry's prefix maps to (never a mirror). A destination blocked by
 * its own table or by the table of the rewritten location is refused. (containers/image applies `location` to pulls
 * only; a build's push following the same rewrite as its pull is what an air-gapped setup wants.)
 */
export function pushTarget(conf: RegistriesConf, ref: Reference): { ref: Reference; insecure: boolean } {
  const logical = qualified(ref);
  const name = formatReference(logical);
  const entry = findRegistry(conf, name);
  if (!entry) return { ref: logical, insecure: false };
  if (entry.blocked) throw blockedError(entry, name, 'push');
  const target = rewrite(logical, entry, entry.location);
  const physical = findRegistry(conf, formatReference(target));
  if (physical?.blocked) throw blockedError(physical, formatReference(target), 'push');
  return { ref: target, insecure: entry.insecure };
}

export interface ShortNameResolution {
  /** Fully qualified references to try, in order. */
  candidates: Reference[];
  /** How they were found: the name was qualified already, no registries.conf (docker.io), an alias, search registries. */
  how: 'qualified' | 'default' | 'alias' | 'search';
  /** The file the alias or the search list came from. */
  origin?: string;
}

/**
 * The references a pull of `ref` tries (containers/image pkg/shortnames Resolve): a qualified name is itself; a
 * short name is its alias when there is one (short-name-aliases.conf first), else each unqualified-search registry
 * in order. With no registries.conf at all, a short name is on docker.io as before. There is no prompt: with
 * several search registries, `enforcing` refuses the name (as podman without a terminal), `permissive` and
 * `disabled` try them all in order.
 */
export function resolveShortName(conf: RegistriesConf, ref: Reference): ShortNameResolution {
  const short = ref.shortName;
  if (short === undefined) return { candidates: [ref], how: 'qualified' };
  if (conf.files.length === 0) return { candidates: [qualified(ref)], how: 'default' };
  const suffix = `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
  const typed = formatAsTyped(ref);
  const alias = conf.aliasCache.get(short) ?? conf.aliases.get(short);
  if (alias?.value !== undefined) return { candidates: [parseReference(alias.value + suffix)], how: 'alias', origin: where(alias.origin) };
  const files = conf.searchOrigin ?? conf.files.join(', ');
  if (conf.search.length === 0) {
    throw new S2IError(
      'ERR_SHORT_NAME',
      `short name "${typed}" has no alias and no unqualified-search-registries are set in ${files}: use a fully qualified name (e.g. docker.io/${ref.repository}${suffix}), or set unqualified-search-registries or an [aliases] entry`,
    );
  }
  const candidates = conf.search.map((host) => parseReference(`${host}/${typed}`));
  if (candidates.length > 1 && conf.shortNameMode === 'enforcing') {
    throw new S2IError(
      'ERR_SHORT_NAME',
      `short name "${typed}" is ambiguous with short-name-mode = "enforcing" (${files}): it could be ${candidates.map((c) => formatReference(c)).join(', ')}; use one of these names, or add an [aliases] entry for "${short}"`,
    );
  }
  return { candidates, how: 'search', origin: files };
}
