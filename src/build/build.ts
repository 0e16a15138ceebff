// `oci-s2i build`: source + builder → pushed application image. Steps: pull, prepare, assemble, commit, push.
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { S2IError, ExitCode } from '../errors.js';
import { parseReference, formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor, ImageFormat, Platform } from '../oci/types.js';
import { appendLayer, setConfigFields, mergeLabels, serializeConfig, configMediaType } from '../image/config.js';
import { buildManifest, layerMediaType } from '../image/manifest.js';
import { writeLayerFile, type LayerResult } from '../layer/write.js';
import { detectRuntime, prepareCgroupsFor } from '../sandbox/runtime.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { buildEnvironment, mergeEnvStrings, parseEnvFlag } from '../s2i/environment.js';
import { resolveScripts, materializeScripts, scriptPathInImage } from '../s2i/scripts.js';
import { resolveDestination, assembleUser as pickAssembleUser, destinationPaths } from '../s2i/destination.js';
import { generatedLabels } from '../s2i/labels.js';
import { parseImageMetadata, imageMetadataPath } from '../s2i/image-metadata.js';
import { makeSourceFilter, copySource } from '../s2i/ignore.js';
import { chownTree, readFileInRoot, fileInRoot, ensureDirInRoot } from '../sandbox/rootfs.js';
import { openEngine, type EngineOptions } from './context.js';
import { pullImage, storeName, type PullPolicy } from './pull.js';
import { pushImage, type PushStats } from './push.js';
import { mountRootfs, resolveUser, runScript, assembleFailed, copyIntoRoot } from './sandbox-run.js';
import { Steps } from './steps.js';

export interface BuildOptions extends EngineOptions {
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
  /** Do not push; only write the image into the local store. */
  noPush?: boolean;
}

export interface BuildResult {
  reference: string;
  digest: string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  layer: LayerResult;
  timings: Record<string, number>;
  push?: PushStats;
}

function parseLabelFlag(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new S2IError('ERR_LABEL_SYNTAX', `invalid --label "${s}": use NAME=VALUE`, { exitCode: ExitCode.usage });
  return [s.slice(0, i), s.slice(i + 1)];
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const sourceDir = path.resolve(opts.source);
  try {
    if (!(await stat(sourceDir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new S2IError('ERR_SOURCE_MISSING', `source directory ${opts.source} does not exist or is not a directory: give a path to your application source`, {
      exitCode: ExitCode.sourcePath,
    });
  }
  const builderRef = parseReference(opts.builder);
  const targetRef: Reference = parseReference(opts.tag);
  const format = opts.format ?? 'docker';
  const compression = opts.compression ?? 'gzip';
  const newLayerType = layerMediaType(format, compression); // fails early for docker + zstd
  const extraLabels = Object.fromEntries((opts.labels ?? []).map(parseLabelFlag));
  const buildEnv = (opts.buildEnv ?? []).map(parseEnvFlag);
  const runtime = detectRuntime(opts.runtime);
  if (!namespaceMode()) {
    throw new S2IError('ERR_NAMESPACE', 'build must run inside the oci-s2i namespace (use the oci-s2i CLI, or reexecInNamespace)', { exitCode: ExitCode.container });
  }
  prepareCgroupsFor(runtime);

  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    const builder = await steps.run('pull', () => pullImage(engine, builderRef, { ...(opts.platform ? { platform: opts.platform } : {}), policy: opts.pullPolicy ?? 'if-not-present' }));
    const lease = await engine.cache.lease(builder.layers.map((l) => l.diffID));
    steps.defer('release layer lease', () => lease.release());
    const envList = await buildEnvironment({ sourceDir, envFlags: opts.env ?? [], envFiles: opts.envFiles ?? [] });
    const imgConfig = builder.config.config ?? {};
    const imageLabels = imgConfig.Labels ?? {};
    const imageEnv = imgConfig.Env ?? [];

    const buildsDir = path.join(engine.root, 'builds');
    await mkdir(buildsDir, { recursive: true });
    const buildDir = await mkdtemp(path.join(buildsDir, 'b-'));
    steps.defer('remove build dir', () => rm(buildDir, { recursive: true, force: true }));
    const rootfs = await steps.run('mount', () => mountRootfs(steps, buildDir, builder.layers.map((l) => l.dir)));

    const scripts = await steps.run('scripts', () =>
      resolveScripts({
        ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
        sourceDir,
        imageLabels,
        imageEnv,
        needed: ['assemble', 'run'],
        optional: [],
        probeImage: async (p) => (await fileInRoot(rootfs.merged, p)) !== undefined,
      }),
    );
    const destination = resolveDestination(opts.destination, imageLabels);
    const paths = destinationPaths(destination);
    const userSpec = pickAssembleUser(opts.assembleUser, imageLabels, imgConfig.User);
    const user = await resolveUser(rootfs.merged, userSpec);

    await steps.run('inject source', async () => {
      const filter = await makeSourceFilter(sourceDir, opts.exclude);
      const srcDir = await ensureDirInRoot(rootfs.merged, paths.src);
      await copySource(sourceDir, srcDir, filter, {});
      await chownTree(srcDir, user.uid, 0);
      const staging = path.join(buildDir, 'scripts');
      const written = await materializeScripts(scripts, staging);
      if (written.length > 0) {
        const dir = await copyIntoRoot(rootfs.merged, staging, paths.scripts);
        await chownTree(dir, user.uid, 0);
      }
    });

    const assemblePath = scriptPathInImage('assemble', scripts.get('assemble')!, destination);
    const runPath = scriptPathInImage('run', scripts.get('run')!, destination);
    const persistentEnv = mergeEnvStrings(imageEnv, envList);
    const assembleEnv = mergeEnvStrings(persistentEnv, buildEnv);
    if (!assembleEnv.some((e) => e.startsWith('PATH='))) assembleEnv.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const result = await steps.run('assemble', () =>
      runScript({
        runtime,
        rootfs: rootfs.merged,
        bundleDir: path.join(buildDir, 'bundle'),
        id: `oci-s2i-${path.basename(buildDir)}`,
        args: [assemblePath],
        env: assembleEnv,
        cwd: imgConfig.WorkingDir || '/',
        user,
        network: opts.network ?? 'host',
        capDrop: opts.capDrop ?? [],
        signal: engine.signal,
        onProgress: engine.onProgress,
        restricted: namespaceMode() === 'userns-single',
      }),
    );
    if (engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted', { exitCode: ExitCode.interrupted });
    if (result.exitCode !== 0) throw assembleFailed(result, `assemble (${assemblePath})`);

    let metadataLabels: Record<string, string> = {};
    const meta = await readFileInRoot(rootfs.merged, imageMetadataPath, 1 << 20);
    if (meta) {
      try {
        metadataLabels = parseImageMetadata(meta);
      } catch (e) {
        engine.onProgress({ type: 'log', level: 'warn', message: `ignoring ${imageMetadataPath}: ${(e as Error).message}` });
      }
    }
    await rootfs.unmount();

    const layerFile = path.join(buildDir, 'layer.tar');
    const layer = await steps.run('layer', () =>
      writeLayerFile(rootfs.upper, layerFile, {
        compression,
        ...(opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : {}),
        overlayWhiteouts: true,
      }),
    );
    const layerDesc: Descriptor = { mediaType: newLayerType, digest: layer.digest, size: layer.size };
    await engine.store.put(layerDesc, createReadStream(layerFile));

    const commit = await steps.run('commit', async () => {
      const labels = mergeLabels(
        imageLabels,
        generatedLabels({
          builderImage: formatReference(builderRef),
          sourceLocation: sourceDir,
          tag: formatReference(targetRef),
          ...(opts.applicationName ? { appName: opts.applicationName } : {}),
          ...(opts.description ? { description: opts.description } : {}),
        }),
        extraLabels,
        metadataLabels,
      );
      const now = new Date().toISOString();
      let config = appendLayer(builder.config, layer.diffID, {
        created: now,
        created_by: `oci-s2i build: ${assemblePath}`,
        comment: `source-to-image build of ${path.basename(sourceDir)} with ${formatReference(builderRef)}`,
      });
      config = setConfigFields(config, { Cmd: [runPath], Env: persistentEnv, Labels: labels });
      config = { ...config, created: now };
      const configBytes = serializeConfig(config);
      const configDesc = await engine.store.putBytes(configBytes, configMediaType(format));
      const layers = [...builder.manifest.layers, layerDesc];
      const manifest = buildManifest(format, configDesc, layers);
      await engine.store.putBytes(manifest.bytes, manifest.mediaType);
      await engine.store.tag(manifest.descriptor, storeName(targetRef));
      return { manifest, blobs: [...layers, configDesc] };
    });

    let push: PushStats | undefined;
    if (!opts.noPush) {
      push = await steps.run('push', () =>
        pushImage(engine, {
          target: targetRef,
          manifest: commit.manifest,
          blobs: commit.blobs,
          ...(builder.repository ? { source: builder.repository } : {}),
          sourceBlobs: new Set(builder.manifest.layers.map((l) => l.digest)),
        }),
      );
    }
    return {
      reference: formatReference(targetRef),
      digest: commit.manifest.digest,
      manifest: commit.manifest,
      layer,
      timings: steps.timings,
      ...(push ? { push } : {}),
    };
  } finally {
    await steps.cleanup();
  }
}

export async function writeDigestFile(file: string, digest: string): Promise<void> {
  await writeFile(file, digest + '\n');
}
