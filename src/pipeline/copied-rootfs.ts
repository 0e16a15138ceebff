// The rootfs for where an overlay cannot be mounted (overlay on overlay: a cache on a container's own overlay
// root is refused with EINVAL even privileged; no overlay in the user namespace): the builder's layers copied,
// bottom first, into a plain directory, never hard-linked (assemble writes there, and the layer cache is shared
// by every build), with the overlay semantics of the cache's layer dirs applied on the way (a whiteout, char
// 0:0, removes the name below; a directory marked `user.overlay.opaque` hides what is below it). A metadata
// snapshot (layer/snapshot.ts) is taken once the copy is done, before anything of the build is written; the new
// layer is the diff against it (layer/snapshot-diff.ts, snapshot-write.ts). Slower than the overlay (every
// file of the builder is copied, `cp -a`, reflinks where the file system has them), so it is only the fallback
// of `--isolation auto`, reported in one line.
import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { S2IError } from '../errors.js';
import { takeSnapshot, type Snapshot } from '../layer/snapshot.js';
import { diffSnapshots } from '../layer/snapshot-diff.js';
import { writeSnapshotLayer } from '../layer/snapshot-write.js';
import type { LayerResult, WriteLayerOptions } from '../layer/write.js';
import { walk } from '../layer/walk.js';
import { isWhiteoutDevice } from '../layer/walk-overlay.js';
import { fileSystemOf } from '../sandbox/overlay.js';
import { sandboxError } from '../sandbox/sandbox-error.js';
import { native } from '../sys/native.js';
import type { Isolation } from './options.js';
import { mountRootfs, type Rootfs } from './sandbox-run.js';
import { diffOwnedBy } from './single-id.js';
import type { Steps } from './steps.js';

const execFileP = promisify(execFile);

/** Set to 1: the overlay mount is treated as refused (tests of the fallback on a host where it mounts). */
export const NO_OVERLAY_ENV = 'OCI_S2I_TEST_NO_OVERLAY';

/** Overlay markers of the cache's layer dirs: never part of a copied file's attributes in a layer. */
const OVERLAY_XATTRS = ['user.overlay.opaque', 'trusted.overlay.opaque', 'security.selinux'];

export interface CopiedRootfs extends Rootfs {
  kind: 'copy';
  /** The rootfs as copied, before the build wrote anything. */
  before: Snapshot;
}

export interface RootfsChoice {
  isolation: Isolation | undefined;
  onWarning: (message: string) => void;
}

/**
 * The builder's rootfs: the overlay where it mounts; where it does not, with `--isolation auto` (the default) a
 * copied rootfs and one warning line, with `--isolation sandbox` the sandbox error.
 */
export async function builderRootfs(steps: Steps, buildDir: string, lowers: string[], choice: RootfsChoice): Promise<Rootfs> {
  let refused: unknown;
  if (process.env[NO_OVERLAY_ENV] === '1') refused = new Error(`${NO_OVERLAY_ENV}=1`);
  else {
    try {
      return await mountRootfs(steps, buildDir, lowers);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_OVERLAY') throw e;
      refused = e;
    }
  }
  const why = overlayRefusal(refused, buildDir);
  if (choice.isolation === 'sandbox') throw sandboxError('overlay', 'the overlay rootfs cannot be mounted here', why, refused);
  choice.onWarning(`overlay cannot be mounted here (${why}): using a copied rootfs (slower)`);
  return await copiedRootfs(buildDir, lowers);
}

/** Why the overlay was refused, in a few words (the kernel says EINVAL for both common cases). */
function overlayRefusal(e: unknown, buildDir: string): string {
  const cause = (e as { cause?: { code?: string } }).cause;
  if (fileSystemOf(buildDir) === 'overlay') return `the cache ${path.dirname(path.dirname(buildDir))} is itself on an overlay mount, and overlay on overlay is refused`;
  if (cause?.code) return `mount: ${cause.code}`;
  return (e as Error).message;
}

async function copiedRootfs(buildDir: string, lowers: string[]): Promise<CopiedRootfs> {
  const dir = path.join(buildDir, 'rootfs');
  mkdirSync(dir, { mode: 0o755 });
  for (const layer of lowers) await copyLayer(layer, dir);
  const before = await takeSnapshot(dir);
  return {
    kind: 'copy',
    before,
    merged: dir,
    upper: dir,
    unmount: async () => {},
    upperPath: (p) => p,
    withUpper: (fn) => fn(),
    scratchDirs: () => [dir],
  };
}

/** Copies one layer dir of the cache onto `dir` with overlay semantics (see the top of this file). */
async function copyLayer(layer: string, dir: string): Promise<void> {
  const whiteouts: string[] = [];
  // Walk order is parents first: by the time a name is handled, every directory above it in `dir` is a real
  // directory or absent (a non-directory where the layer has a directory is removed first), so no removal
  // below ever goes through a symlink of an earlier layer.
  for (const node of walk(layer)) {
    const target = path.join(dir, node.rel.toString('utf8'));
    const there = lstatOrUndefined(target);
    if (isWhiteoutDevice(node)) {
      whiteouts.push(target);
      if (there) rmSync(target, { recursive: true, force: true });
    } else if (node.st.type === 'dir') {
      if (there && (!there.isDirectory() || isOpaque(node.abs.toString('utf8')))) rmSync(target, { recursive: true, force: true });
    } else if (there?.isDirectory()) {
      rmSync(target, { recursive: true, force: true });
    }
  }
  try {
    await execFileP('cp', ['-a', '--remove-destination', '--', `${layer}/.`, `${dir}/`], { maxBuffer: 1 << 20 });
  } catch (e) {
    const msg = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n').slice(0, 3).join(' | ');
    throw new S2IError('ERR_LAYER_APPLY', `could not copy the builder's layer ${layer} into the rootfs: ${msg}`, { cause: e });
  }
  for (const w of whiteouts) rmSync(w, { force: true });
}

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function isOpaque(p: string): boolean {
  for (const name of ['user.overlay.opaque', 'trusted.overlay.opaque']) {
    try {
      if (native().lgetxattr(p, name)?.toString() === 'y') return true;
    } catch {
      /* trusted.* is not readable in a user namespace */
    }
  }
  return false;
}

/** The new layer of a copied rootfs: what differs from the snapshot; with `owner`, what the build created is
 *  recorded as that owner (single-ID namespace, single-id.ts). */
export async function writeCopiedRootfsLayer(
  rootfs: CopiedRootfs,
  file: string,
  opts: Omit<WriteLayerOptions, 'nodes' | 'exclude' | 'overlayWhiteouts'>,
  owner: { uid: number; gid: number } | undefined,
): Promise<LayerResult> {
  const diff = await diffSnapshots(rootfs.before, opts.signal ? { signal: opts.signal } : {});
  return writeSnapshotLayer(owner ? diffOwnedBy(diff, owner) : diff, file, { ...opts, dropXattrs: OVERLAY_XATTRS });
}
