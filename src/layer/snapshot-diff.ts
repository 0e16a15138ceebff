// The new layer of an in-image build: what differs between a root filesystem's snapshot taken before
// `assemble` (snapshot.ts: names, types, directory inodes, the start time T0) and the tree after it. One walk of
// the tree after (full lstat records), merged with the snapshot's entries in the same order (depth first,
// siblings sorted by name bytes), so each directory's two listings are compared side by side and nothing is
// looked up by path.
//
// What it reports, in the order a layer carries them (the overlay writer's: see tar-writer.ts):
// - added and changed entries, with their current metadata. Changed: an entry whose ctime is T0 or later (every
//   change of a file sets it: snapshot.ts), whose type changed (a directory replaced by a file or the reverse:
//   the applier replaces what is there, OCI image-spec layer.md "Changesets"), or a directory whose inode
//   changed; a new directory's whole subtree is added; in a directory whose inode changed (replaced: `rm -rf d
//   && mv new d` brings children with old ctimes) every child present is reported;
// - removed entries as whiteouts at the removed name's place in the order (`.wh.NAME`); a removed directory is
//   one whiteout, its children go with it;
// - the parent directories of all of those, with their current metadata, before their first changed child: a
//   layer carries the parents of what it holds (as overlayfs' copy-up and kaniko do).
//
// What a metadata snapshot cannot see (kaniko documents the same for its mtime-based snapshot modes): a change
// that leaves an entry's ctime before T0. write(2), truncate(2), chmod, chown, setxattr, link, unlink, rename and
// utimes all set ctime, which user space cannot set back, so within one kernel this means: a file changed
// through another kernel or a file system that does not keep ctime (some FUSE and network file systems), a
// change made after the wall clock was stepped back and forward again between the snapshot and the diff (a step
// back alone is told by the monotonic clock and moves T0 back), and changes in what is left out on purpose
// (/proc, /sys, /dev, mount points, excluded paths, the root directory's own metadata, sockets). A file rewritten
// with identical bytes, or changed in the moment before T0, is reported: more bytes in the layer, never a wrong
// tree.
//
// On a kernel overlay root, a directory still in the image's layers, as at the snapshot, is not entered: nothing
// below it changed (snapshot-lower.ts, which also says what this adds to the limits above).
import { lstatSync } from 'node:fs';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { NodeStat, WalkNode } from './walk.js';
import type { Snapshot } from './snapshot.js';
import type { ExcludeNode } from './snapshot-exclude.js';
import { joinPath, keptOffsets, Lister, rec, recordNode, snapshotError, type Below } from './snapshot-scan.js';

export type ChangeKind = 'added' | 'changed' | 'removed' | 'parent';

export interface SnapshotChange {
  kind: ChangeKind;
  /** The entry as the layer writer takes it; for 'removed', a whiteout node (`whiteout: true`). */
  node: WalkNode;
}

export interface SnapshotDiff {
  /** The tree the changes live in (their `abs` paths). */
  root: string;
  /** In layer order. */
  changes: SnapshotChange[];
  counts: Record<ChangeKind, number>;
  /** The regular files `listFiles` chose, changed or not (paths inside the root, no leading `/`). */
  files: string[];
  /** Directories whose subtrees were not walked: still in the overlay's lower layers (snapshot-lower.ts). */
  untouched: number;
  /** With `lowerFilesLater`: each skipped directory (snapshot index, path in the root) and the place in `files`
   *  where the files `listFiles` would choose below it belong (snapshot-lower.ts `withLowerFiles`). */
  lowerDirs: Array<{ at: number; dir: number; rel: Buffer }>;
}

export interface DiffOptions {
  /** The tree after `assemble`; default the snapshot's root. */
  afterRoot?: string;
  signal?: AbortSignal;
  /** Chooses regular files of the tree after, changed or not, for `files` (by name, mode and size): what another
   *  reader of the whole tree needs (an in-image build's SBOM), without a walk of its own. */
  listFiles?: (name: string, mode: number, size: number) => boolean;
  /** Each change as the walk finds it, in layer order, instead of in `changes` (left empty): a layer writer can
   *  take them while the walk goes on (snapshot-write.ts `writeSnapshotLayerWhileDiffing`). */
  onChange?: (change: SnapshotChange) => void;
  /** With `listFiles`, on an overlay root: untouched subtrees are not walked all the same, their files are left
   *  out of `files` and their places noted in `lowerDirs`, for snapshot-lower.ts `withLowerFiles` to fill in from
   *  the snapshot's chosen files (SnapshotOptions.choose, the same chooser). Without it, `listFiles` makes the
   *  walk enter every subtree. */
  lowerFilesLater?: boolean;
}

const SLICE_MS = 50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** The changes from `before` to the tree as it is now. Memory: the changes (about 200 bytes each) and one
 *  directory listing per level of the walk. */
export async function diffSnapshots(before: Snapshot, opts: DiffOptions = {}): Promise<SnapshotDiff> {
  const root = opts.afterRoot ?? before.root;
  try {
    opts.signal?.throwIfAborted();
    return await walkAfter(before, root, opts);
  } catch (e) {
    throw snapshotError(e, `comparing ${root} with its snapshot`, opts.signal);
  }
}

async function walkAfter(before: Snapshot, root: string, opts: DiffOptions): Promise<SnapshotDiff> {
  const rootSt = lstatSync(root);
  const rootDev = opts.afterRoot === undefined ? before.rootDev : rootSt.dev;
  const diff: SnapshotDiff = { root, changes: [], counts: { added: 0, changed: 0, removed: 0, parent: 0 }, files: [], untouched: 0, lowerDirs: [] };
  const listFiles = opts.listFiles;
  // Untouched lower-only subtrees are skipped only in the tree the snapshot was taken of, and when the files to
  // list in them are known without a walk.
  const skipLower = before.lowerBefore > -Infinity && opts.afterRoot === undefined && (!listFiles || opts.lowerFilesLater === true);
  const lister = new Lister();
  /** The directories on the way to the current one (record `off` of listing `b`), and whether each is in the
   *  layer yet. */
  const pending: Array<{ b: Buffer; off: number; abs: Buffer; rel: Buffer; emitted: boolean }> = [];
  const put = opts.onChange ?? ((c: SnapshotChange) => void diff.changes.push(c));
  const emit = (kind: ChangeKind, node: WalkNode): void => {
    for (const p of pending) {
      if (p.emitted) continue;
      p.emitted = true;
      put({ kind: 'parent', node: { rel: p.rel, abs: p.abs, st: recordNode(p.b, p.off, p.abs) } });
      diff.counts.parent++;
    }
    put({ kind, node });
    diff.counts[kind]++;
  };
  let slice = performance.now();

  /** Directory `absDir` after (listed by `listing`), against the snapshot's entries [first, end) (its children
   *  before); `replaced`: it is another directory than the one recorded, so every child present is reported. */
  const visit = async (absDir: Buffer, relDir: Buffer, listing: Promise<Buffer>, first: number, end: number, exclude: ExcludeNode | undefined, dirMtime: number, replaced: boolean): Promise<void> => {
    const b = await listing;
    let j = first;
    /** Whiteouts for the entries before that are gone, up to record `off` (-1: all that are left). */
    const removedUpTo = (off: number): void => {
      while (j < end && (off < 0 || before.compareName(j, b, off) < 0)) {
        const gone = Buffer.from(before.name(j));
        emit('removed', { rel: joinPath(relDir, gone), abs: joinPath(absDir, gone), st: whiteoutStat(dirMtime), whiteout: true });
        j = before.end(j);
      }
    };
    const { kept, excludes } = keptOffsets(b, exclude, rootDev);
    // Each record's entry in the snapshot (-1: new), found first so that subtrees known unchanged are not listed.
    const matches = new Int32Array(kept.length).fill(-1);
    for (let k = 0, i = first; k < kept.length && i < end; k++) {
      let c = before.compareName(i, b, kept[k]!);
      while (c < 0 && (i = before.end(i)) < end) c = before.compareName(i, b, kept[k]!);
      if (c === 0) {
        matches[k] = i;
        i = before.end(i);
      }
    }
    const below = kept.map((off, k): Below | null | undefined => {
      if (!rec.isDir(b, off)) return undefined;
      if (skipLower && !replaced && matches[k]! >= 0 && before.untouchedLower(matches[k]!, b, off)) return null;
      const abs = joinPath(absDir, rec.name(b, off));
      return { abs, listing: lister.list(abs), exclude: excludes[k] };
    });
    for (let k = 0; k < kept.length; k++) {
      const off = kept[k]!;
      removedUpTo(off);
      const match = matches[k]!;
      if (match >= 0) j = before.end(match);
      const sub = below[k];
      if (sub === null) {
        // Still in the lower layers, as at the snapshot: nothing below it changed.
        diff.untouched++;
        if (listFiles) diff.lowerDirs.push({ at: diff.files.length, dir: match, rel: joinPath(relDir, rec.name(b, off)) });
        continue;
      }
      const sameType = match >= 0 && before.sameType(match, b, off);
      const same = sameType && !replaced && before.same(match, b, off);
      if (listFiles && !sub && (rec.mode(b, off) & S_IFMT) === S_IFREG) {
        const name = rec.name(b, off);
        if (listFiles(name.toString('utf8'), rec.mode(b, off), rec.size(b, off))) diff.files.push(joinPath(relDir, name).toString('utf8'));
      }
      if (same && !sub) continue; // the common case: nothing to build
      const name = rec.name(b, off);
      const abs = sub ? sub.abs : joinPath(absDir, name);
      const rel = joinPath(relDir, name);
      if (!same) emit(match < 0 ? 'added' : 'changed', { rel, abs, st: recordNode(b, off, abs) });
      if (sub) {
        pending.push({ b, off, abs, rel, emitted: !same });
        // A new directory (or one that replaced something else) has no children before: all of them are added.
        if (sameType) await visit(abs, rel, sub.listing, match + 1, before.end(match), sub.exclude, rec.mtimeSec(b, off), !before.sameDir(match, b, off));
        else await visit(abs, rel, sub.listing, 0, 0, sub.exclude, rec.mtimeSec(b, off), false);
        pending.pop();
      }
    }
    removedUpTo(-1);
    if (performance.now() - slice > SLICE_MS) {
      await yieldLoop();
      opts.signal?.throwIfAborted();
      slice = performance.now();
    }
  };
  const top = Buffer.from(root);
  await visit(top, Buffer.alloc(0), lister.list(top), 0, before.end(-1), before.exclude, Math.floor(rootSt.mtimeMs / 1000), false);
  return diff;
}

/** A whiteout is written as an empty regular file owned by root (tar-writer.ts `markerEntry`); its mtime is
 *  its directory's, which the removal set. */
function whiteoutStat(mtime: number): NodeStat {
  return { type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime, nlink: 1, devMajor: 0, devMinor: 0, inode: '', hasXattrs: false };
}
