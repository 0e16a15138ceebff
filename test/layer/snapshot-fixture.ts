// Shared by snapshot*.test.ts: a small root filesystem, its base layer, and the check that base + snapshot
// layer, applied by the project's own applier into an empty directory, give the tree as it is after the change.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { applyLayer } from '../../src/layer/apply.js';
import { writeLayerFile } from '../../src/layer/write.js';
import { describeTree, type NodeDesc } from './write-fixture.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import type { SnapshotDiff } from '../../src/layer/snapshot-diff.js';
import { writeSnapshotLayer } from '../../src/layer/snapshot-write.js';

/** Paths the snapshot tests exclude (the workspace, the engine) or that are always excluded (dev). */
export const EXCLUDED = ['workspace', 'engine', 'dev', 'mnt'];

const T0 = 1_600_000_000;

/** A root filesystem with a bit of everything; `mnt` is left empty for a mount. */
export function makeRoot(root: string): void {
  const p = (...s: string[]): string => path.join(root, ...s);
  for (const d of ['etc', 'usr/bin', 'usr/lib', 'opt/app/data/sub', 'var', 'home/user', 'workspace/src', 'engine/bin', 'dev', 'mnt']) {
    fs.mkdirSync(p(d), { recursive: true });
  }
  fs.writeFileSync(p('etc/conf'), 'conf\n');
  fs.writeFileSync(p('usr/bin/tool'), '#!/bin/sh\n', { mode: 0o755 });
  fs.chmodSync(p('usr/bin/tool'), 0o755);
  fs.writeFileSync(p('usr/lib/libx.so.1'), 'lib1');
  fs.writeFileSync(p('usr/lib/libx.so.2'), 'lib2');
  fs.symlinkSync('libx.so.1', p('usr/lib/libx.so'));
  fs.writeFileSync(p('opt/app/data/a'), 'a');
  fs.writeFileSync(p('opt/app/data/b'), 'bb');
  fs.writeFileSync(p('opt/app/data/sub/c'), 'ccc');
  fs.writeFileSync(p('var/hl1'), 'linked');
  fs.linkSync(p('var/hl1'), p('var/hl2'));
  fs.chownSync(p('home/user'), 1001, 0);
  fs.writeFileSync(p('workspace/src/main.c'), 'int main;');
  fs.writeFileSync(p('engine/bin/oci-s2i'), 'engine');
  fs.writeFileSync(p('dev/null-ish'), '');
  const visit = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const f = path.join(d, n);
      if (fs.lstatSync(f).isDirectory()) visit(f);
      fs.lutimesSync(f, T0, T0);
    }
  };
  visit(root);
}

export function excludedPath(rel: string): boolean {
  return EXCLUDED.some((e) => rel === e || rel.startsWith(`${e}/`));
}

/** The base layer of `root` as it is now (the builder's layers), without the excluded paths. */
export async function writeBase(root: string, file: string): Promise<void> {
  await writeLayerFile(root, file, { overlayWhiteouts: false, exclude: (rel) => excludedPath(rel) });
}

/** Applies gzip layers in order into `dir` with src/layer/apply.ts. */
export async function applyLayers(dir: string, files: string[]): Promise<void> {
  for (const f of files) await applyLayer(createReadStream(f).pipe(createGunzip()), dir, { layerDigest: f });
}

/** The tree a container of those layers sees: overlay whiteouts (char 0:0) are hidden, opaque markers dropped. */
export function mergedView(dir: string): Record<string, NodeDesc> {
  const all = describeTree(dir);
  const hidden = Object.keys(all).filter((k) => all[k]!.type === 'char' && all[k]!.rdev === 0);
  const out: Record<string, NodeDesc> = {};
  for (const [k, v] of Object.entries(all)) {
    if (hidden.some((h) => k === h || k.startsWith(`${h}/`))) continue;
    if (v.xattrs) {
      delete v.xattrs['user.overlay.opaque'];
      if (Object.keys(v.xattrs).length === 0) delete v.xattrs;
    }
    out[k] = v;
  }
  return out;
}

/** The tree at `root` without its excluded paths. */
export function visibleTree(root: string): Record<string, NodeDesc> {
  return Object.fromEntries(Object.entries(describeTree(root)).filter(([k]) => !excludedPath(k)));
}

/** Names in a gzip layer, listed by GNU tar. */
export function tarNames(file: string): string[] {
  const out = execFileSync('tar', ['-tzf', file], { encoding: 'latin1' });
  return out.split('\n').filter((l) => l !== '');
}

/** `tar --numeric-owner -tvzf` lines of a gzip layer: name → "mode uid/gid". */
export function tarOwners(file: string): Record<string, string> {
  const out = execFileSync('tar', ['--numeric-owner', '-tvzf', file], { encoding: 'latin1' });
  const rows: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const f = line.split(/ +/);
    if (f.length < 6) continue;
    rows[f.slice(5).join(' ').replace(/ (link to|->) .*$/, '')] = `${f[0]} ${f[1]}`;
  }
  return rows;
}

export interface OverlayMount {
  merged: string;
  upper: string;
  /** Unmounts now (the teardown then does nothing). */
  unmount(): void;
}

/** An overlay of `dir/lower` (filled by `fill`) mounted at `dir/merged`, as a container's root is: the upper dir
 *  made after the lower tree, past the margin a coarse ctime gets (or before it: `upperFirst`); unmounted when the
 *  test ends. Needs root. */
export async function mountOverlay(t: Test, dir: string, fill: (lower: string) => void, opts: { upperFirst?: boolean; options?: string } = {}): Promise<OverlayMount> {
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(dir, d)) as [string, string, string, string];
  for (const d of opts.upperFirst ? [lower, upper, work] : [lower]) fs.mkdirSync(d, { recursive: true });
  fill(lower);
  if (!opts.upperFirst) {
    await sleep(30);
    for (const d of [upper, work]) fs.mkdirSync(d);
  }
  fs.mkdirSync(merged);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}${opts.options ? `,${opts.options}` : ''}`, merged]);
  let mounted = true;
  const unmount = (): void => {
    if (mounted) execFileSync('umount', [merged]);
    mounted = false;
  };
  t.teardown(unmount);
  return { merged, upper, unmount };
}

/** The layer of `diff` and, once `ovl` is unmounted, the layer of its upper dir (what a sandbox build writes), as
 *  `tar --numeric-owner --full-time -tvzf` lists them. */
export async function snapshotAndUpperListings(diff: SnapshotDiff, dir: string, ovl: OverlayMount): Promise<[string, string]> {
  const snapBlob = path.join(dir, 'snap.tar.gz');
  await writeSnapshotLayer(diff, snapBlob);
  ovl.unmount();
  const upperBlob = path.join(dir, 'upper.tar.gz');
  await writeLayerFile(ovl.upper, upperBlob);
  const list = (f: string): string => execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', f], { encoding: 'latin1' });
  return [list(snapBlob), list(upperBlob)];
}
