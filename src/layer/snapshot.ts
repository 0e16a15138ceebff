// A snapshot of a root filesystem, taken before `assemble` runs in the builder's own container
// (`--isolation in-image`): the new layer is what differs afterwards (snapshot-diff.ts). It records the names and
// types of the entries (readdir's d_type: no stat per file), the inode and device of each directory, and the
// time it started (T0). Nothing else of a file is needed: every change the diff reports sets the changed
// inode's ctime (write, truncate, chmod, chown, setxattr/removexattr, link and unlink of another name, rename,
// utimes, and creating it), user space cannot set a ctime, and a ctime is never later than the clock. So an
// entry found after `assemble` under the same name, with the same type, in a directory whose inode is the one
// recorded, with a ctime before T0, is the same file, untouched since T0; one with a later ctime is reported
// with its current metadata. Names and types are what removals (whiteouts) and type changes need.
//
// Directory ctimes: on a kernel overlay root, a directory whose ctime is older than the upper layer was still in
// the image's layers, and if its ctime is the same after `assemble`, so is everything below it (snapshot-lower.ts).
//
// Directory inodes: a directory moved over another one's name (`rm -rf d && mv new d`) carries its children with
// their old ctimes; only the directory's own inode tells it is another one. The diff then reports every child
// present (snapshot-diff.ts). An inode number reused by a directory made after T0 is no hazard: everything in
// such a directory got there after T0, with a ctime after T0.
//
// It never follows symlinks, never crosses into another file system (a directory on another device, or a mount
// point in /proc/self/mountinfo), and leaves out /proc, /sys, /dev and the paths it is given
// (snapshot-exclude.ts).
//
// The tree is listed in native code by a few threads at once (snapshot-scan.ts scanTree), with no trip through the
// event loop per directory: the main thread is free meanwhile, so a build takes the snapshot while it fetches its
// source and the builder's metadata (in-image.ts), and then only notes where each record starts.
//
// Memory: the walk's records as it returned them (snapshot-scan.ts scanTree: one buffer, in walk order, each
// directory followed by its subtree and knowing its size), read in place, and one offset per entry: 92 bytes an
// entry plus its name padded to 8 (not its path), ≈ 10 MB for 100 000 entries, and no per-entry object for the
// garbage collector to trace. Nothing is copied out of the records: a copy into narrower columns cost the main
// thread ≈ 0.1 s for the 21 000 entries of a Go builder, at the moment the build fetched the builder's metadata.
//
// Timestamps and T0: the kernel stamps ctime from a clock that may lag the one Date.now() reads by up to a tick
// (1–10 ms), never leads it. T0 is the millisecond after Date.now() when the walk starts, so whatever changed before has a
// ctime before T0; the snapshot is handed over no sooner than FINE_GRAIN_MS after T0, so whatever changes after
// it gets a ctime past T0 even from a clock a tick behind. A file system that keeps whole seconds (a ctime with
// no fraction) is judged a second wider: an entry changed in the second before T0 is reported too (more bytes,
// never a wrong tree). A wall clock stepped back between the snapshot and the diff (told by the monotonic clock)
// moves T0 back as far.
import { lstatSync, realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { S2IError } from '../errors.js';
import { excludeTree, readMountinfo, type ExcludeNode } from './snapshot-exclude.js';
import { overlayUpperBirthMs } from './snapshot-lower.js';
import { rec, scanTree, snapshotError } from './snapshot-scan.js';

export interface SnapshotOptions {
  /** Paths inside the root to leave out with their subtrees (`/workspace` or `workspace`: `<root>/workspace`):
   *  the workspace, the engine's own directory. /proc, /sys, /dev and mount points are always left out. */
  exclude?: readonly string[];
  signal?: AbortSignal;
  /** false: record no directory as lower-only, so the diff walks every subtree (tests and benches compare). */
  skipLower?: boolean;
  /** On a kernel overlay root: the regular files to mark in `Snapshot.chosen` (by name, mode and size), for a
   *  reader of the whole tree after (an in-image build's SBOM) to find those below the directories the diff will
   *  not enter (snapshot-lower.ts `withLowerFiles`). The walk then stats every entry, not directories alone. */
  choose?: (name: string, mode: number, size: number) => boolean;
}

/** What `Snapshot.data()` gives. */
export interface SnapshotData {
  root: string;
  rootDev: number;
  exclude: ExcludeNode;
  lowerBefore: number;
  tree: Uint8Array;
  started: { wall: number; mono: number };
}

/** The type bits of st_mode, shifted down: a distinct code per file type. */
const typeCode = (mode: number): number => (mode >>> 12) & 0x0f;
const S_IFDIR = 0o040000 >>> 12;
const S_IFREG = 0o100000 >>> 12;

/** Longer than a kernel tick (10 ms at HZ=100), the most a ctime lags Date.now(): a change made this long after
 *  T0 gets a ctime past T0. And how wide a whole-second ctime is. */
const FINE_GRAIN_MS = 20;
const COARSE_GRAIN_MS = 1000;

export class Snapshot {
  readonly count: number;
  /** Offset of each entry's record in `tree`, and the end of the last. */
  private readonly offs: Uint32Array;
  /** SnapshotOptions.choose's answers, asked for when first wanted (`isChosen`): 1 chosen, 2 not. */
  private chosen: Uint8Array | undefined;
  /** Date.now() and performance.now() when the walk started; T0 is the first whole millisecond after it. */
  private readonly startedWall: number;
  private readonly startedMono: number;
  readonly startedMs: number;

  constructor(
    /** The real path of the root. */
    readonly root: string,
    /** The root's device: a directory on another one is a mount point. */
    readonly rootDev: number,
    readonly exclude: ExcludeNode,
    /** On a kernel overlay root: directories with a ctime before this (ms) were still in the lower layers, never
     *  copied up (snapshot-lower.ts); -Infinity elsewhere. */
    readonly lowerBefore: number,
    /** The walk's records (snapshot-scan.ts scanTree), in walk order, each followed by its subtree. */
    private readonly tree: Buffer,
    started: { wall: number; mono: number },
    /** SnapshotOptions.choose, when the walk stat'ed every entry for it. */
    private readonly choose?: SnapshotOptions['choose'],
  ) {
    this.startedWall = started.wall;
    this.startedMono = started.mono;
    this.startedMs = started.wall + 1;
    let n = 0;
    for (let off = 0; off < tree.length; off = rec.next(tree, off)) n++;
    this.count = n;
    this.offs = new Uint32Array(n + 1);
    for (let i = 0, off = 0; i < n; i++, off = rec.next(tree, off)) this.offs[i] = off;
    this.offs[n] = tree.length;
  }

  /** The snapshot as plain data, for another thread to rebuild it (`Snapshot.of`; structured clone copies it). */
  data(): SnapshotData {
    return { root: this.root, rootDev: this.rootDev, exclude: this.exclude, lowerBefore: this.lowerBefore, tree: this.tree, started: { wall: this.startedWall, mono: this.startedMono } };
  }

  /** The snapshot `data()` gave (in another thread: `started.mono` is then another clock's, so `same` is not to
   *  be asked there), choosing with `choose`. */
  static of(d: SnapshotData, choose?: SnapshotOptions['choose']): Snapshot {
    return new Snapshot(d.root, d.rootDev, d.exclude, d.lowerBefore, Buffer.from(d.tree.buffer, d.tree.byteOffset, d.tree.byteLength), d.started, choose);
  }

  /** Whether `isChosen` can tell the SBOM's files (SnapshotOptions.choose on a kernel overlay root). */
  get choosing(): boolean {
    return this.choose !== undefined;
  }

  /** Regular file entry `i` is one SnapshotOptions.choose takes (by name, mode and size); false without it. */
  isChosen(i: number): boolean {
    if (!this.choose || !this.isFile(i)) return false;
    this.chosen ??= new Uint8Array(this.count);
    if (this.chosen[i] === 0) {
      const off = this.offs[i]!;
      this.chosen[i] = this.choose(this.tree.toString('utf8', rec.nameStart(this.tree, off), rec.nameEnd(this.tree, off)), rec.mode(this.tree, off), rec.size(this.tree, off)) ? 1 : 2;
    }
    return this.chosen[i] === 1;
  }

  /** The first child of entry `i` (-1: the root) is `i + 1`; the next sibling of `j` is `end(j)`; the
   *  children end at `end(i)` (`count` for the root). */
  end(i: number): number {
    return i < 0 ? this.count : i + 1 + rec.subtree(this.tree, this.offs[i]!);
  }

  name(i: number): Buffer {
    const off = this.offs[i]!;
    return this.tree.subarray(rec.nameStart(this.tree, off), rec.nameEnd(this.tree, off));
  }

  /** Name order of entry `i` against the name of record `off` of `b` (<0: `i` comes first), the order scanDir
   *  sorts in. */
  compareName(i: number, b: Buffer, off: number): number {
    const at = this.offs[i]!;
    return this.tree.compare(b, rec.nameStart(b, off), rec.nameEnd(b, off), rec.nameStart(this.tree, at), rec.nameEnd(this.tree, at));
  }

  private type(i: number): number {
    return typeCode(rec.mode(this.tree, this.offs[i]!));
  }

  /** Inode, device and ctime (ms) of directory entry `i`. */
  private ctime(i: number): number {
    return rec.ctimeMs(this.tree, this.offs[i]!);
  }

  /** Entry `i` has the type of record `off` of `b` (a full listing after `assemble`). */
  sameType(i: number, b: Buffer, off: number): boolean {
    return this.type(i) === typeCode(rec.mode(b, off));
  }

  /** Directory entry `i` is still the directory found at its path (record `off`): the same inode and device.
   *  When not, it was replaced, and none of its children can be told unchanged by their ctimes. */
  sameDir(i: number, b: Buffer, off: number): boolean {
    const at = this.offs[i]!;
    return rec.ino(this.tree, at) === rec.ino(b, off) && rec.dev(this.tree, at) === rec.dev(b, off);
  }

  isDir(i: number): boolean {
    return this.type(i) === S_IFDIR;
  }

  isFile(i: number): boolean {
    return this.type(i) === S_IFREG;
  }

  /** Directory entry `i` was in the overlay's lower layers alone when recorded (a ctime before the upper layer
   *  was made: snapshot-lower.ts). */
  isLower(i: number): boolean {
    return this.isDir(i) && this.ctime(i) < this.lowerBefore;
  }

  /** Directory entry `i` was lower-only when recorded and still is (record `off` of `b`, found at its path after
   *  `assemble`): the same inode and the very same ctime. Then nothing below it changed: a change anywhere in a
   *  subtree copies up every directory above it first, which gives each a new ctime (snapshot-lower.ts). */
  untouchedLower(i: number, b: Buffer, off: number): boolean {
    return this.isLower(i) && this.sameType(i, b, off) && this.sameDir(i, b, off) && rec.ctimeMs(b, off) === this.ctime(i);
  }

  /** The entry found after `assemble` at entry `i`'s path (record `off` of `b`), in a directory that was not
   *  replaced (`sameDir` of its parent), is the one recorded and untouched since the snapshot: the same type, a
   *  ctime before T0, and for a directory the same inode. */
  same(i: number, b: Buffer, off: number): boolean {
    if (!this.sameType(i, b, off)) return false;
    if (this.isDir(i) && !this.sameDir(i, b, off)) return false;
    const c = rec.ctimeMs(b, off);
    return c % 1000 === 0 ? c + COARSE_GRAIN_MS <= this.since() : c < this.since();
  }

  /** T0, moved back by as much as the wall clock was stepped back since (the monotonic clock tells). A difference
   *  of a millisecond or two is Date.now()'s rounding, covered by FINE_GRAIN_MS's margin over a kernel tick. */
  private since(): number {
    const back = performance.now() - this.startedMono - (Date.now() - this.startedWall);
    return back > 2 ? this.startedMs - Math.ceil(back) : this.startedMs;
  }

  /** Bytes held: the records and their offsets (what `bench/snapshot.ts` reports). */
  bytes(): number {
    return this.tree.length + this.offs.byteLength + (this.chosen?.byteLength ?? 0);
  }
}

/** Records the tree below `root` (see the top of this file), listing directories on the libuv pool, the event
 *  loop let in every few tens of milliseconds. The tree must not change meanwhile. */
export async function takeSnapshot(root: string, opts: SnapshotOptions = {}): Promise<Snapshot> {
  const real = realRoot(root);
  try {
    opts.signal?.throwIfAborted();
    return await walkRoot(real, opts);
  } catch (e) {
    throw snapshotError(e, `the snapshot of ${real}`, opts.signal);
  }
}

async function walkRoot(real: string, opts: SnapshotOptions): Promise<Snapshot> {
  const started = { wall: Date.now(), mono: performance.now() };
  const mountinfo = readMountinfo();
  const rootDev = lstatSync(real).dev;
  const exclude = excludeTree(real, opts.exclude ?? [], mountinfo);
  const lowerBefore = opts.skipLower === false ? -Infinity : overlayUpperBirthMs(real, mountinfo);
  // Names and types alone (an fstatat for directories only), unless files are to be chosen by mode and size.
  const choose = lowerBefore > -Infinity ? opts.choose : undefined;
  const tree = await scanTree(Buffer.from(real), { names: !choose, rootDev, exclude, signal: opts.signal });
  const snap = new Snapshot(real, rootDev, exclude, lowerBefore, tree, started, choose);
  // What changes from now on must get a ctime past T0, even from a kernel clock a tick behind Date.now() (a
  // walk of a real root takes far longer than this; a timer can fire a millisecond early, hence the loop).
  for (let now = Date.now(); now < snap.startedMs + FINE_GRAIN_MS; now = Date.now()) {
    await sleep(snap.startedMs + FINE_GRAIN_MS - now, undefined, opts.signal ? { signal: opts.signal } : {});
  }
  return snap;
}

function realRoot(root: string): string {
  try {
    const real = realpathSync(root);
    if (!lstatSync(real).isDirectory()) throw new Error('not a directory');
    return real;
  } catch (e) {
    throw new S2IError('ERR_SNAPSHOT_ROOT', `cannot snapshot ${root}: ${(e as Error).message}; give an existing directory`, { cause: e });
  }
}
