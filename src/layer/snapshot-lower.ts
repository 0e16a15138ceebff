// Subtrees an in-image build's walk after `assemble` need not enter, on a kernel overlay root (a container's root
// under podman, CRI-O, containerd or Docker).
//
// Overlayfs keeps a directory in its lower layers (the image's, read-only) until something below it changes:
// creating, writing, chmod-ing, linking, renaming or removing any entry first copies up every directory on the
// way to it, each a new inode in the upper layer made now, so each gets a ctime of now (the merged view shows the
// upper inode's ctime, under the lower inode's number). A directory found with the very ctime and inode it had
// at the snapshot, and whose ctime then was older than the upper layer itself, has stayed in the lower layers all
// along, and so has everything below it: the same tree as at the snapshot, nothing to compare.
//
// The upper layer is made for the container, after the image's layers were unpacked: its root directory's birth
// time (statx btime of the overlay's root, which the merged view takes from the upper root) is a bound no
// copied-up directory's ctime is below, and the image's directories are older. A margin of FINE_GRAIN_MS covers a
// ctime stamped from the coarse clock a tick behind the btime. Without a btime (a file system that keeps none),
// or where the root is not the root of a kernel overlay mount (fuse-overlayfs, a bind mount, a plain
// directory), no directory counts as lower-only and the walk enters every one.
//
// What this adds to the limits in snapshot-diff.ts: a wall clock stepped back between the container's start and
// the snapshot could stamp a copied-up directory earlier than the upper root's birth; and a lower file's other
// hard links seen through overlay's `index=on` feature change without a copy-up of their directories (the layer
// then lacks them, as a sandbox build's upper directory does).
//
// The SBOM of an in-image build reads candidate files of the whole root (layer-catalog.ts `catalogCandidate`),
// also below skipped subtrees: the snapshot marks them (SnapshotOptions.choose: its walk then stats every entry,
// not only directories), and `withLowerFiles` puts those of the skipped subtrees in the diff's list, in walk
// order (or, when an earlier build kept their findings, pipeline/in-image-sbom-files.ts lists them from what was
// kept, and the snapshot records names alone). What the snapshot found below a directory untouched since is what
// is there after `assemble`.
import { lstatSync } from 'node:fs';
import type { Snapshot } from './snapshot.js';
import type { SnapshotDiff } from './snapshot-diff.js';
import { joinPath } from './snapshot-scan.js';

/** A kernel tick and then some: how far a ctime from the coarse clock may lag a btime from the fine one. */
const FINE_GRAIN_MS = 20;

/** The birth time (ms, less the margin) of the upper layer of the kernel overlay mounted at `root` (a real path),
 *  by `mountinfo` (the text of /proc/self/mountinfo, its last mount at `root`); -Infinity when `root` is not the
 *  root of such a mount or has no birth time. */
export function overlayUpperBirthMs(root: string, mountinfo: string): number {
  if (!isOverlayRoot(root, mountinfo)) return -Infinity;
  let born: number;
  try {
    born = lstatSync(root).birthtimeMs;
  } catch {
    return -Infinity;
  }
  return born > 0 ? born - FINE_GRAIN_MS : -Infinity;
}

/** Whether the last mount at `root` in `mountinfo` is a kernel overlay whose own root is mounted there (not a
 *  bind mount of a directory inside one). proc(5): field 4 is the root of the mount in its file system, field 5
 *  the mount point (octal escapes), the file system type follows the ` - ` separator. */
export function isOverlayRoot(root: string, mountinfo: string): boolean {
  let found = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const mp = fields[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === undefined || Buffer.from(mp, 'latin1').toString('utf8') !== root) continue;
    found = fields[3] === '/' && line.slice(sep + 3).split(' ')[0] === 'overlay';
  }
  return found;
}

/** The files the snapshot chooses whose directory was still in the image's layers at the snapshot, in walk
 *  order: their entry indices and paths (`lowerChosenFiles`). */
export interface LowerChosen {
  index: Int32Array;
  path: string[];
}

/** The diff's `files` with those the snapshot chose below the directories the diff did not walk (`lowerDirs`),
 *  each at its place: the whole list in walk order (depth first, siblings by name bytes). `chosen`: those files,
 *  found earlier (`lowerChosenFiles`), so that the snapshot need not ask SnapshotOptions.choose now. `lower`
 *  collects the added ones: files untouched since the snapshot. */
export function withLowerFiles(diff: SnapshotDiff, snap: Snapshot, chosen?: LowerChosen, lower?: Set<string>): string[] {
  if (!snap.choosing || diff.lowerDirs.length === 0) return diff.files;
  const out: string[] = [];
  let from = 0;
  for (const { at, dir, rel } of diff.lowerDirs) {
    for (; from < at; from++) out.push(diff.files[from]!);
    const first = out.length;
    if (chosen) {
      // The subtree of `dir` is the entries (dir, end(dir)): a run of `chosen`, which is in walk order.
      const end = snap.end(dir);
      for (let k = firstAbove(chosen.index, dir); k < chosen.index.length && chosen.index[k]! < end; k++) out.push(chosen.path[k]!);
    } else {
      listedBelow(snap, dir, rel, out);
    }
    if (lower) for (let k = first; k < out.length; k++) lower.add(out[k]!);
  }
  for (; from < diff.files.length; from++) out.push(diff.files[from]!);
  return out;
}

/** The first position of sorted `index` holding a value above `i`. */
function firstAbove(index: Int32Array, i: number): number {
  let lo = 0;
  let hi = index.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index[mid]! <= i) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The files the snapshot chooses whose directory was still in the image's layers at the snapshot: those
 *  `withLowerFiles` may take once the diff is done (the ones below directories `assemble` left untouched), for a
 *  reader to read ahead while `assemble` runs. */
export function lowerChosenFiles(snap: Snapshot): LowerChosen {
  const index: number[] = [];
  const path: string[] = [];
  if (snap.choosing) {
    const visit = (dir: number, rel: Buffer, lower: boolean): void => {
      for (let i = dir + 1; i < snap.end(dir); i = snap.end(i)) {
        if (lower && snap.isChosen(i)) {
          index.push(i);
          path.push(joinPath(rel, snap.name(i)).toString('utf8'));
        } else if (snap.isDir(i) && snap.end(i) > i + 1) {
          visit(i, joinPath(rel, snap.name(i)), lower || snap.isLower(i));
        }
      }
    };
    visit(-1, Buffer.alloc(0), false);
  }
  return { index: Int32Array.from(index), path };
}

/** The files the snapshot chooses in the subtree of entry `dir` (path `rel` in the root), appended to `out` in
 *  walk order. */
function listedBelow(snap: Snapshot, dir: number, rel: Buffer, out: string[]): void {
  for (let i = dir + 1; i < snap.end(dir); i = snap.end(i)) {
    if (snap.isChosen(i)) out.push(joinPath(rel, snap.name(i)).toString('utf8'));
    else if (snap.isDir(i) && snap.end(i) > i + 1) listedBelow(snap, i, joinPath(rel, snap.name(i)), out);
  }
}
