// `build --isolation in-image`: the build runs inside the container it is in, which is the builder image itself
// (a CI pod's step image; the engine is mounted into it). No namespace, mount, chroot, runtime, setuid or
// capability: the source is copied to the S2I source path of this root, `assemble` runs directly as a child
// process, and the new layer is what differs in the root file system afterwards (a metadata snapshot before,
// layer/snapshot*.ts), deletions as whiteouts. /proc, /sys, /dev, every mount point (the workspace, the
// engine's volume, /etc/hosts…), the engine's store and the engine's own directory are never in it.
//
// The builder's layers are never downloaded: its manifest and config come from where it lives, the new layer
// goes on top, and at push its layers are skipped or mounted from the builder's repository (push.ts).
//
// Owners: as root, assemble runs as the builder's USER (as a sandbox build does). As any other user it runs as
// that user, and when that is not the builder's USER (OpenShift's random UIDs), what it wrote is recorded as
// owned by the USER (snapshot-write.ts OwnerRemap).
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { workingDirOf } from '../oci/image-path.js';
import { layerMediaType } from '../image/manifest.js';
import { takeSnapshot, type Snapshot, type SnapshotOptions } from '../layer/snapshot.js';
import { withLowerFiles } from '../layer/snapshot-lower.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import { catalogCandidate, type KnownFile } from '../sbom/layer-catalog.js';
import { keptImageOf, loadFileFindings, noteBuilderImage, storeFileFindings } from '../sbom/cache.js';
import { findingsToKeep, keptKnown, lowerFilesFromKept, readerOf } from './in-image-sbom-files.js';
import { startAhead, type AheadRun } from './in-image-ahead.js';
import { writeSnapshotLayerWhileDiffing, type OwnerRemap } from '../layer/snapshot-write.js';
import type { Descriptor } from '../oci/types.js';
import { buildEnvironment } from '../s2i/environment.js';
import { parseImageMetadata, imageMetadataPath } from '../s2i/image-metadata.js';
import { makeSourceFilter, copySource } from '../s2i/ignore.js';
import { onBuildTriggers } from '../s2i/onbuild.js';
import { onBuildWarning, outputLabels, planFlags, planS2I } from '../s2i/plan.js';
import { materializeScripts, resolveScripts, scriptPathInImage, type ScriptName } from '../s2i/scripts.js';
import type { ResolvedUser } from '../s2i/user.js';
import { fileInRoot, readFileInRoot, withDirInRoot } from '../sandbox/rootfs.js';
import { chownTreeAt } from '../sys/in-root.js';
import type { BuildResult } from './build.js';
import { commitImage, createdOf, layerOptionsOf, sourceFacts, startSbom } from './commit.js';
import { openEngine, type Engine } from './context.js';
import { prepareStoreRoot } from '../store/store-paths.js';
import { loadPolicy } from '../sign/policy-files.js';
import { formatLayersFor } from './convert-layers.js';
import { runDirect } from './in-image-run.js';
import { injectionsUnder, placeInjections, removeInjections } from './injections.js';
import type { BuildOptions } from './options.js';
import { pullImage, locationName, resultNameOf, type PulledImage } from './pull.js';
import { preparePush, pushTargetOf, type PushStats } from './push.js';
import { publishBuild } from './publish.js';
import { removeTreeNow } from './remove.js';
import type { AttachResult } from '../attest/attach.js';
import { assembleFailed, copyIntoRoot, resolveUser } from './sandbox-run.js';
import { localSourceDir, prepareSource } from './source.js';
import { Steps } from './steps.js';

/** The root file system the build runs in: this container's. */
const ROOT = '/';

export async function buildInImage(opts: BuildOptions): Promise<BuildResult> {
  const startedOn = new Date().toISOString();
  const root = path.resolve(opts.root ?? inImageRoot());
  const pushTo = pushTargetOf(opts);
  // The SBOM is made from this root: the snapshot marks its files in what the walk after assemble will skip,
  // unless an earlier build of this builder kept their findings in this store (in-image-sbom-files.ts): then it
  // records names alone, and the SBOM's files there are the kept ones.
  const wantsSbom = Boolean(pushTo && opts.attest && opts.attest.sbom !== 'none');
  const sbomDir = path.join(root, 'sbom');
  const builderKey = `${locationName(opts.builder)} ${formatPlatform(opts.platform ?? hostPlatform())}`;
  const choose = wantsSbom && keptImageOf(sbomDir, builderKey) === undefined ? catalogCandidate : undefined;
  // The snapshot of the root, started first (once the store's directory exists, for the snapshot to leave out
  // its real path) and taken while the store is opened and the source, the builder's metadata and the scripts
  // are fetched: until it is awaited (before 'inject source'), this build writes only into what it leaves out
  // (the store, which holds the build dir and a cloned source; a local source directory).
  // The policy is read first, so one that cannot be used fails the build before the store's directory is made.
  const loadedPolicy = { policy: opts.policy ? await loadPolicy(opts.policy) : undefined };
  await prepareStoreRoot(root);
  const early = startSnapshot(root, opts.source, choose, opts.signal);
  let engine: Engine;
  try {
    engine = await openEngine({ ...opts, root, loadedPolicy });
  } catch (e) {
    early.stop.abort();
    throw e;
  }
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  steps.defer('stop the snapshot', () => early.stop.abort());
  const info = (message: string) => engine.onProgress({ type: 'log', level: 'info', message });
  try {
    // As in build.ts: the destination is checked while the source and the builder's metadata are fetched, and
    // awaited before anything of this build is written into the root.
    const ready = pushTo ? preparePush(engine, pushTo) : undefined;
    const buildsDir = path.join(engine.root, 'builds');
    await mkdir(buildsDir, { recursive: true });
    const buildDir = await realpath(await mkdtemp(path.join(buildsDir, 'b-')));
    if (!opts.saveTempDir) steps.defer('remove build dir', () => removeTreeNow(buildDir));
    else engine.onProgress({ type: 'temp-dir', path: buildDir });

    const source = await steps.run('source', () =>
      prepareSource({ source: opts.source, ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}), submodules: opts.submodules !== false, copy: opts.copy === true, onWarning: (message) => engine.onProgress({ type: 'log', level: 'warn', message }) }, buildDir),
    );
    const env = await buildEnvironment({ sourceDir: source.dir, env: opts.env, envFiles: opts.envFiles });
    // Manifest and config only: the builder's layers are this container's root file system already.
    const builder = await steps.run('pull', () =>
      pullImage(engine, opts.builder, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.pullPolicy, metadataOnly: true }),
    );
    const imgConfig = builder.config.config ?? {};
    const imageLabels = imgConfig.Labels ?? {};
    const imageEnv = imgConfig.Env ?? [];
    const workdir = workingDirOf(builder.config, 'the builder image');
    const builderName = opts.builderName ?? locationName(opts.builder);
    const targetName = resultNameOf(opts.target);
    const plan = planS2I(
      { labels: imageLabels, env: imageEnv, user: imgConfig.User, onBuild: onBuildTriggers(imgConfig) },
      { builderName, ...(targetName !== undefined ? { tag: targetName } : {}), source, ...planFlags(opts), env, buildEnv: opts.buildEnv },
    );
    const onBuild = onBuildWarning(imgConfig, builderName, '--isolation in-image runs the S2I scripts in this container');
    if (onBuild) engine.onProgress({ type: 'log', level: 'warn', message: onBuild });
    const needed: ScriptName[] = ['assemble', 'run'];
    const scripts = await steps.run('scripts', () =>
      inThisContainer(resolveScripts({
        ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
        ...(opts.imageScriptsUrl ? { imageScriptsUrl: opts.imageScriptsUrl } : {}),
        sourceDir: source.dir,
        imageLabels,
        imageEnv,
        needed,
        optional: [],
        probeImage: async (p) => (await fileInRoot(ROOT, p)) !== undefined,
      })),
    );
    await checkInBuilder(builder, builderName, workdir, scripts, engine.onProgress);
    const user = await resolveUser(ROOT, plan.assembleUser);
    const runAs = runningUser(user, builderName, info);

    if (ready) await steps.run('check destination', () => ready);
    // Before anything of this build is written into the root.
    const before = await steps.run('snapshot', () => snapshotFor(engine, early, source.dir, choose));
    info(`in-image build in ${builderName}: ${before.count} entries in the root file system recorded${wantsSbom && before.lowerBefore > -Infinity && !before.choosing ? ' (names alone: the SBOM takes the image\'s files an earlier build kept)' : ''}`);
    // The SBOM's files in what was still the image's layers at the snapshot are read while assemble runs, by a
    // worker at the lowest CPU priority (in-image-ahead.ts), once assemble has started: those below the directories
    // assemble leaves untouched are the same files after it (snapshot-lower.ts), and the SBOM takes what they gave.
    // A build that fails before the layer step stops the worker.
    let ahead: AheadRun | undefined;
    steps.defer('stop the read-ahead', () => void ahead?.take());
    // Or, when an earlier build of this builder kept what those files gave (a --root the pods share), no worker:
    // the SBOM takes the kept findings of those below the directories assemble leaves untouched, and reads the
    // rest (in-image-sbom-files.ts). So also after a snapshot of names alone (the note said the findings were
    // kept) when the builder turns out to be another image: the SBOM then reads all the image's files itself.
    const imageId = builder.configDescriptor.digest;
    const reader = readerOf();
    const loaded = wantsSbom ? loadFileFindings(sbomDir, imageId) : undefined;
    const kept = loaded?.reader === reader ? loaded : undefined;
    const fromKept = wantsSbom && before.lowerBefore > -Infinity && (kept !== undefined || !before.choosing);

    await steps.run('inject source', async () => {
      const filter = await makeSourceFilter(source.dir, opts.exclude);
      const keepSymlinks = opts.keepSymlinks ?? false;
      // Written through descriptors: <dest>/src is a real directory (an image's symlink there is replaced, never
      // followed), and so is every entry written into it.
      await withDirInRoot(ROOT, plan.paths.src, 'replace', async (srcFd) => {
        await copySource(source.dir, srcFd, filter, { keepSymlinks });
        if (runAs.chown) chownTreeAt(srcFd, { uid: user.uid, gid: 0 });
      });
      const staging = path.join(buildDir, 'scripts');
      const written = await materializeScripts(scripts, staging);
      if (written.length > 0) await copyIntoRoot(ROOT, staging, plan.paths.scripts, runAs.chown ? { uid: user.uid, gid: 0 } : undefined);
    });

    // --inject: after the snapshot, so that what is removed again after assemble is no change of this build.
    const injections = injectionsUnder(opts.injections, workdir || '/');
    const injected = injections.length > 0 ? await steps.run('inject', async () => placeInjections(ROOT, injections, runAs.chown ? { uid: user.uid, gid: user.gid } : undefined)) : [];
    const assemblePath = scriptPathInImage('assemble', scripts.get('assemble')!, plan.destination);
    const result = await steps.run('assemble', async () => {
      try {
        const running = runDirect({
          args: [assemblePath],
          env: plan.assembleEnv,
          cwd: workdir,
          ...(runAs.setUser ? { user } : {}),
          signal: engine.signal,
          onProgress: engine.onProgress,
        });
        if (wantsSbom && !fromKept) ahead = startAhead(before, engine.signal);
        return await running;
      } finally {
        if (injected.length > 0) removeInjections(ROOT, injected);
      }
    });
    if (engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
    if (result.exitCode !== 0) throw assembleFailed(result, `assemble (${assemblePath})`);

    let metadataLabels: Record<string, string> = {};
    const meta = await readFileInRoot(ROOT, imageMetadataPath, 1 << 20);
    if (meta) {
      try {
        metadataLabels = parseImageMetadata(meta);
      } catch (e) {
        engine.onProgress({ type: 'log', level: 'warn', message: `ignoring ${imageMetadataPath}: ${(e as Error).message}` });
      }
    }

    const layerOpts = layerOptionsOf(opts);
    const layerFile = path.join(buildDir, 'layer.tar');
    let sbomFiles: string[] = [];
    let known: Map<string, KnownFile> | undefined;
    let keep: ((read: ReadonlyMap<string, KnownFile>) => void) | undefined;
    const layer = await steps.run('layer', async () => {
      // The layer is written while the walk after assemble finds the changes; the walk also lists the files the
      // SBOM reads (the whole root's: below the directories it does not enter, those the snapshot chose or those
      // kept), so the SBOM walks nothing itself.
      const { diff, layer } = await writeSnapshotLayerWhileDiffing(before, layerFile, { signal: engine.signal, ...(wantsSbom ? { listFiles: catalogCandidate, lowerFilesLater: true } : {}) }, {
        compression: opts.compression,
        ...(opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : {}),
        ...layerOpts,
        ...(runAs.remap ? { owner: runAs.remap } : {}),
      });
      const read = ahead?.take();
      let lower = new Set<string>();
      if (fromKept) {
        ({ files: sbomFiles, lower } = lowerFilesFromKept(diff, before, kept));
        known = keptKnown(kept, lower);
      } else {
        // Without the worker's list (it had not finished), withLowerFiles asks the snapshot which files it chose.
        sbomFiles = withLowerFiles(diff, before, read?.chosen, lower);
        if (read) known = new Map([...lower].flatMap((f) => (read.found.has(f) ? [[f, read.found.get(f)!] as const] : [])));
      }
      if (wantsSbom && diff.lowerDirs.length > 0) {
        info(
          fromKept && kept
            ? `SBOM: ${known!.size} of the image's files known from an earlier build of ${builderName} (${sbomDir})`
            : read
              ? `SBOM: ${known!.size} of the image's files read while assemble ran`
              : 'SBOM: the image\'s files are read now' + (fromKept ? ` (${sbomDir} keeps nothing usable for ${builderName} as it is now, ${imageId}, read as ${reader})` : ' (the read-ahead had not finished)'),
        );
        // What the SBOM reads of the image's files is kept for the next build of this builder (once it is made).
        keep = (got) => {
          const next = findingsToKeep(diff.lowerDirs, before.exclude, lower, got, read?.found, kept, reader);
          try {
            if (next) storeFileFindings(sbomDir, imageId, next);
            if (next || kept) noteBuilderImage(sbomDir, builderKey, imageId);
          } catch (e) {
            engine.onProgress({ type: 'log', level: 'warn', message: `SBOM: the findings of the image's files could not be kept in ${sbomDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the next build reads them again` });
          }
        };
      }
      info(`new layer: ${diff.counts.added} added, ${diff.counts.changed} changed, ${diff.counts.removed} removed${diff.untouched > 0 ? ` (${diff.untouched} directories still in the image's layers not walked)` : ''}`);
      return layer;
    });
    const created = createdOf(opts);
    // The whole root as the new layer's tree (the builder's layers are not unpacked here: this root is them).
    const record = keep ? new Map<string, KnownFile>() : undefined;
    const sbom = wantsSbom ? startSbom(engine, opts, targetName ?? locationName(opts.target), created, [{ diffID: layer.diffID, dir: ROOT, rootfs: { files: sbomFiles, ...(known ? { known } : {}), ...(record ? { record } : {}) } }]) : undefined;
    // What the SBOM read of the image's files is kept for the next build of this builder (once it is made).
    if (sbom && keep && record) void sbom.then(() => keep!(record), () => {});
    const layerDesc: Descriptor = { mediaType: layerMediaType(opts.format, opts.compression), digest: layer.digest, size: layer.size };
    await engine.store.adopt(layerDesc, layerFile);
    const labels = outputLabels(plan, imageLabels, metadataLabels);
    const baseLayers = await steps.run('convert layers', () => formatLayersFor(engine, builder, opts.format, { workDir: path.join(buildDir, 'convert'), backend: layerOpts.backend }));
    const image = await steps.run('commit', () =>
      commitImage(engine, opts, {
        base: builder,
        baseLayers,
        layer,
        layerDesc,
        runPath: scriptPathInImage('run', scripts.get('run')!, plan.destination),
        env: plan.persistentEnv,
        labels,
        createdBy: `oci-s2i build --isolation in-image: ${assemblePath}`,
        target: targetName,
        comment: `source-to-image build of ${source.location} with ${builderName}`,
        source: sourceFacts(source),
        created,
      }),
    );
    let push: PushStats | undefined;
    let attached: AttachResult | undefined;
    if (pushTo) {
      ({ push, attached } = await publishBuild(
        engine,
        steps,
        opts,
        pushTo,
        {
          manifest: image.manifest,
          blobs: image.blobs,
          ...(builder.source ? { source: builder.source } : {}),
          sourceBlobs: new Set(builder.manifest.layers.map((l) => l.digest)),
        },
        {
          subject: image.manifest.descriptor,
          created: image.created,
          builder,
          source: sourceFacts(source),
          startedOn,
          internal: { runtime: 'in-image', rootfs: 'in-image' },
          sbom,
        },
      ));
    }
    return {
      reference: targetName,
      digest: image.manifest.digest,
      imageId: image.imageId,
      manifest: image.manifest,
      layer,
      labels: image.labels,
      timings: steps.timings,
      runtime: 'in-image',
      incremental: false,
      ...(push ? { push } : {}),
      ...(attached ? { attached } : {}),
      ...(opts.saveTempDir ? { tempDir: buildDir } : {}),
    };
  } finally {
    await steps.cleanup();
  }
}

/**
 * The store of an in-image build: --root, else a private directory under the temporary directory. A pod's step
 * container lives for one build, so a cache in it is not kept anyway, a pod's HOME is often `/` or read-only,
 * and the builder's HOME is usually its WORKDIR. It is left out of the snapshot either way.
 */
export function inImageRoot(): string {
  return path.join(os.tmpdir(), `oci-s2i-${process.getuid?.() ?? 'user'}`);
}

interface EarlySnapshot {
  snapshot: Promise<Snapshot>;
  /** What it leaves out (real paths). */
  excluded: string[];
  stop: AbortController;
}

/** Starts the snapshot of the root (see buildInImage). */
function startSnapshot(storeRoot: string, source: string, choose: SnapshotOptions['choose'], signal: AbortSignal | undefined): EarlySnapshot {
  const local = localSourceDir(source);
  const excluded = excludedPaths(storeRoot, local ? [local] : []);
  const stop = new AbortController();
  const snapshot = takeSnapshot(ROOT, { exclude: excluded, signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal, ...(choose ? { choose } : {}) });
  snapshot.catch(() => undefined); // awaited later, or dropped when an earlier step fails
  return { snapshot, excluded, stop };
}

/** The snapshot started early, when it left out the prepared source directory (a local directory, or a clone
 *  in the store); else (a source the early guess missed) one taken now that leaves it out. */
async function snapshotFor(engine: Engine, early: EarlySnapshot, sourceDir: string, choose: SnapshotOptions['choose']): Promise<Snapshot> {
  const dir = realOr(sourceDir);
  if (early.excluded.some((p) => dir === p || dir.startsWith(p.endsWith('/') ? p : `${p}/`))) return await early.snapshot;
  early.stop.abort();
  await early.snapshot.catch(() => undefined);
  return await takeSnapshot(ROOT, { exclude: excludedPaths(engine.root, [sourceDir]), signal: engine.signal, ...(choose ? { choose } : {}) });
}

/** What the snapshot leaves out besides /proc, /sys, /dev and mount points: the store (build dir included), the
 *  engine's own directory, and a local source directory (the workspace). Only paths inside the root count. */
function excludedPaths(storeRoot: string, sourceDirs: string[]): string[] {
  const out = [storeRoot, ...sourceDirs];
  const own = engineDir();
  if (own) out.push(own);
  return out.filter((p) => p !== ROOT && path.isAbsolute(p)).map((p) => realOr(p));
}

/**
 * The directory the running engine was started from (the standalone dir, or the checkout): the nearest directory
 * above the launcher script whose package.json is oci-s2i's. Only that: a guess such as "two levels up" could name
 * /usr or /opt, and leave the builder's own files out of the layer.
 */
function engineDir(): string | undefined {
  const launcher = process.argv[1];
  if (!launcher) return undefined;
  let dir = path.dirname(realOr(launcher));
  for (let i = 0; i < 4; i++) {
    try {
      if ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'oci-s2i') return dir;
    } catch {
      /* not here */
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function realOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * An in-image build is only right in the builder named: its scripts and working directory are this root's. Two
 * checks that a wrong step image fails: the image's scripts (found above in this root), its WORKDIR, and the
 * environment the builder's config sets, which the container runtime gives every process of the image.
 */
async function checkInBuilder(
  builder: PulledImage,
  name: string,
  workdir: string,
  scripts: Map<ScriptName, { kind: string }>,
  onProgress: ProgressSink,
): Promise<void> {
  const problems: string[] = [];
  if (!inContainer()) problems.push('this is not a container (no /run/.containerenv, /.dockerenv, $container or $KUBERNETES_SERVICE_HOST), and an in-image build writes into / and runs assemble here');
  if (workdir !== '/' && (await fileInRoot(ROOT, workdir)) === undefined) problems.push(`its WORKDIR ${workdir} does not exist here`);
  const env = builder.config.config?.Env ?? [];
  const distinctive = env.filter((e) => !/^(PATH|HOME|HOSTNAME|TERM|container)=/.test(e));
  const matching = distinctive.filter((e) => {
    const i = e.indexOf('=');
    return process.env[e.slice(0, i)] === e.slice(i + 1);
  });
  if (distinctive.length > 0 && matching.length === 0) {
    problems.push(`none of the environment its config sets is set here (${distinctive.slice(0, 3).map((e) => e.slice(0, e.indexOf('='))).join(', ')}…)`);
  }
  if (problems.length > 0) {
    throw new S2IError(
      'ERR_NOT_IN_BUILDER',
      `--isolation in-image runs assemble in this container, which must be started from the builder ${name}, and it is not: ${problems.join('; ')}; run this step with the builder as its image`,
    );
  }
  const fromImage = [...scripts.values()].filter((s) => s.kind === 'image').length;
  onProgress({ type: 'isolation', path: 'in-image', message: `isolation: in-image (this container is the builder ${name}: ${fromImage} script(s) of the image found here, WORKDIR ${workdir})` });
}

/**
 * Whether this process runs in a container, by the marks runtimes leave: podman and CRI-O write
 * /run/.containerenv, Docker /.dockerenv, podman and systemd-nspawn set $container, and every Kubernetes pod
 * (containerd too, which leaves no file) has $KUBERNETES_SERVICE_HOST.
 */
export function inContainer(exists: (p: string) => boolean = existsSync, env: NodeJS.ProcessEnv = process.env): boolean {
  return exists('/run/.containerenv') || exists('/.dockerenv') || !!env.container || !!env.KUBERNETES_SERVICE_HOST;
}

interface RunningUser {
  /** Run assemble as the builder's USER (this process is root, the USER is not). */
  setUser: boolean;
  /** Give the source and scripts to the USER (root only). */
  chown: boolean;
  /** Record what this process's uid wrote as the USER's. */
  remap?: OwnerRemap;
}

function runningUser(user: ResolvedUser, builderName: string, info: (m: string) => void): RunningUser {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid === 0) return { setUser: user.uid !== 0, chown: true };
  if (uid === user.uid) return { setUser: false, chown: false };
  info(`this container runs as uid ${uid}, ${builderName}'s user is ${user.uid}: what assemble writes is recorded as owned by ${user.uid}:${user.gid}`);
  return { setUser: false, chown: false, remap: { fromUid: uid, fromGid: gid, uid: user.uid, gid: user.gid } };
}

/** A missing image script says where it was looked for: this container. */
async function inThisContainer<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof S2IError && e.code === 'ERR_SCRIPT_MISSING') {
      throw new S2IError('ERR_SCRIPT_MISSING', `${e.message}; with --isolation in-image the image's scripts are looked for in this container: run the step with the builder as its image`, { cause: e });
    }
    throw e;
  }
}
