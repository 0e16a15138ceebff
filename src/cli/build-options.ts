// `build` flag strings → typed build options, parsed once here: every malformed value is a usage error (exit 64)
// before anything is pulled, and every default (format, compression, check, timestamp, pull policies) is decided
// here, so build/ reads typed values only (build/options.ts).
import { S2IError, ExitCode } from '../errors.js';
import type { BuildOptions } from '../pipeline/options.js';
import type { AsDockerfileOptions } from '../pipeline/as-dockerfile.js';
import { parseInjections } from '../pipeline/injections.js';
import { parseAddHosts, parseVolumes } from '../pipeline/mounts.js';
import { parseRuntimeArtifacts } from '../pipeline/runtime-stage.js';
import { compatProfiles, type CompatProfile } from '../image/compat.js';
import { sourceDateEpoch } from '../image/reproducible.js';
import { parsePlatform } from '../oci/platform.js';
import { parseReference } from '../oci/reference.js';
import { parseUidRanges } from '../s2i/allowed-uids.js';
import { parseEnvFlag } from '../s2i/environment.js';
import { parseCapList } from '../sandbox/spec.js';
import { LOCAL_REGISTRY, localName } from '../store/local-images.js';
import { defaultFormatFor, parseImageLocation, type ImageLocation } from '../transport/parse.js';
import type { CommandContext } from './command.js';
import { str, list, oneOf, intFlag } from './command.js';
import { registryOptions } from './registry-flags.js';
import { packageVersion } from './commands/version.js';
import { policyOptions } from './sign-flags.js';

type Values = CommandContext['values'];

const policies = ['always', 'if-not-present', 'never'] as const;

function usageError(message: string): S2IError {
  return new S2IError('ERR_USAGE', message);
}

/** `--label NAME=VALUE` → [name, value]. */
export function parseLabelFlag(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new S2IError('ERR_LABEL_SYNTAX', `invalid --label "${s}": use NAME=VALUE`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** `--annotation NAME=VALUE` → [name, value] (image-spec: keys are non-empty strings; values may be empty). */
export function parseAnnotationFlag(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new S2IError('ERR_ANNOTATION_SYNTAX', `invalid --annotation "${s.slice(0, 200)}": use NAME=VALUE, e.g. org.opencontainers.image.url=https://example.com`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Flags that make no sense together are errors (the reference silently ignores them and exits 0). */
export function checkBuildFlags(v: Values): void {
  const need = (cond: unknown, flag: string, needs: string) => {
    if (cond) throw usageError(`${flag} needs ${needs}`);
  };
  const incremental = v.incremental === true;
  const runtimeImage = str(v['runtime-image']);
  need(str(v['incremental-from']) && !incremental, '--incremental-from', '--incremental');
  need(str(v['incremental-pull-policy']) && !incremental, '--incremental-pull-policy', '--incremental');
  need(list(v['runtime-artifact']).length && !runtimeImage, '--runtime-artifact', '--runtime-image');
  need(str(v['runtime-pull-policy']) && !runtimeImage, '--runtime-pull-policy', '--runtime-image');
  need(str(v['assemble-runtime-user']) && !runtimeImage, '--assemble-runtime-user', '--runtime-image');
  if (str(v['as-dockerfile'])) {
    const bad = (
      [
        ['--incremental-pull-policy', str(v['incremental-pull-policy'])],
        ['--runtime-image', runtimeImage],
        ['--volume', list(v.volume).length],
        ['--callback-url', str(v['callback-url'])],
        ['--save-temp-dir', v['save-temp-dir'] === true],
        ['--no-push', v['no-push'] === true],
        ['--run', v.run === true],
      ] as Array<[string, unknown]>
    ).find(([, x]) => x);
    if (bad) throw usageError(`--as-dockerfile cannot be combined with ${bad[0]}: the Containerfile is built by another tool`);
  }
  if (str(v.isolation) === 'in-image') {
    // Each of these needs a second container or a namespace, which an in-image build does not have.
    const bad = (
      [
        ['--runtime', str(v.runtime)],
        ['--runtime-image', runtimeImage],
        ['--incremental', incremental],
        ['--volume', list(v.volume).length],
        ['--add-host', list(v['add-host']).length],
        ['--network', str(v.network)],
        ['--cap-drop', list(v['cap-drop']).length],
        ['--as-dockerfile', str(v['as-dockerfile'])],
        ['--run', v.run === true],
      ] as Array<[string, unknown]>
    ).find(([, x]) => x);
    if (bad) throw usageError(`--isolation in-image cannot be combined with ${bad[0]}: assemble runs in this container, with no runtime, namespace or mounts of its own; use --isolation sandbox`);
  }
}

/** s2i's deprecated spellings and the flags that replace them. */
const deprecatedFlags: Array<[string, string]> = [
  ['scripts', 'scripts-url'],
  ['location', 'destination'],
];

/** The value of a flag or of its deprecated spelling; both with different values is a usage error. */
function flagOrDeprecated(v: Values, name: string): string | undefined {
  const old = deprecatedFlags.find(([, now]) => now === name)?.[0];
  const [a, b] = [str(v[name]), old ? str(v[old]) : undefined];
  if (a !== undefined && b !== undefined && a !== b) throw usageError(`--${old} (deprecated) and --${name} name different values: give --${name} only`);
  return a ?? b;
}

/** One line per deprecated flag used, as s2i warns. */
export function deprecatedFlagWarnings(v: Values): string[] {
  return deprecatedFlags.filter(([old]) => str(v[old]) !== undefined).map(([old, now]) => `flag --${old} is deprecated, use --${now} instead`);
}

/**
 * The destination of a build: named by tag, and a format it can hold. No TAG: the local store, unnamed. A TAG that
 * names no registry (`myapp`, `myapp:v1`, `user/app`) has nowhere to be pushed: it is a local image,
 * `localhost/NAME:TAG` in the store (as podman names it); so are `localhost/NAME[:TAG]` (no port: podman's local
 * names) and `local:NAME`. A TAG with a registry (a host with a dot or a port, `localhost:5000/…`) is pushed.
 */
function parseTarget(tag: string | undefined): ImageLocation {
  if (tag === undefined) return { transport: 'local' };
  const target = parseImageLocation(tag);
  if (target.transport === 'docker' && target.ref.digest) throw usageError(`the destination ${tag} has a digest: name it by tag`);
  if (target.transport === 'docker' && (target.ref.shortName !== undefined || target.ref.registry === LOCAL_REGISTRY)) return { transport: 'local', name: localName(tag) };
  if (target.transport === 'local') return { transport: 'local', name: localName(target.name ?? '') };
  return target;
}

/** What `build` flags say apart from SOURCE and BUILDER (shared with rebuild). */
export type BuildFlags = Omit<BuildOptions, 'source' | 'builder' | 'target'> & {
  /** The parsed TAG (absent without one). */
  target?: ImageLocation;
  asDockerfile?: string;
};

/** Typed build options from parsed flags (`tag`: the TAG as given, which picks the default format). */
export function buildOptionsFromValues(v: Values, tag?: string, env: NodeJS.ProcessEnv = process.env): BuildFlags {
  const formatFlag = oneOf('format', str(v.format), ['docker', 'oci'] as const);
  const compression = oneOf('compression', str(v.compression), ['gzip', 'zstd', 'none'] as const) ?? 'gzip';
  const checkFlag = oneOf('check', str(v.check), [...compatProfiles, 'none'] as const);
  const asDockerfile = str(v['as-dockerfile']);
  const target = asDockerfile ? (tag === undefined ? undefined : parseImageLocation(tag)) : parseTarget(tag);
  const format = formatFlag ?? (target ? defaultFormatFor(target) : 'docker');
  const reproducible = v.reproducible === true;
  const timestamp = sourceDateEpoch(env, str(v.timestamp)) ?? (reproducible ? 0 : undefined);
  if (format === 'docker' && compression === 'zstd') {
    throw usageError('--compression zstd cannot be used with --format docker (Docker images have no zstd layers): use --format oci or --compression gzip');
  }
  const level = intFlag('compression-level', str(v['compression-level']), compression === 'zstd' ? 1 : 0, compression === 'zstd' ? 19 : 9);
  const platform = str(v.platform);
  const envFlags = list(v.env).map(parseEnvFlag);
  const buildEnv = list(v['build-env']).map(parseEnvFlag);
  const allowedUids = str(v['allowed-uids']);
  const uidRanges = allowedUids !== undefined ? parseUidRanges(allowedUids) : [];
  const capDrop = parseCapList(list(v['cap-drop']));
  const pullPolicy = oneOf('pull-policy', str(v['pull-policy']), policies) ?? 'if-not-present';
  const incrementalPolicy = oneOf('incremental-pull-policy', str(v['incremental-pull-policy']), policies) ?? 'if-not-present';
  const runtimePolicy = oneOf('runtime-pull-policy', str(v['runtime-pull-policy']), policies) ?? 'if-not-present';
  const isolation = oneOf('isolation', str(v.isolation), ['auto', 'sandbox', 'in-image'] as const) ?? 'auto';
  const network = networkFlag(str(v.network));
  checkBuildFlags(v);
  if (target && !asDockerfile && format === 'docker' && (target.transport === 'oci' || target.transport === 'oci-archive')) {
    throw usageError(`${tag} is an OCI layout, which holds OCI images only: use --format oci, or a docker:// or docker-archive: destination`);
  }
  const labels = Object.fromEntries(list(v.label).map(parseLabelFlag));
  const sbom = oneOf('sbom', str(v.sbom), ['spdx', 'cyclonedx', 'none'] as const) ?? 'spdx';
  const provenance = provenanceFlag(str(v.provenance), reproducible || timestamp !== undefined);
  const annotations = Object.fromEntries(list(v.annotation).map(parseAnnotationFlag));
  const addHosts = parseAddHosts(list(v['add-host']));
  const incrementalFrom = str(v['incremental-from']);
  // --as-dockerfile names the previous image as written (build/as-dockerfile.ts); a build pulls it.
  const previous = v.incremental === true && !asDockerfile ? (incrementalFrom !== undefined ? parseImageLocation(incrementalFrom) : target) : undefined;
  if (previous?.transport === 'local' && previous.name === undefined) throw usageError('--incremental needs a TAG or --incremental-from IMAGE: the previous image to restore artifacts from');
  const runtimeImage = str(v['runtime-image']);
  const runtimeArtifacts = list(v['runtime-artifact']);
  const assembleRuntimeUser = str(v['assemble-runtime-user']);
  const injections = parseInjections(list(v.inject));
  const binds = parseVolumes(list(v.volume));
  const opt = <T>(k: string, val: T | undefined) => (val === undefined || val === false ? {} : { [k]: val });
  return {
    ...(target ? { target } : {}),
    format,
    compression,
    ...opt('compressionLevel', level),
    check: checkFlag === undefined ? (format === 'docker' ? 'ocp4.6' : false) : checkFlag === 'none' ? false : (checkFlag as CompatProfile),
    ...opt('timestamp', timestamp),
    ...opt('reproducible', reproducible),
    ...opt('platform', platform ? parsePlatform(platform) : undefined),
    pullPolicy,
    ...opt('runtime', str(v.runtime)),
    isolation,
    env: envFlags,
    envFiles: list(v['environment-file']),
    buildEnv,
    ...opt('scriptsUrl', flagOrDeprecated(v, 'scripts-url')),
    ...opt('imageScriptsUrl', str(v['image-scripts-url'])),
    ...opt('destination', flagOrDeprecated(v, 'destination')),
    ...opt('assembleUser', str(v['assemble-user'])),
    allowedUids: uidRanges,
    labels,
    annotations,
    ...opt('applicationName', str(v['application-name'])),
    ...opt('description', str(v.description)),
    ...opt('ref', str(v.ref)),
    ...opt('contextDir', str(v['context-dir'])),
    ...opt('copy', v.copy === true),
    ...(v['ignore-submodules'] === true ? { submodules: false } : {}),
    ...(previous ? { incremental: { from: previous, pullPolicy: incrementalPolicy } } : {}),
    ...(runtimeImage
      ? {
          runtimeImage: {
            image: parseImageLocation(runtimeImage),
            artifacts: parseRuntimeArtifacts(runtimeArtifacts, '--runtime-artifact'),
            pullPolicy: runtimePolicy,
            ...opt('assembleRuntimeUser', assembleRuntimeUser),
          },
        }
      : {}),
    injections,
    binds,
    addHosts,
    network,
    capDrop,
    ...opt('exclude', str(v.exclude)),
    ...opt('keepSymlinks', v['keep-symlinks'] === true),
    ...opt('callbackUrl', str(v['callback-url'])),
    ...opt('saveTempDir', v['save-temp-dir'] === true),
    ...opt('asDockerfile', asDockerfile),
    ...opt('root', str(v.root)),
    noPush: v['no-push'] === true,
    ...(sbom !== 'none' || provenance !== false ? { attest: { sbom, provenance, engineVersion: packageVersion() } } : {}),
    registry: registryOptions(v),
    policy: policyOptions(v),
  };
}

/** `--as-dockerfile`: the options of the Containerfile writer (the builder must be a registry reference). */
export function asDockerfileOptions(o: BuildFlags & { asDockerfile: string }, source: string | undefined, builder: string, tag: string | undefined, v: Values): AsDockerfileOptions {
  const { incremental: _build, target: _target, binds: _binds, injections, ...rest } = o;
  const incrementalFrom = str(v['incremental-from']);
  const previousImage = v.incremental === true ? (incrementalFrom ?? tag) : undefined;
  return {
    ...rest,
    ...(source !== undefined ? { source } : {}),
    builder: parseReference(builder),
    builderName: builder,
    injections,
    ...(tag ? { tag } : {}),
    ...(v.incremental === true ? { incremental: previousImage ? { previousImage } : {} } : {}),
  };
}

/**
 * --provenance true|false|deterministic (default true; deterministic for --reproducible and --timestamp builds, whose
 * provenance then has the image's created time for start and finish and no invocation id: the same bytes each run).
 */
function provenanceFlag(v: string | undefined, reproducible: boolean): 'full' | 'deterministic' | false {
  if (v === undefined) return reproducible ? 'deterministic' : 'full';
  if (v === 'deterministic') return 'deterministic';
  if (/^(true|1|yes)$/i.test(v)) return reproducible ? 'deterministic' : 'full';
  if (/^(false|0|no)$/i.test(v)) return false;
  throw usageError(`--provenance "${v.slice(0, 100)}" is not one of true, false, deterministic`);
}

/**
 * --network: assemble shares the host's network (host, the default) or has none. s2i passes any docker network
 * name (bridge, container:NAME, a user network) to the daemon; there is no daemon here, so those get one line
 * saying what is supported.
 */
function networkFlag(v: string | undefined): 'host' | 'none' {
  if (v === undefined || v === 'host' || v === 'none') return v ?? 'host';
  throw usageError(`--network "${v.slice(0, 100)}" is not supported: assemble runs with the host's network (host, the default) or none; there is no daemon to provide bridge, container: or named networks`);
}
