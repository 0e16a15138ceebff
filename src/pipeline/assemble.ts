// Assemble, the second part of a build: the previous image's artifacts restored (--incremental), the source and
// the scripts written into the builder's rootfs, and assemble run there with the binds and the hosts file.
import { rm, realpath, lstat } from 'node:fs/promises';
import { createReadStream, fchownSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { chownTree, readFileInRoot, fileInRoot, withDirInRoot } from '../sandbox/rootfs.js';
import { InRoot, chownTreeAt } from '../sys/in-root.js';
import { parseImageMetadata, imageMetadataPath } from '../s2i/image-metadata.js';
import { makeSourceFilter, copySource } from '../s2i/ignore.js';
import { materializeScripts, scriptPathInImage } from '../s2i/scripts.js';
import { extractArtifacts } from './artifacts.js';
import { placeInjections, removeInjections } from './injections.js';
import type { Engine } from './context.js';
import { saveArtifacts } from './incremental.js';
import type { BuildOptions } from './options.js';
import type { Prepared, Sandbox } from './prepare.js';
import { locationName } from './pull.js';
import { runScript, assembleFailed, copyIntoRoot } from './sandbox-run.js';
import type { Steps } from './steps.js';

export interface Assembled {
  /** assemble's path in the image (history, `created_by`). */
  assemblePath: string;
  /** Artifacts of the previous image were restored. */
  incremental: boolean;
  /** Labels from the image's image_metadata.json, if assemble left one. */
  metadataLabels: Record<string, string>;
}

export async function assembleBuild(engine: Engine, steps: Steps, sandbox: Sandbox, opts: BuildOptions, p: Prepared): Promise<Assembled> {
  const { runtime, restricted } = sandbox;
  const { rootfs, plan, user } = p;
  const { destination, paths, assembleEnv } = plan;
  const warn = (message: string) => engine.onProgress({ type: 'log', level: 'warn', message });
  const incremental = await restoreArtifacts(engine, steps, sandbox, opts, p);

  await steps.run('inject source', async () => {
    const filter = await makeSourceFilter(p.source.dir, opts.exclude);
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
        await rootfs.withUpper(() => copySource(p.source.dir, upperSrc, filter, { keepSymlinks, owner: { uid: user.uid, gid: 0 } }));
      } else {
        // The image has this directory already: copy through the overlay, and own what is in it, as s2i does.
        await copySource(p.source.dir, srcFd, filter, { keepSymlinks });
        chownTreeAt(srcFd, { uid: user.uid, gid: 0 });
      }
    });
    const staging = path.join(p.buildDir, 'scripts');
    const written = await materializeScripts(p.scripts, staging);
    if (written.length > 0) await copyIntoRoot(rootfs.merged, staging, paths.scripts, { uid: user.uid, gid: 0 });
  });

  // --inject: copied in for assemble (its user owns them), emptied and removed after it whatever its outcome.
  const injected = p.injections.length > 0 ? await steps.run('inject', async () => placeInjections(rootfs.merged, p.injections, { uid: user.uid, gid: user.gid })) : [];
  const assemblePath = scriptPathInImage('assemble', p.scripts.get('assemble')!, destination);
  const result = await steps.run('assemble', async () => {
    try {
      return await runScript({
        runtime,
        rootfs: rootfs.merged,
        bundleDir: path.join(p.buildDir, 'bundle'),
        storeRoot: engine.root,
        id: `oci-s2i-${path.basename(p.buildDir)}`,
        args: [assemblePath],
        env: assembleEnv,
        cwd: p.workdir,
        user,
        network: opts.network,
        mounts: p.mounts,
        capDrop: opts.capDrop,
        signal: engine.signal,
        onProgress: engine.onProgress,
        restricted,
        ...(p.hostsFile ? { hostsFile: p.hostsFile } : {}),
      });
    } finally {
      if (injected.length > 0) removeInjections(rootfs.merged, injected);
    }
  });
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
  return { assemblePath, incremental, metadataLabels };
}

/** --incremental: save-artifacts run in the previous image, its tar extracted under the artifacts dir. */
async function restoreArtifacts(engine: Engine, steps: Steps, sandbox: Sandbox, opts: BuildOptions, p: Prepared): Promise<boolean> {
  const previous = opts.incremental;
  if (!previous) return false;
  const save = p.scripts.get('save-artifacts');
  if (!save) {
    engine.onProgress({ type: 'log', level: 'info', message: 'no save-artifacts script: clean build' });
    return false;
  }
  const tarFile = await steps.run('save-artifacts', () =>
    saveArtifacts({
      engine,
      steps,
      runtime: sandbox.runtime,
      workDir: path.join(p.buildDir, 'previous'),
      previous: previous.from,
      policy: previous.pullPolicy,
      ...(opts.platform ? { platform: opts.platform } : {}),
      script: save,
      destination: p.plan.destination,
      user: p.plan.assembleUser,
      env: p.plan.assembleEnv,
      network: opts.network,
      capDrop: opts.capDrop,
      restricted: sandbox.restricted,
      ...(opts.isolation ? { isolation: opts.isolation } : {}),
      ...(opts.artifactsMaxBytes ? { maxBytes: opts.artifactsMaxBytes } : {}),
    }),
  );
  if (!tarFile) return false;
  // A tree the build creates: made fresh (an image's symlink there is replaced, its contents removed), so the
  // extraction writes only into directories it made itself.
  const dir = await withDirInRoot(p.rootfs.merged, p.plan.paths.artifacts, 'empty', (fd) => InRoot.hostPathOf(fd));
  try {
    const r = await extractArtifacts(createReadStream(tarFile), dir, {
      ...(opts.artifactsMaxBytes ? { maxBytes: opts.artifactsMaxBytes } : {}),
      onWarning: (message) => engine.onProgress({ type: 'log', level: 'warn', message }),
    });
    await chownTree(dir, p.user.uid, 0);
    engine.onProgress({ type: 'log', level: 'info', message: `restored ${r.entries} artifact entries (${r.bytes} bytes) from ${locationName(previous.from)}` });
    return true;
  } catch (e) {
    if (engine.signal.aborted) throw e;
    engine.onProgress({ type: 'log', level: 'warn', message: `${(e as Error).message}: clean build` });
    await rm(dir, { recursive: true, force: true });
    return false;
  }
}
