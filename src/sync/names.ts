// Names in a sync, all pure: what the command line's sources and destination say, which tags travel with an
// image rather than as images (the referrers tag schema and cosign's tags), and where an image goes at the
// destination. The rules (spec/sync.md):
//   registry → registry:  HOST/REPO:TAG → DEST_HOST/PREFIX/REPO:TAG; --scoped: DEST_HOST/PREFIX/HOST/REPO:TAG
//                         (a host's ":PORT" becomes "_PORT", as a path component cannot hold ":")
//   → oci:DIR / oci-archive:FILE:  one layout; each image named by its full name, HOST/REPO:TAG (or @DIGEST),
//                         in org.opencontainers.image.ref.name, so the way back knows where it came from
//   oci:DIR → registry:   the names read back, then the registry rule above
import { S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { formatReference, isValidPathComponent, isValidRegistryHost, parseReference, qualified, type Reference } from '../oci/reference.js';

/** How the command line's sources are read (`--src`): skopeo's names, `dir` being this tool's OCI layout. */
export type SourceKind = 'docker' | 'yaml' | 'oci' | 'oci-archive';
export type DestinationKind = 'docker' | 'oci' | 'oci-archive';

/** A source as the command line gives it (a YAML file is read later: yaml-source.ts). */
export type SourceArg =
  | { kind: 'docker'; ref: Reference; wholeRepository: boolean }
  | { kind: 'yaml'; file: string }
  | { kind: 'oci'; dir: string; name?: string }
  | { kind: 'oci-archive'; file: string; name?: string };

/** Where a sync writes. */
export type SyncDestination =
  | { kind: 'docker'; host: string; prefix: string }
  | { kind: 'oci'; dir: string }
  | { kind: 'oci-archive'; file: string };

export interface NamingOptions {
  /** Put the source registry's host in the destination path (skopeo's --scoped). */
  scoped?: boolean;
  /** Appended to every image tag (not to the companion tags, which name digests). */
  suffix?: string;
}

function usage(message: string): S2IError {
  return new S2IError('ERR_USAGE', message, { step: 'usage' });
}

const sourceKinds: Record<string, SourceKind> = { docker: 'docker', yaml: 'yaml', oci: 'oci', dir: 'oci', 'oci-archive': 'oci-archive' };
const destinationKinds: Record<string, DestinationKind> = { docker: 'docker', oci: 'oci', dir: 'oci', 'oci-archive': 'oci-archive' };

/** The tag a registry without the referrers API lists the referrers of `digest` under (distribution-spec v1.1). */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`.slice(0, 128);
}

/** cosign's tags for the signatures, attestations and SBOMs of `digest` (sigstore/cosign "tag-based discovery"). */
export function cosignTags(digest: string): string[] {
  const t = referrersTag(digest);
  return ['sig', 'att', 'sbom'].map((s) => `${t}.${s}`);
}

/** Tags that travel with the image whose digest they name, never as images of their own. */
export function isCompanionTag(tag: string): boolean {
  return /^(?:sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(?:\.(?:sig|att|sbom))?$/.test(tag);
}

/**
 * An image (`HOST/REPO:TAG`, `…@DIGEST`) or a whole repository (`HOST/REPO`, no tag: every tag of it), the way
 * skopeo sync's `--src docker` reads it. `docker://` is allowed in front.
 */
export function parseImageOrRepository(s: string): { ref: Reference; wholeRepository: boolean } {
  const ref = parseReference(s);
  const bare = s.replace(/^docker:\/\//, '');
  const name = bare.split('@')[0]!;
  const tagged = name.lastIndexOf(':') > name.lastIndexOf('/');
  const wholeRepository = !tagged && ref.digest === undefined;
  if (!wholeRepository) return { ref, wholeRepository };
  const { tag: _latest, ...repository } = ref;
  return { ref: repository, wholeRepository };
}

/** `docker://HOST[:PORT][/PREFIX]` (a registry and a repository prefix, no tag). */
function parseRegistryDestination(input: string, rest: string): SyncDestination {
  const trimmed = rest.replace(/\/+$/, '');
  const [host = '', ...prefix] = trimmed.split('/');
  if (host === '' || !isValidRegistryHost(host)) {
    throw usage(`the destination ${JSON.stringify(input)} does not start with a registry HOST[:PORT]; give docker://HOST[:PORT][/PREFIX]`);
  }
  for (const c of prefix) {
    if (!isValidPathComponent(c)) {
      const why = c.includes(':') || c.includes('@') ? 'a sync destination is a registry and a prefix, without a tag or digest' : `"${c}" is not a repository path component (lowercase letters and digits separated by ".", "_", "__" or "-")`;
      throw usage(`the destination ${JSON.stringify(input)}: ${why}`);
    }
  }
  return { kind: 'docker', host: host.toLowerCase(), prefix: prefix.join('/') };
}

function pathOf(input: string, value: string, what: string): string {
  if (value === '') throw usage(`the ${what} ${JSON.stringify(input)} has no path`);
  if (value.includes('\0')) throw usage(`the ${what} ${JSON.stringify(input)} contains a NUL byte`);
  return value;
}

/**
 * The destination: a location (`docker://HOST[/PREFIX]`, `oci:DIR`, `oci-archive:FILE`), or, after a
 * `--dest` kind (`docker`, `oci`, `dir`, `oci-archive`), a bare host/prefix or path. A bare `HOST[:PORT][/…]` is a
 * registry.
 */
export function parseSyncDestination(input: string, kind?: string): SyncDestination {
  const k = kind === undefined ? undefined : destinationKinds[kind];
  if (kind !== undefined && k === undefined) throw usage(`--dest must be one of docker, oci, dir, oci-archive or a location, not "${kind}"`);
  if (input.startsWith('docker://')) return parseRegistryDestination(input, input.slice('docker://'.length));
  if (input.startsWith('oci:') && k !== 'oci-archive') return { kind: 'oci', dir: pathOf(input, input.slice(4), 'destination') };
  if (input.startsWith('oci-archive:')) return { kind: 'oci-archive', file: pathOf(input, input.slice(12), 'destination') };
  if (k === 'oci') return { kind: 'oci', dir: pathOf(input, input, 'destination') };
  if (k === 'oci-archive') return { kind: 'oci-archive', file: pathOf(input, input, 'destination') };
  const host = input.split('/')[0] ?? '';
  if (k === 'docker' || host.includes('.') || host.includes(':') || host === 'localhost') return parseRegistryDestination(input, input);
  throw usage(`cannot tell what the destination ${JSON.stringify(input)} is: give docker://HOST[:PORT][/PREFIX], oci:DIR or oci-archive:FILE`);
}

/** One source argument, read as `kind` says (`--src`), else by its own prefix (a bare name is an image or repository). */
export function parseSourceArg(input: string, kind?: string): SourceArg {
  const k = kind === undefined ? undefined : sourceKinds[kind];
  if (kind !== undefined && k === undefined) throw usage(`--src must be one of docker, yaml, oci, dir, oci-archive or a location, not "${kind}"`);
  const named = (rest: string, what: 'oci' | 'oci-archive'): SourceArg => {
    // As everywhere else, the path ends at the first ':' (a layout's entry names contain ':' themselves).
    const colon = rest.indexOf(':');
    const p = pathOf(input, colon < 0 ? rest : rest.slice(0, colon), 'source');
    const name = colon < 0 ? undefined : rest.slice(colon + 1);
    if (what === 'oci') return name ? { kind: 'oci', dir: p, name } : { kind: 'oci', dir: p };
    return name ? { kind: 'oci-archive', file: p, name } : { kind: 'oci-archive', file: p };
  };
  if (k === 'yaml') return { kind: 'yaml', file: pathOf(input, input.replace(/^yaml:/, ''), 'source') };
  if (input.startsWith('oci-archive:')) return named(input.slice(12), 'oci-archive');
  if (input.startsWith('oci:')) return named(input.slice(4), 'oci');
  if (k === 'oci' || k === 'oci-archive') return named(input, k);
  try {
    return { kind: 'docker', ...parseImageOrRepository(input) };
  } catch (e) {
    if (e instanceof S2IError) throw usage(`the source ${e.message.replace(/^invalid image reference /, '')}`);
    throw e;
  }
}

/** A registry host as one repository path component (--scoped): lowercase, ":PORT" → "_PORT", "[v6]" unsupported. */
function hostComponent(host: string): string {
  const c = host.toLowerCase().replace(':', '_');
  if (!isValidPathComponent(c)) throw usage(`--scoped cannot put the registry ${host} into a repository path; sync it without --scoped`);
  return c;
}

/** Where the image `name` (its full source name) goes. `companion`: a referrers or cosign tag (no suffix). */
export function destinationName(name: Reference, dest: SyncDestination, opts: NamingOptions = {}, companion = false): Reference {
  const out: Reference = { registry: name.registry, repository: name.repository };
  if (name.tag !== undefined) out.tag = companion || !opts.suffix ? name.tag : `${name.tag}${opts.suffix}`;
  if (name.digest !== undefined) out.digest = name.digest;
  if (dest.kind !== 'docker') return out;
  const parts = [dest.prefix, opts.scoped ? hostComponent(name.registry) : '', name.repository].filter((p) => p !== '');
  out.registry = dest.host;
  out.repository = parts.join('/');
  if (out.repository.length > 255) throw usage(`${formatReference(out)} is longer than a repository name may be (255); use a shorter prefix`);
  if (out.tag !== undefined && out.tag.length > 128) throw usage(`the tag ${out.tag} is longer than 128 characters with --append-suffix`);
  return out;
}

/** The destination name as a location string (messages, --json, --digestfile). */
export function formatDestination(dest: SyncDestination, at?: Reference): string {
  switch (dest.kind) {
    case 'docker':
      return at ? `docker://${formatReference(at)}` : `docker://${dest.host}${dest.prefix ? `/${dest.prefix}` : ''}`;
    case 'oci':
      return `oci:${dest.dir}${at ? `:${formatReference(at)}` : ''}`;
    case 'oci-archive':
      return `oci-archive:${dest.file}${at ? `:${formatReference(at)}` : ''}`;
  }
}

/**
 * A layout entry's name as an image name: a full reference (`HOST/REPO:TAG`, `REPO@DIGEST`, what sync writes;
 * `busybox:1` reads as docker.io/library/busybox:1). A bare tag (`latest`, what `copy` writes to `oci:DIR:TAG`)
 * names no repository: undefined.
 */
export function layoutEntryName(refName: string): Reference | undefined {
  if (!refName.includes('/') && !refName.includes(':') && !refName.includes('@')) return undefined;
  try {
    // A name a layout records is a full name (docker.io's when it has no registry, as containers/image reads it):
    // registries.conf's short-name rules are for names a user types.
    return qualified(parseReference(refName));
  } catch {
    return undefined;
  }
}
