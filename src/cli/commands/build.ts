import { statSync } from 'node:fs';
import { S2IError, ExitCode } from '../../errors.js';
import type { ProgressSink } from '../../events.js';
import { build, writeDigestFile } from '../../pipeline/build.js';
import { runImage } from '../../pipeline/run-image.js';
import { writeBuildAsDockerfile, type AsDockerfileOptions } from '../../pipeline/as-dockerfile.js';
import { onBuildStrategy } from '../../containerfile/onbuild.js';
import { writeOutputFile } from '../../sys/output-file.js';
import { parseImageLocation } from '../../transport/parse.js';
import type { Command, CommandContext, Param } from '../command.js';
import { str, list } from '../command.js';
import { registryParams } from '../registry-flags.js';
import { policyParams, signParams, signingKeyOf } from '../sign-flags.js';
import { makeRenderer } from '../render.js';
import { asDockerfileOptions, buildOptionsFromValues, deprecatedFlagWarnings } from '../build-options.js';
import { restoreS2iConfig, saveS2iConfig } from '../s2i-config.js';

export const buildParams: Param[] = [
  { name: 'format', type: 'string', value: 'docker|oci', description: 'manifest format of the result (docker for OpenShift <= 4.6 and old Quay; default: oci for oci:/oci-archive: TAGs, else docker)' },
  { name: 'check', type: 'string', value: 'ocp4.6|quay-legacy|none', description: 'refuse to push a result this importer would reject (default ocp4.6 with --format docker)' },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'builder platform to pick from a manifest list/index (default: this host)' },
  { name: 'pull-policy', short: 'p', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the builder manifest from its registry', default: 'if-not-present' },
  { name: 'isolation', type: 'string', value: 'auto|sandbox|in-image', description: 'where assemble runs: a rootless runc/crun sandbox (sandbox), or this container, which must be the builder image (in-image: CI pods with no privileges); auto: the sandbox, with fallbacks where the host or pod refuses part of it (a user namespace for root without SYS_ADMIN, one mapped ID, a copied rootfs where overlay cannot be mounted), reported in one line; sandbox: no fallback, exit 13', default: 'auto' },
  { name: 'runtime', type: 'string', value: 'runc|crun|PATH', description: 'OCI runtime (default: crun where it runs: cgroup v2 hosts, and as root everywhere; else runc)' },
  { name: 'env', short: 'e', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'environment for assemble, kept in the image' },
  { name: 'environment-file', short: 'E', type: 'string', multiple: true, value: 'FILE', description: 'file of NAME=VALUE lines, order kept' },
  { name: 'build-env', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'environment for assemble only, never stored in the image' },
  { name: 'scripts-url', short: 's', type: 'string', value: 'URL', description: 'where to find S2I scripts: image:///path, file://dir, http(s)://…' },
  { name: 'image-scripts-url', type: 'string', value: 'URL', description: "where the builder's own scripts are (image:///path, file://dir, http(s)://…), instead of its io.openshift.s2i.scripts-url label" },
  { name: 'scripts', type: 'string', value: 'URL', description: 'deprecated: use --scripts-url' },
  { name: 'destination', short: 'd', type: 'string', value: 'DIR', description: 'where source and scripts go in the image (default: label, else /tmp)' },
  { name: 'location', short: 'l', type: 'string', value: 'DIR', description: 'deprecated: use --destination' },
  { name: 'assemble-user', type: 'string', value: 'UID[:GID]', description: 'user that runs assemble (default: label, else the image USER)' },
  { name: 'allowed-uids', short: 'u', type: 'string', value: 'RANGES', description: 'UIDs the builder may run as, e.g. 1- (names and root fail with exit 15)' },
  { name: 'label', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'label for the output image' },
  { name: 'annotation', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'annotation of the output manifest, over the ones every build writes (org.opencontainers.image.source, revision, created, base.name, base.digest); a label in --format docker, whose manifests have none' },
  { name: 'application-name', short: 'n', type: 'string', value: 'NAME', description: 'application name (io.k8s.display-name)' },
  { name: 'description', type: 'string', value: 'TEXT', description: 'image description (io.k8s.description)' },
  { name: 'ref', short: 'r', type: 'string', value: 'REF', description: 'git branch, tag or commit to build (git sources)' },
  { name: 'ignore-submodules', type: 'boolean', description: 'do not fetch the submodules of a git source (default: git submodule update --init --recursive)' },
  { name: 'context-dir', type: 'string', value: 'DIR', description: 'sub-directory of the source holding the application' },
  { name: 'copy', short: 'c', type: 'boolean', description: 'build the working tree of a local git repository as it is (default: its committed tree, cloned as s2i does; then no commit labels)' },
  { name: 'block-onbuild', type: 'boolean', description: "do not run the builder's ONBUILD triggers (s2i's onbuild strategy, the default for such builders): build with its S2I scripts" },
  { name: 'incremental', type: 'boolean', description: 'restore artifacts of the previous image with its save-artifacts script' },
  { name: 'incremental-from', type: 'string', value: 'IMAGE', description: 'previous image for --incremental (default: TAG)' },
  { name: 'incremental-pull-policy', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the previous image', default: 'if-not-present' },
  { name: 'rm', type: 'boolean', description: 'accepted for s2i compatibility; the previous image is kept (remove a local one with `oci-s2i rmi`)' },
  { name: 'runtime-image', type: 'string', value: 'IMAGE', description: 'image the artifacts are copied into after assemble' },
  { name: 'runtime-artifact', short: 'a', type: 'string', multiple: true, value: 'SRC[:DST]', description: 'file or dir copied from the builder into the runtime image' },
  { name: 'runtime-pull-policy', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the runtime image', default: 'if-not-present' },
  { name: 'assemble-runtime-user', type: 'string', value: 'UID[:GID]', description: 'user that runs assemble-runtime' },
  { name: 'inject', short: 'i', type: 'string', multiple: true, value: 'SRC[:DST]', description: "SRC's contents copied into DST for assemble (no or an empty DST: the WORKDIR; DST's parent must exist), writable by its user, emptied and removed after it, never in a layer; ;-separated" },
  { name: 'volume', short: 'v', type: 'string', multiple: true, value: 'SRC:DST[:ro|rw]', description: 'bind mount for assemble, read-write unless :ro' },
  { name: 'add-host', type: 'string', multiple: true, value: 'HOST:IP', description: 'extra /etc/hosts entry for assemble' },
  { name: 'network', type: 'string', value: 'host|none', description: 'network for assemble: the host\'s, or none (docker network names such as bridge need a daemon: refused)', default: 'host' },
  { name: 'cap-drop', type: 'string', multiple: true, value: 'CAP[,CAP…]', description: 'capabilities to drop for assemble: CHOWN, cap_chown or CAP_CHOWN, comma-separated; ALL for every one' },
  { name: 'exclude', type: 'string', value: 'REGEX', description: 'source paths to leave out', default: '(^|/)\\.git(/|$)' },
  { name: 'keep-symlinks', type: 'boolean', description: 'copy symlinks of the source as symlinks' },
  { name: 'callback-url', type: 'string', value: 'URL', description: 'POST {"success":bool,"labels":{…}} here when the build ends' },
  { name: 'run', type: 'boolean', description: "s2i's --run: once built and pushed, run the image as `oci-s2i run TAG` does (its run script, host network unless --network none; with --no-push or a local TAG, the image in the local store); Ctrl-C or SIGTERM stops it and all it started; the exit code is the run's" },
  { name: 'save-temp-dir', type: 'boolean', description: 'keep the build directory and print its path, also when the build fails' },
  { name: 'use-config', type: 'boolean', description: "s2i's switch: restore SOURCE, BUILDER, TAG and flags from ./.s2ifile (s2i's JSON), then save this build's there; the command line wins" },
  { name: 'as-dockerfile', type: 'string', value: 'PATH', description: 'write a Containerfile + context to PATH instead of building' },
  { name: 'compression', type: 'string', value: 'gzip|zstd|none', description: 'compression of the new layer', default: 'gzip' },
  { name: 'compression-level', type: 'string', value: 'N', description: 'compression level (gzip 1-9, zstd 1-19)' },
  { name: 'timestamp', type: 'string', value: 'T', description: 'unix seconds or RFC 3339: new-layer mtimes clamped, config and history created set to T (default: $SOURCE_DATE_EPOCH)' },
  { name: 'reproducible', type: 'boolean', description: 'bit-reproducible result: pako gzip, timestamp defaults to $SOURCE_DATE_EPOCH or 0' },
  { name: 'sbom', type: 'string', value: 'spdx|cyclonedx|none', description: 'SBOM of the result (builder packages, what assemble added), attached to the pushed image', default: 'spdx' },
  { name: 'provenance', type: 'string', value: 'BOOL|deterministic', description: 'SLSA v1 provenance (an in-toto statement in a DSSE envelope) attached to the pushed image; deterministic: the image\'s created time for start and finish, no invocation id (the default with --reproducible or --timestamp)', default: 'true' },
  { name: 'digestfile', type: 'string', value: 'FILE', description: 'write the pushed manifest digest to FILE' },
  { name: 'no-push', type: 'boolean', description: 'keep the result in the local store only (a TAG without a registry, local:NAME and no TAG are never pushed)' },
  { name: 'iidfile', type: 'string', value: 'FILE', description: 'write the image ID (sha256:<hex>, the config digest) to FILE' },
  { name: 'dockercfg-path', type: 'string', value: 'FILE', description: 's2i\'s docker config file (config.json or the older .dockercfg) with the registries\' credentials: read as --authfile FILE' },
  ...signParams,
  ...policyParams,
  ...registryParams,
];

type Values = CommandContext['values'];

/**
 * s2i's --dockercfg-path FILE: the one credentials file, as --authfile names it (both formats are read); it must
 * exist, and cannot be given with --authfile.
 */
function dockercfgAsAuthfile(v: Values): Values {
  const file = str(v['dockercfg-path']);
  if (file === undefined) return v;
  if (str(v.authfile) !== undefined) throw new S2IError('ERR_USAGE', '--dockercfg-path and --authfile both name the credentials file: give one');
  let ok = false;
  try {
    ok = statSync(file).isFile();
  } catch {
    ok = false;
  }
  if (!ok) throw new S2IError('ERR_USAGE', `--dockercfg-path ${file.slice(0, 200)} is not a file: give docker's config.json (or a .dockercfg) holding the registries' credentials`);
  return { ...v, authfile: file };
}

/** --as-dockerfile and `generate`: the Containerfile written, its path on stdout. */
export async function writeContainerfile(ctx: CommandContext, opts: AsDockerfileOptions): Promise<number> {
  const r = await writeBuildAsDockerfile(opts);
  if (!ctx.global.quiet) ctx.stderr.write(`Wrote ${r.containerfile} (${r.files} source files)\n`);
  ctx.stdout.write(r.containerfile + '\n');
  return 0;
}

export async function runBuild(ctx: CommandContext, source: string, builder: string, tag: string | undefined, v: Values, flagsChecked?: () => void): Promise<number> {
  const { target, asDockerfile, ...o } = buildOptionsFromValues(v, tag);
  flagsChecked?.();
  const render = makeRenderer(ctx.global, ctx.stderr);
  for (const w of deprecatedFlagWarnings(v)) render({ type: 'log', level: 'warn', message: w });
  let isolation: string | undefined;
  // --save-temp-dir: the kept directory, said also when the build fails (when it is wanted most).
  let tempDir: string | undefined;
  // Images a registries.conf mirror or location served (builder, runtime image, previous image).
  const pulledFrom: Array<{ image: string; endpoint: string; mirror: boolean }> = [];
  const onProgress: ProgressSink = (e) => {
    if (e.type === 'isolation') isolation = e.path;
    if (e.type === 'temp-dir') tempDir = e.path;
    if (e.type === 'pull-source') pulledFrom.push({ image: e.image, endpoint: e.endpoint, mirror: e.mirror });
    render(e);
  };
  if (asDockerfile) return await writeContainerfile(ctx, { ...asDockerfileOptions({ ...o, asDockerfile }, source, builder, tag, v), onProgress, signal: ctx.signal });
  if (!target) throw new S2IError('ERR_USAGE', 'build needs a TAG or the local store as its destination');
  if (str(v['sign-by-sigstore-private-key']) !== undefined && (target.transport !== 'docker' || o.noPush)) {
    throw new S2IError('ERR_USAGE', '--sign-by-sigstore-private-key signs the image pushed to a registry: give a registry TAG and no --no-push');
  }
  // Decrypted before the build starts: a wrong passphrase or a bad key file costs no build.
  const signingKey = await signingKeyOf(v, ctx.stderr);
  let result;
  try {
    result = await build({ ...o, ...(signingKey ? { signingKey } : {}), source, builder: parseImageLocation(builder), builderName: builder, target, onProgress, signal: ctx.signal, onBuildStrategy, blockOnBuild: v['block-onbuild'] === true });
  } catch (e) {
    // --json has had it as a `temp-dir` event; the error's line follows this one.
    if (tempDir !== undefined && !ctx.global.json) ctx.stderr.write(`Temporary directory kept: ${tempDir}\n`);
    throw e;
  }
  const digestFile = str(v.digestfile);
  if (digestFile) await writeDigestFile(digestFile, result.digest);
  const iidFile = str(v.iidfile);
  if (iidFile) await writeOutputFile(iidFile, result.imageId, '--iidfile');
  const local = target.transport === 'local';
  if (ctx.global.json) {
    ctx.stdout.write(JSON.stringify({ reference: result.reference ?? null, digest: result.digest, imageId: result.imageId, layer: result.layer, labels: result.labels, incremental: result.incremental, timings: result.timings, runtime: result.runtime, isolation, push: result.push, attached: result.attached, tempDir: result.tempDir, ...(pulledFrom.length ? { pulledFrom } : {}) }) + '\n');
  } else {
    // The one line for --save-temp-dir (the pipeline reports it in the result only; --json has it as tempDir).
    if (result.tempDir) ctx.stderr.write(`Temporary directory kept: ${result.tempDir}\n`);
    if (!ctx.global.quiet) ctx.stderr.write(`Build completed successfully${result.reference !== undefined ? `: ${result.reference}` : ''}${local ? ' (local image)' : o.noPush ? ' (not pushed: in the local store)' : ''}\n`);
    // A local image is known by its ID (printed as podman build prints it); a pushed one by its manifest digest.
    ctx.stdout.write((local ? result.imageId.replace(/^sha256:/, '') : result.digest) + '\n');
  }
  if (v.run === true) {
    // s2i's --run=true: the image just built, through the `run` pipeline (a local image from the store by its ID,
    // a pushed one pulled back from TAG: the cached layers).
    return await runImage({ image: local || o.noPush ? `local:${result.imageId.replace(/^sha256:/, '')}` : tag!, env: [], ...(o.runtime ? { runtime: o.runtime } : {}), network: o.network, ...(o.root ? { root: o.root } : {}), registry: o.registry, onProgress, signal: ctx.signal });
  }
  return 0;
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'Build SOURCE (directory or git URL) with the BUILDER image\'s assemble script and push the result as TAG. BUILDER and TAG: a registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or local:NAME. A TAG without a registry (myapp:v1) or no TAG: a local image, kept in the store (see `oci-s2i images`), its image ID printed. No daemon needed.',
  args: ['SOURCE?', 'BUILDER?', 'TAG?'],
  params: buildParams,
  async run(ctx) {
    let { values: v, positionals } = ctx;
    const useConfig = v['use-config'] === true;
    const warn = (message: string) => makeRenderer(ctx.global, ctx.stderr)({ type: 'log', level: 'warn', message });
    if (useConfig) {
      const r = restoreS2iConfig(process.cwd(), v, positionals, buildParams);
      ({ values: v, positionals } = r);
      r.warnings.forEach(warn);
    }
    const [source, builder, tag] = positionals as [string | undefined, string | undefined, string | undefined];
    if (!source || !builder) throw new S2IError('ERR_USAGE', 'build takes SOURCE BUILDER [TAG]; see `oci-s2i build --help`');
    // As s2i: saved once the flags are checked, before the build runs.
    const saveConfig = useConfig
      ? () => {
          const w = saveS2iConfig(process.cwd(), positionals, v, buildParams);
          if (w) warn(w);
        }
      : undefined;
    return runBuild(ctx, source, builder, tag, dockercfgAsAuthfile(v), saveConfig);
  },
};
