// `oci-s2i build`: source + builder → pushed application image. Steps: source, pull, scripts, incremental
// restore, inject source, assemble (optionally a runtime-image stage), layer, convert builder layers, commit
// (with the importer check), push, callback. Builder and result may be in any transport (transport/parse.ts).
import { mkdtemp, mkdir, rm, realpath, lstat } from 'node:fs/promises';
import { createReadStream, fchownSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { Descriptor, ImageFormat, Platform } from '../oci/types.js';
import { parseManifestDocument } from '../oci/manifest.js';
import { compatibilityProblems, type CompatProfile } from '../image/compat.js';
import { epochToRfc3339 } from '../image/reproducible.js';
import { defaultFormatFor, parseImageLocation, type ImageLocation } from '../transport/parse.js';
import { appendLayer, setConfigFields, serializeConfig, configMediaType } from '../image/config.js';
import { buildManifest, layerMediaType } from '../image/manifest.js';
import { writeLayerFile, type LayerResult } from '../layer/write.js';
import { defaultGzipBackend } from '../layer/compress.js';
import { sha256Digest } from '../oci/digest.js';
import { detectRuntime, prepareRuntime } from '../sandbox/runtime.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { buildEnvironment, mergeEnvStrings, parseEnvFlag, type EnvList } from '../s2i/environment.js';
import { resolveScripts, materializeScripts, scriptPathInImage, type ScriptName } from '../s2i/scripts.js';
import { planS2I, outputLabels } from '../s2i/plan.js';
import { parseImageMetadata, imageMetadataPath } from '../s2i/image-metadata.js';
import { makeSourceFilter, copySource } from '../s2i/ignore.js';
import { parseUidRanges } from '../s2i/allowed-uids.js';
import { postCallback } from '../s2i/callback.js';
import { chownTree, readFileInRoot, fileInRoot, withDirInRoot } from '../sandbox/rootfs.js';
import { InRoot, chownTreeAt } from '../sys/in-root.js';
import { openEngine, type EngineOptions, type Engine } from './context.js';
import { pullImage, locationName, type PullPolicy, type PulledImage } from './pull.js';
import { formatLayersFor } from './convert-layers.js';
import { assertParentAlive, pushImage, type PushStats } from './push.js';
import { mountRootfs, resolveUser, runScript, assembleFailed, copyIntoRoot } from './sandbox-run.js';
import { Steps } from './steps.js';
import { prepareSource } from './source.js';
import { parseBinds, bindMounts, parseAddHosts, writeHostsFile } from './mounts.js';
import { saveArtifacts } from './incremental.js';
import { extractArtifacts } from './artifacts.js';
import { runtimeStage } from './runtime-stage.js';
import { removeTrees, removeTreeNow } from './remove.js';
import { writeOutputFile } from '../sys/output-file.js';
import { workingDirOf } from '../oci/image-path.js';

/** A new layer with more entries than this has its upper dir removed in the background while the build pushes
 * (below it, removing it at the end costs less than starting a process). */
const BACKGROUND_REMOVAL_ENTRIES = 100;

export interface BuildOptions extends EngineOptions {
  /** Local directory or git URL (`https://`, `file://`, `git@host:path`, with optional `#ref`). */
  source: string;
  builder: string;
  tag: string;
  format?: ImageFormat;
  platform?: Platform;
  pullPolicy?: PullPolicy;
  runtime?: string;
  /** -e NAME=VALUE, in order. */
  env?: string[];
  /** -E files, in order. */
  envFiles?: string[];
  /** --build-env NAME=VALUE: assemble sees them, the image does not. */
  buildEnv?: string[];
  scriptsUrl?: string;
  destination?: string;
  assembleUser?: string;
  /** --label NAME=VALUE */
  labels?: string[];
  applicationName?: string;
  description?: string;
  network?: 'host' | 'none';
  capDrop?: string[];
  exclude?: string;
  compression?: 'gzip' | 'none' | 'zstd';
  compressionLevel?: number;
  /**
   * Refuse to push a result this importer would reject (image/compat.ts). Default 'ocp4.6' with format docker,
   * none with oci; false: no check.
   */
  check?: CompatProfile | false;
  /**
   * Build timestamp, unix seconds (--timestamp / SOURCE_DATE_EPOCH, read by the CLI): new-layer mtimes clamped to
   * it, config and history `created` set to it. Default: none (the current time, mtimes as they are).
   */
  timestamp?: number;
  /** Bit-reproducible output: the pako gzip backend, and `timestamp` defaults to 0. */
  reproducible?: boolean;
  /** Do not push; only write the image into the local store. */
  noPush?: boolean;
  /** --ref (git sources) */
  ref?: string;
  /** --context-dir */
  contextDir?: string;
  /** Fetch git submodules (default true). */
  submodules?: boolean;
  /** --allowed-uids ranges, e.g. "1-" */
  allowedUids?: string;
  incremental?: boolean;
  incrementalFrom?: string;
  incrementalPullPolicy?: PullPolicy;
  runtimeImage?: string;
  runtimeArtifacts?: string[];
  runtimePullPolicy?: PullPolicy;
  assembleRuntimeUser?: string;
  /** --inject SRC:DST (`;`-separated allowed): read-only for assemble, never in a layer. */
  inject?: string[];
  /** -v SRC:DST: read-write binds for assemble. */
  volumes?: string[];
  /** --add-host HOST:IP */
  addHosts?: string[];
  callbackUrl?: string;
  /** Keep the build directory and report it (BuildResult.tempDir). */
  saveTempDir?: boolean;
  keepSymlinks?: boolean;
  /** Cap on the save-artifacts tar (bytes). */
  artifactsMaxBytes?: number;
}

export interface BuildResult {
  reference: string;
  digest: string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  layer: LayerResult;
  labels: Record<string, string>;
  timings: Record<string, number>;
  /** The OCI runtime assemble ran with (`--runtime`, or the default for this host: sandbox/runtime.ts). */
  runtime: string;
  push?: PushStats;
  /** Artifacts from the previous image were restored. */
  incremental: boolean;
  /** --save-temp-dir: the kept build directory. */
  tempDir?: string;
}

function usageError(message: string): S2IError {
  return new S2IError('ERR_USAGE', message);
}

function parseLabelFlag(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new S2IError('ERR_LABEL_SYNTAX', `invalid --label "${s}": use NAME=VALUE`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Flags that make no sense together are errors (the reference silently ignores them and exits 0). */
export function checkBuildOptions(o: Partial<BuildOptions> & { asDockerfile?: string }): void {
  const need = (cond: unknown, flag: string, needs: string) => {
    if (cond) throw usageError(`${flag} needs ${needs}`);
  };
  need(o.incrementalFrom && !o.incremental, '--incremental-from', '--incremental');
  need(o.incrementalPullPolicy && !o.incremental, '--incremental-pull-policy', '--incremental');
  need(o.runtimeArtifacts?.length && !o.runtimeImage, '--runtime-artifact', '--runtime-image');
  need(o.runtimePullPolicy && !o.runtimeImage, '--runtime-pull-policy', '--runtime-image');
  need(o.assembleRuntimeUser && !o.runtimeImage, '--assemble-runtime-user', '--runtime-image');
  if (o.asDockerfile) {
    const bad = (
      [
        ['--incremental-pull-policy', o.incrementalPullPolicy],
        ['--runtime-image', o.runtimeImage],
        ['--inject', o.inject?.length],
        ['--volume', o.volumes?.length],
        ['--callback-url', o.callbackUrl],
        ['--save-temp-dir', o.saveTempDir],
        ['--no-push', o.noPush],
      ] as Array<[string, unknown]>
    ).find(([, v]) => v);
    if (bad) throw usageError(`--as-dockerfile cannot be combined with ${bad[0]}: the Containerfile is built by another tool`);
  }
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  if (!opts.callbackUrl) return buildImage(opts);
  try {
    const r = await buildImage(opts);
    await postCallback(opts.callbackUrl, { success: true, labels: r.labels }, opts.onProgress ? { onProgress: opts.onProgress } : {});
    return r;
  } catch (e) {
    await postCallback(opts.callbackUrl, { success: false, labels: {} }, opts.onProgress ? { onProgress: opts.onProgress } : {});
    throw e;
  }
}

async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  checkBuildOptions(opts);
  const builderLoc = parseImageLocation(opts.builder);
  const targetLoc = parseImageLocation(opts.tag);
  if (targetLoc.transport === 'docker' && targetLoc.ref.digest) throw usageError(`the destination ${opts.tag} has a digest: name it by tag`);
  const format = opts.format ?? defaultFormatFor(targetLoc);
  if (format === 'docker' && (targetLoc.transport === 'oci' || targetLoc.transport === 'oci-archive')) {
    throw usageError(`${opts.tag} is an OCI layout, which holds OCI images only: use --format oci, or a docker:// or docker-archive: destination`);
  }
  const compression = opts.compression ?? 'gzip';
  const newLayerType = layerMediaType(format, compression); // fails early for docker + zstd
  const check = opts.check ?? (format === 'docker' ? 'ocp4.6' : false);
  const epoch = opts.timestamp ?? (opts.reproducible ? 0 : undefined);
  // Options of every layer this build writes or recompresses (reproducible: pako, mtimes clamped).
  const layerOpts = {
    ...(epoch !== undefined ? { mtimeClamp: epoch } : {}),
    // The fastest gzip of this installation (libdeflate or zlib blocks on every core, deterministic output).
    backend: opts.reproducible ? ('pako' as const) : defaultGzipBackend(),
  };
  const extraLabels = Object.fromEntries((opts.labels ?? []).map(parseLabelFlag));
  const buildEnv = (opts.buildEnv ?? []).map(parseEnvFlag);
  const uidRanges = opts.allowedUids ? parseUidRanges(opts.allowedUids) : [];
  const addHosts = parseAddHosts(opts.addHosts ?? []);
  const previousRef = opts.incremental ? parseImageLocation(opts.incrementalFrom ?? opts.tag) : undefined;
  const runtimeRef = opts.runtimeImage ? parseImageLocation(opts.runtimeImage) : undefined;
  const detected = detectRuntime(opts.runtime);
  if (!namespaceMode()) {
    throw new S2IError('ERR_NAMESPACE', 'build must run inside the oci-s2i namespace (use the oci-s2i CLI, or reexecInNamespace)');
  }
  const runtime = prepareRuntime(detected, { explicit: opts.runtime !== undefined, onFallback: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) });
  const restricted = namespaceMode() === 'userns-single';
  const network = opts.network ?? 'host';
  const capDrop = opts.capDrop ?? [];

  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  const warn = (message: string) => engine.onProgress({ type: 'log', level: 'warn', message });
  try {
    const buildsDir = path.join(engine.root, 'builds');
    await mkdir(buildsDir, { recursive: true });
    const buildDir = await realpath(await mkdtemp(path.join(buildsDir, 'b-')));
    // Started early (after the layer is written) for a big upper dir; the rest goes at the end.
    let scratchRemoval: Promise<void> | undefined;
    if (!opts.saveTempDir) {
      steps.defer('remove build dir', async () => {
        await scratchRemoval;
        removeTreeNow(buildDir);
      });
    }

    const source = await steps.run('source', () =>
      prepareSource(
        { source: opts.source, ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}), submodules: opts.submodules !== false },
        buildDir,
      ),
    );
    const sourceDir = source.dir;
    const envList = await buildEnvironment({ sourceDir, envFlags: opts.env ?? [], envFiles: opts.envFiles ?? [] });

    const builder = await steps.run('pull', () => pullImage(engine, builderLoc, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.pullPolicy ?? 'if-not-present' }));
    const lease = await engine.cache.lease(builder.layers.map((l) => l.diffID));
    steps.defer('release layer lease', () => lease.release());
    const imgConfig = builder.config.config ?? {};
    const imageLabels = imgConfig.Labels ?? {};
    const imageEnv = imgConfig.Env ?? [];
    const workdir = workingDirOf(builder.config, 'the builder image');

    // What the build does with this builder, decided from its config and the options (s2i/plan.ts): the allowed
    // UIDs verdict (exit 15), destination, users, environments and the labels it adds.
    const plan = planS2I(
      { labels: imageLabels, env: imageEnv, user: imgConfig.User },
      {
        builderName: locationName(builderLoc),
        tag: locationName(targetLoc),
        source,
        destination: opts.destination,
        assembleUser: opts.assembleUser,
        allowedUids: uidRanges,
        labels: extraLabels,
        applicationName: opts.applicationName,
        description: opts.description,
        env: envList,
        buildEnv,
      },
    );
    const injections = await parseBinds('--inject', opts.inject ?? [], workdir);
    const volumes = await parseBinds('--volume', opts.volumes ?? [], workdir);
    const hostsFile = addHosts.length > 0 ? await writeHostsFile(path.join(buildDir, 'hosts'), addHosts) : undefined;

    const rootfs = await steps.run('mount', () => mountRootfs(steps, buildDir, builder.layers.map((l) => l.dir)));
    const needed: ScriptName[] = runtimeRef ? ['assemble'] : ['assemble', 'run'];
    const scripts = await steps.run('scripts', () =>
      resolveScripts({
        ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
        sourceDir,
        imageLabels,
        imageEnv,
        needed,
        optional: opts.incremental ? ['save-artifacts'] : [],
        probeImage: async (p) => (await fileInRoot(rootfs.merged, p)) !== undefined,
      }),
    );
    const { destination, paths, persistentEnv, assembleEnv } = plan;
    const userSpec = plan.assembleUser;
    const user = await resolveUser(rootfs.merged, userSpec);

    let incremental = false;
    const save = scripts.get('save-artifacts');
    if (previousRef && !save) engine.onProgress({ type: 'log', level: 'info', message: 'no save-artifacts script: clean build' });
    if (previousRef && save) {
      const tarFile = await steps.run('save-artifacts', () =>
        saveArtifacts({
          engine,
          steps,
          runtime,
          workDir: path.join(buildDir, 'previous'),
          previous: previousRef,
          policy: opts.incrementalPullPolicy ?? 'if-not-present',
          ...(opts.platform ? { platform: opts.platform } : {}),
          script: save,
          destination,
          user: userSpec,
          env: assembleEnv,
          network,
          capDrop,
          restricted,
          ...(opts.artifactsMaxBytes ? { maxBytes: opts.artifactsMaxBytes } : {}),
        }),
      );
      if (tarFile) {
        // A tree the build creates: made fresh (an image's symlink there is replaced, its contents removed), so the
        // extraction writes only into directories it made itself.
        const dir = await withDirInRoot(rootfs.merged, paths.artifacts, 'empty', (fd) => InRoot.hostPathOf(fd));
        try {
          const r = await extractArtifacts(createReadStream(tarFile), dir, { ...(opts.artifactsMaxBytes ? { maxBytes: opts.artifactsMaxBytes } : {}), onWarning: warn });
          await chownTree(dir, user.uid, 0);
          incremental = true;
          engine.onProgress({ type: 'log', level: 'info', message: `restored ${r.entries} artifact entries (${r.bytes} bytes) from ${locationName(previousRef)}` });
        } catch (e) {
          if (engine.signal.aborted) throw e;
          warn(`${(e as Error).message}: clean build`);
          await rm(dir, { recursive: true, force: true });
        }
      }
    }

    await steps.run('inject source', async () => {
      const filter = await makeSourceFilter(sourceDir, opts.exclude);
      const keepSymlinks = opts.keepSymlinks ?? false;
      const fresh = (await fileInRoot(rootfs.merged, paths.src)) === undefined;
      // The source tree is written through descriptors: <dest>/src is a real directory (an image's symlink there
      // is replaced, never followed), and so is every entry written into it (issue 16).
      await withDirInRoot(rootfs.merged, paths.src, 'replace', async (srcFd) => {
        const srcDir = InRoot.hostPathOf(srcFd);
        // chown through the overlay copies the new directory and its parents up into the upper dir, with the
        // image's attributes; what goes under it can then be written there directly (Rootfs.withUpper).
        if (fresh) fchownSync(srcFd, user.uid, 0);
        const upperSrc = rootfs.upperPath(srcDir);
        // Only into a real directory reached through real directories (the copy-up made them): no link anywhere.
        if (fresh && (await lstat(upperSrc).catch(() => undefined))?.isDirectory() && (await realpath(upperSrc)) === upperSrc) {
          await rootfs.withUpper(() => copySource(sourceDir, upperSrc, filter, { keepSymlinks, owner: { uid: user.uid, gid: 0 } }));
        } else {
          // The image has this directory already: copy through the overlay, and own what is in it, as s2i does.
          await copySource(sourceDir, srcFd, filter, { keepSymlinks });
          chownTreeAt(srcFd, { uid: user.uid, gid: 0 });
        }
      });
      const staging = path.join(buildDir, 'scripts');
      const written = await materializeScripts(scripts, staging);
      if (written.length > 0) await copyIntoRoot(rootfs.merged, staging, paths.scripts, { uid: user.uid, gid: 0 });
    });

    const assemblePath = scriptPathInImage('assemble', scripts.get('assemble')!, destination);
    // The push's registry protocol probe (and the TLS set-up it takes) and the upload sessions for the new layer
    // and the config start once the container is started: assemble keeps it busy and this process idle.
    const preparePush =
      targetLoc.transport === 'docker' && !opts.noPush
        ? () => {
            engine.client.prepare(targetLoc.ref.registry);
            engine.client.openUploadsAhead(targetLoc.ref.registry, targetLoc.ref.repository, 2);
          }
        : undefined;
    const result = await steps.run('assemble', () =>
      runScript({
        runtime,
        rootfs: rootfs.merged,
        bundleDir: path.join(buildDir, 'bundle'),
        storeRoot: engine.root,
        id: `oci-s2i-${path.basename(buildDir)}`,
        args: [assemblePath],
        env: assembleEnv,
        cwd: workdir,
        user,
        network,
        mounts: [...bindMounts(injections, true), ...bindMounts(volumes, false)],
        capDrop,
        signal: engine.signal,
        onProgress: engine.onProgress,
        restricted,
        ...(hostsFile ? { hostsFile } : {}),
        ...(preparePush ? { onStarted: preparePush } : {}),
      }),
    );
    if (engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
    if (result.exitCode !== 0) throw assembleFailed(result, `assemble (${assemblePath})`);

    let metadataLabels: Record<string, string> = {};
    const meta = await readFileInRoot(rootfs.merged, imageMetadataPath, 1 << 20);
    if (meta) {
      try {
        metadataLabels = parseImageMetadata(meta);
      } catch (e) {
        warn(`ignoring ${imageMetadataPath}: ${(e as Error).message}`);
      }
    }

    let base: PulledImage;
    let layerFile: string;
    let layer: LayerResult;
    let runPath: string;
    let createdBy: string;
    let configEnv: string[];
    if (runtimeRef) {
      const rt = await runtimeStage({
        engine,
        steps,
        runtime,
        workDir: path.join(buildDir, 'runtime'),
        builderRootfs: rootfs.merged,
        builderLabels: imageLabels,
        ref: runtimeRef,
        policy: opts.runtimePullPolicy ?? 'if-not-present',
        ...(opts.platform ? { platform: opts.platform } : {}),
        artifacts: opts.runtimeArtifacts ?? [],
        ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
        sourceDir,
        ...(opts.destination ? { destinationFlag: opts.destination } : {}),
        ...(opts.assembleRuntimeUser ? { assembleRuntimeUser: opts.assembleRuntimeUser } : {}),
        env: [...envList, ...buildEnv],
        network,
        capDrop,
        restricted,
        ...(hostsFile ? { hostsFile } : {}),
        compression,
        ...(opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : {}),
        layerOptions: layerOpts,
      });
      await rootfs.unmount();
      ({ base, layerFile, layer, runPath, createdBy } = rt);
      configEnv = mergeEnvStrings(base.config.config?.Env ?? [], envList);
    } else {
      await rootfs.unmount();
      base = builder;
      runPath = scriptPathInImage('run', scripts.get('run')!, destination);
      createdBy = `oci-s2i build: ${assemblePath}`;
      configEnv = persistentEnv;
      layerFile = path.join(buildDir, 'layer.tar');
      layer = await steps.run('layer', () =>
        writeLayerFile(rootfs.upper, layerFile, {
          compression,
          ...(opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : {}),
          ...layerOpts,
          overlayWhiteouts: true,
        }),
      );
      // Upper and work dirs are done with: unless tiny, they go away in a child process during commit and push.
      if (!opts.saveTempDir && layer.entries > BACKGROUND_REMOVAL_ENTRIES) scratchRemoval = removeTrees(rootfs.scratchDirs());
    }
    const layerDesc: Descriptor = { mediaType: newLayerType, digest: layer.digest, size: layer.size };
    await engine.store.adopt(layerDesc, layerFile); // written and digested in one pass just now: linked, not re-read
    const labels = outputLabels(plan, base.config.config?.Labels ?? {}, metadataLabels);

    // Builder layers the format cannot carry (zstd, plain tar → Docker) become gzip, diffIDs unchanged.
    const baseLayers = await steps.run('convert layers', () =>
      formatLayersFor(engine, base, format, {
        workDir: path.join(buildDir, 'convert'),
        backend: layerOpts.backend,
      }),
    );
    const commit = await steps.run('commit', () =>
      commitImage(engine, {
        base,
        baseLayers,
        layer,
        layerDesc,
        format,
        runPath,
        env: configEnv,
        labels,
        createdBy,
        target: targetLoc,
        check,
        ...(epoch !== undefined ? { created: epochToRfc3339(epoch) } : {}),
        comment: `source-to-image build of ${source.location} with ${locationName(builderLoc)}`,
      }),
    );

    let push: PushStats | undefined;
    if (!opts.noPush) {
      push = await steps.run('push', () =>
        pushImage(engine, {
          target: targetLoc,
          manifest: commit.manifest,
          blobs: commit.blobs,
          ...(base.repository ? { source: base.repository } : {}),
          sourceBlobs: new Set(base.manifest.layers.map((l) => l.digest)),
        }),
      );
    }
    if (opts.saveTempDir) engine.onProgress({ type: 'log', level: 'info', message: `temporary directory kept: ${buildDir}` });
    return {
      reference: locationName(targetLoc),
      digest: commit.manifest.digest,
      manifest: commit.manifest,
      layer,
      labels,
      timings: steps.timings,
      runtime: runtime.name,
      incremental,
      ...(push ? { push } : {}),
      ...(opts.saveTempDir ? { tempDir: buildDir } : {}),
    };
  } finally {
    await steps.cleanup();
  }
}

interface CommitInput {
  base: PulledImage;
  /** The base's layer descriptors as the output carries them (converted for the format). */
  baseLayers: Descriptor[];
  layer: LayerResult;
  layerDesc: Descriptor;
  format: ImageFormat;
  runPath: string;
  env: string[];
  labels: Record<string, string>;
  createdBy: string;
  comment: string;
  target: ImageLocation;
  check: CompatProfile | false;
  /** Fixed `created` (RFC 3339) of a reproducible build; default now. */
  created?: string;
}

/**
 * New config (Cmd = run, Env, Labels; User and the rest kept from the base) + manifest, checked against the
 * importer profile (nothing is stored or tagged when it fails), then stored and tagged locally.
 */
async function commitImage(engine: Engine, c: CommitInput): Promise<{ manifest: ReturnType<typeof buildManifest>; blobs: Descriptor[] }> {
  const now = c.created ?? new Date().toISOString();
  let config = appendLayer(c.base.config, c.layer.diffID, { created: now, created_by: c.createdBy, comment: c.comment });
  config = setConfigFields(config, { Cmd: [c.runPath], Env: c.env, Labels: c.labels });
  config = { ...config, created: now };
  const configBytes = serializeConfig(config);
  const configDesc: Descriptor = { mediaType: configMediaType(c.format), digest: sha256Digest(configBytes), size: configBytes.length };
  const layers = [...c.baseLayers, c.layerDesc];
  const manifest = buildManifest(c.format, configDesc, layers);
  if (c.check) {
    const problems = compatibilityProblems(c.check, parseManifestDocument(manifest.bytes, manifest.mediaType), config);
    if (problems.length > 0) {
      for (const p of problems) engine.onProgress({ type: 'log', level: 'warn', message: `${p.problem}: ${p.fix}` });
      throw new S2IError(
        'ERR_IMAGE_INCOMPATIBLE',
        `the image would not import into ${c.check}, so nothing was pushed: ${problems.map((p) => `${p.problem} (${p.fix})`).join('; ')}; or build with --check none`,
        { step: 'commit' },
      );
    }
  }
  await engine.store.putBytes(configBytes, configDesc.mediaType);
  await engine.store.putBytes(manifest.bytes, manifest.mediaType);
  assertParentAlive('tagged');
  await engine.store.tag(manifest.descriptor, locationName(c.target));
  return { manifest, blobs: [...layers, configDesc] };
}

// The default format is a rule of the destination's transport (transport/parse.ts); the CLI takes it from here.
export { defaultFormatFor };

export async function writeDigestFile(file: string, digest: string): Promise<void> {
  await writeOutputFile(file, digest + '\n', '--digestfile');
}

export type { EnvList };
