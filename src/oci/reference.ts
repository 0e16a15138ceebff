// Image references, after distribution/reference (reference.go, normalize.go):
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [domain "/"] path-component ["/" path-component]*
//   domain    := host [":" port]          host = domain-name | "[" IPv6 "]"
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := [_.] | "__" | "-"+
//   tag       := [\w][\w.-]{0,127}
// Normalisation as docker does it: no domain → docker.io, one-component names on docker.io get "library/",
// no tag and no digest → tag "latest".
import { S2IError } from '../errors.js';
import { isValidDigest } from './digest.js';

export interface Reference {
  /** Normalised host[:port], lowercase; `docker.io` for Docker Hub. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  /**
   * Set when the input named no registry (a "short name", containers/image's IsShortName): the path as typed,
   * without tag or digest ("busybox", "library/busybox", "user/app"). `registry` is then docker.io, today's
   * default; a pull resolves the name by registries.conf's aliases and search registries when there is one
   * (registry/registries-rules.ts). Pushes and messages ignore it.
   */
  shortName?: string;
}

export const DOCKER_HUB = 'docker.io';
const GRAMMAR = '[docker://][HOST[:PORT]/]NAME[:TAG][@sha256:HEX]';
/** distribution/reference NameTotalLengthMax. */
const NAME_MAX = 255;

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^\w[\w.-]{0,127}$/;
const domainComponent = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const ipv6Bracketed = /^\[[0-9a-fA-F:.]+\]$/;
const hexIdentifier = /^[a-f0-9]{64}$/;

function invalid(input: string, why: string): S2IError {
  const shown = JSON.stringify(input.length > 300 ? `${input.slice(0, 300)}…` : input);
  return new S2IError('ERR_INVALID_REFERENCE', `invalid image reference ${shown}: ${why}; expected ${GRAMMAR}`);
}

/**
 * True when `s` is a valid registry host[:port] ([IPv6]:port too) as distribution/reference's domain rule defines
 * it: DNS labels of letters, digits and inner "-", and a port of 1-65535. The registry client checks every host
 * with it before it goes into a URL or a certs.d path.
 */
export function isValidRegistryHost(s: string): boolean {
  let host = s;
  let port: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return false;
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return false;
      port = rest.slice(1);
    }
    if (!ipv6Bracketed.test(host)) return false;
  } else {
    const colon = s.indexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      port = s.slice(colon + 1);
    }
    if (!host.split('.').every((c) => domainComponent.test(c))) return false;
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port)) return false;
    const n = Number(port);
    if (n < 1 || n > 65535) return false;
  }
  return true;
}

/** One path component of a repository name: lowercase letters and digits, separated by ".", "_", "__" or "-"s. */
export function isValidPathComponent(s: string): boolean {
  return pathComponent.test(s);
}

/** A repository path as it goes into /v2/NAME/ URLs: "/"-separated path components, at most 255 characters. */
export function isValidRepositoryPath(s: string): boolean {
  return s.length <= NAME_MAX && s.split('/').every(isValidPathComponent);
}

/** 1-128 characters of [A-Za-z0-9_.-], not starting with "." or "-". */
export function isValidTag(s: string): boolean {
  return tagPattern.test(s);
}

/** docker's splitDockerDomain heuristic: the first component is a host if it has "." or ":" or is localhost. */
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function parseReference(input: string): Reference {
  if (typeof input !== 'string') throw invalid(String(input), 'not a string');
  let s = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  if (s === '') throw invalid(input, 'empty reference');

  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
    if (!isValidDigest(digest)) throw invalid(input, 'the digest must be sha256:<64 lowercase hex> (or sha512:<128>)');
  }

  let tag: string | undefined;
  const lastSlash = s.lastIndexOf('/');
  const lastColon = s.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = s.slice(lastColon + 1);
    s = s.slice(0, lastColon);
    if (!isValidTag(tag)) throw invalid(input, 'a tag is 1-128 characters of [A-Za-z0-9_.-] and cannot start with "." or "-"');
    // "registry.example.com:5000" alone parses as docker.io/library/<host>:<port> in distribution; nobody
    // means that, so say what is missing instead of pulling a surprising Docker Hub image.
    if (!s.includes('/') && looksLikeHost(s.replace(/:.*/, '')) && /^[0-9]+$/.test(tag)) {
      throw invalid(input, 'this is a registry host and port with no repository; add /NAME');
    }
  }
  if (s === '') throw invalid(input, 'the repository name is empty');
  if (s.length > NAME_MAX) throw invalid(input, `the name is longer than ${NAME_MAX} characters`);

  let registry = DOCKER_HUB;
  let path = s;
  const firstSlash = s.indexOf('/');
  const hasHost = firstSlash >= 0 && looksLikeHost(s.slice(0, firstSlash));
  if (hasHost) {
    registry = s.slice(0, firstSlash);
    path = s.slice(firstSlash + 1);
    if (!isValidRegistryHost(registry)) throw invalid(input, `"${registry}" is not a valid registry host[:port]`);
    registry = registry.toLowerCase();
    if (registry === 'index.docker.io') registry = DOCKER_HUB;
  } else if (firstSlash < 0 && s.includes(':')) {
    throw invalid(input, 'a colon belongs only between the name and the tag');
  }

  if (path === '') throw invalid(input, 'the repository name is empty');
  for (const c of path.split('/')) {
    if (c === '') throw invalid(input, 'the repository name has an empty path component');
    if (!isValidPathComponent(c)) {
      const why = isValidPathComponent(c.toLowerCase())
        ? 'repository name must be lowercase'
        : `path component "${c}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`;
      throw invalid(input, why);
    }
  }
  if (registry === DOCKER_HUB && firstSlash < 0 && hexIdentifier.test(path)) {
    throw invalid(input, 'a 64-character hex string is an image ID, not a repository name');
  }
  const typed = path;
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;

  const ref: Reference = { registry, repository: path };
  if (!hasHost) ref.shortName = typed;
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** For messages: a short name as typed (`busybox:latest`), anything else as formatReference gives it. */
export function formatAsTyped(ref: Reference): string {
  if (ref.shortName === undefined) return formatReference(ref);
  return `${ref.shortName}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The reference without `shortName`: what a name resolved to, or a name that must not be resolved again. */
export function qualified(ref: Reference): Reference {
  const { shortName: _short, ...rest } = ref;
  return rest;
}

/** host/repository[:tag][@digest]; Docker Hub is shown as docker.io (never the API host). */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The host that serves the distribution API for a registry name (Docker Hub's differs from its name). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** Splits host[:port] / [v6]:port / bare v6 into the host part, lowercase, without brackets. */
function hostOnly(hostport: string): string {
  const s = hostport.trim().toLowerCase();
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    return close < 0 ? s : s.slice(1, close);
  }
  const colons = s.split(':').length - 1;
  if (colons === 1) return s.slice(0, s.indexOf(':'));
  return s; // no port, or a bare IPv6 address
}

function isLoopbackIPv4(s: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Expands an IPv6 literal to 8 groups of numbers; undefined when it is not one. */
function ipv6Groups(s: string): number[] | undefined {
  let text = s;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const o = v4.slice(2).map(Number);
    if (o.some((x) => x > 255)) return undefined;
    tail.push(o[0]! * 256 + o[1]!, o[2]! * 256 + o[3]!);
    text = `${v4[1]}`;
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  return [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
}

/** True for localhost, 127.0.0.0/8 and ::1 (also ::ffff:127.x.x.x), with or without a port. */
export function isLoopbackHost(hostport: string): boolean {
  const host = hostOnly(hostport);
  if (host === 'localhost' || isLoopbackIPv4(host)) return true;
  const g = ipv6Groups(host);
  if (!g) return false;
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true;
  // IPv4-mapped ::ffff:127.x.y.z
  return g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff && g[6]! >> 8 === 127;
}
