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
// source and the builder's metadata (in-image.ts), and then only copies the names into the columns.
//
// Memory: entries are kept in walk order (depth first, siblings sorted by name bytes) in typed-array columns,
// 33 bytes an entry (34 with `chosen`) plus its name (not its path: a child finds its siblings through `end`, the index past its
// subtree), ≈ 4.7 MB for 100 000 entries and no per-entry object for the garbage collector to trace.
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

/** The type bits of st_mode, shifted down: a distinct code per file type. */
const typeCode = (mode: number): number => (mode >>> 12) & 0x0f;
const S_IFDIR = 0o040000 >>> 12;
const S_IFREG = 0o100000 >>> 12;

/** Longer than a kernel tick (10 ms at HZ=100), the most a ctime lags Date.now(): a change made this long after
 *  T0 gets a ctime past T0. And how wide a whole-second ctime is. */
const FINE_GRAIN_MS = 20;
const COARSE_GRAIN_MS = 1000;

/** The walk lets the event loop run after this much work. */
const SLICE_MS = 50;

export class Snapshot {
  count = 0;
  private cap = 1024;
  private type = new Uint8Array(this.cap);
  /** Inode, device and ctime (ms) of directories (0 for the rest). */
  private ino = new Float64Array(this.cap);
  private dev = new Float64Array(this.cap);
  private ctime = new Float64Array(this.cap);
  /** With SnapshotOptions.choose: 1 for the regular files it took (`keepChosen`). */
  chosen: Uint8Array | undefined;
  /** Index past the entry's subtree (the next sibling's index, or the parent's end). */
  private endIdx = new Uint32Array(this.cap);
  private nameOff = new Uint32Array(this.cap + 1);
  private names = Buffer.allocUnsafe(64 * 1024);
  /** Date.now() and performance.now() when the walk started; T0 is the first whole millisecond after it. */
  private readonly startedWall = Date.now();
  private readonly startedMono = performance.now();
  readonly startedMs = this.startedWall + 1;

  constructor(
    /** The real path of the root. */
    readonly root: string,
    /** The root's device: a directory on another one is a mount point. */
    readonly rootDev: number,
    readonly exclude: ExcludeNode,
    /** On a kernel overlay root: directories with a ctime before this (ms) were still in the lower layers, never
     *  copied up (snapshot-lower.ts); -Infinity elsewhere. */
    readonly lowerBefore = -Infinity,
  ) {}

  /** Marks the files SnapshotOptions.choose takes in `chosen`, from the next entry on. */
  keepChosen(): void {
    this.chosen = new Uint8Array(this.cap);
  }

  /** Appends the entry of record `off` of `b` (a `scanTree` listing, in walk order: its subtree follows it). */
  add(b: Buffer, off: number): number {
    if (this.count === this.cap) this.grow();
    const i = this.count++;
    const t = typeCode(rec.mode(b, off));
    this.type[i] = t;
    if (t === S_IFDIR) {
      this.ino[i] = rec.ino(b, off);
      this.dev[i] = rec.dev(b, off);
      this.ctime[i] = rec.ctimeMs(b, off);
    }
    const start = rec.nameStart(b, off);
    const len = rec.nameEnd(b, off) - start;
    const at = this.nameOff[i]!;
    if (at + len > this.names.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.names.length * 2, at + len));
      this.names.copy(bigger, 0, 0, at);
      this.names = bigger;
    }
    b.copy(this.names, at, start, start + len);
    this.nameOff[i + 1] = at + len;
    this.endIdx[i] = i + 1 + rec.subtree(b, off);
    return i;
  }

  /** The first child of entry `i` (-1: the root) is `i + 1`; the next sibling of `j` is `end(j)`; the
   *  children end at `end(i)` (`count` for the root). */
  end(i: number): number {
    return i < 0 ? this.count : this.endIdx[i]!;
  }

  name(i: number): Buffer {
    return this.names.subarray(this.nameOff[i]!, this.nameOff[i + 1]!);
  }

  /** Name order of entry `i` against the name of record `off` of `b` (<0: `i` comes first), the order scanDir
   *  sorts in. */
  compareName(i: number, b: Buffer, off: number): number {
    return this.names.compare(b, rec.nameStart(b, off), rec.nameEnd(b, off), this.nameOff[i]!, this.nameOff[i + 1]!);
  }

  /** Entry `i` has the type of record `off` of `b` (a full listing after `assemble`). */
  sameType(i: number, b: Buffer, off: number): boolean {
    return this.type[i] === typeCode(rec.mode(b, off));
  }

  /** Directory entry `i` is still the directory found at its path (record `off`): the same inode and device.
   *  When not, it was replaced, and none of its children can be told unchanged by their ctimes. */
  sameDir(i: number, b: Buffer, off: number): boolean {
    return this.ino[i] === rec.ino(b, off) && this.dev[i] === rec.dev(b, off);
  }

  isDir(i: number): boolean {
    return this.type[i] === S_IFDIR;
  }

  isFile(i: number): boolean {
    return this.type[i] === S_IFREG;
  }

  /** Directory entry `i` was in the overlay's lower layers alone when recorded (a ctime before the upper layer
   *  was made: snapshot-lower.ts). */
  isLower(i: number): boolean {
    return this.type[i] === S_IFDIR && this.ctime[i]! < this.lowerBefore;
  }

  /** Directory entry `i` was lower-only when recorded and still is (record `off` of `b`, found at its path after
   *  `assemble`): the same inode and the very same ctime. Then nothing below it changed: a change anywhere in a
   *  subtree copies up every directory above it first, which gives each a new ctime (snapshot-lower.ts). */
  untouchedLower(i: number, b: Buffer, off: number): boolean {
    return this.isLower(i) && this.sameType(i, b, off) && this.sameDir(i, b, off) && rec.ctimeMs(b, off) === this.ctime[i];
  }

  /** The entry found after `assemble` at entry `i`'s path (record `off` of `b`), in a directory that was not
   *  replaced (`sameDir` of its parent), is the one recorded and untouched since the snapshot: the same type, a
   *  ctime before T0, and for a directory the same inode. */
  same(i: number, b: Buffer, off: number): boolean {
    if (!this.sameType(i, b, off)) return false;
    if (this.type[i] === S_IFDIR && !this.sameDir(i, b, off)) return false;
    const c = rec.ctimeMs(b, off);
    return c % 1000 === 0 ? c + COARSE_GRAIN_MS <= this.since() : c < this.since();
  }

  /** T0, moved back by as much as the wall clock was stepped back since (the monotonic clock tells). A difference
   *  of a millisecond or two is Date.now()'s rounding, covered by FINE_GRAIN_MS's margin over a kernel tick. */
  private since(): number {
    const back = performance.now() - this.startedMono - (Date.now() - this.startedWall);
    return back > 2 ? this.startedMs - Math.ceil(back) : this.startedMs;
  }

  /** Bytes held by the columns and names (what `bench/snapshot.ts` reports). */
  bytes(): number {
    return this.cap * 33 + this.names.length;
  }

  /** Drops the spare capacity once the walk is done (the snapshot is held while `assemble` runs). */
  trim(): void {
    this.resize(this.count);
    this.names = Buffer.from(this.names.subarray(0, this.nameOff[this.count]!));
  }

  private grow(): void {
    this.resize(Math.max(1024, this.cap * 2));
  }

  private resize(cap: number): void {
    const more = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, n = cap): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a.subarray(0, Math.min(n, a.length)));
      return b;
    };
    this.type = more(this.type);
    this.ino = more(this.ino);
    this.dev = more(this.dev);
    this.ctime = more(this.ctime);
    if (this.chosen) this.chosen = more(this.chosen);
    this.endIdx = more(this.endIdx);
    this.nameOff = more(this.nameOff, cap + 1);
    this.cap = cap;
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
  const mountinfo = readMountinfo();
  const snap = new Snapshot(real, lstatSync(real).dev, excludeTree(real, opts.exclude ?? [], mountinfo), opts.skipLower === false ? -Infinity : overlayUpperBirthMs(real, mountinfo));
  // Names and types alone (an fstatat for directories only), unless files are to be chosen by mode and size.
  const choose = snap.lowerBefore > -Infinity ? opts.choose : undefined;
  if (choose) snap.keepChosen();
  const b = await scanTree(Buffer.from(real), { names: !choose, rootDev: snap.rootDev, exclude: snap.exclude, signal: opts.signal });
  let slice = performance.now();
  for (let off = 0, k = 0; off < b.length; off = rec.next(b, off), k++) {
    const i = snap.add(b, off);
    if (choose && snap.isFile(i) && choose(rec.name(b, off).toString('utf8'), rec.mode(b, off), rec.size(b, off))) snap.chosen![i] = 1;
    if ((k & 1023) === 1023 && performance.now() - slice > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      slice = performance.now();
    }
  }
  // What changes from now on must get a ctime past T0, even from a kernel clock a tick behind Date.now() (a
  // walk of a real root takes far longer than this; a timer can fire a millisecond early, hence the loop).
  for (let now = Date.now(); now < snap.startedMs + FINE_GRAIN_MS; now = Date.now()) {
    await sleep(snap.startedMs + FINE_GRAIN_MS - now, undefined, opts.signal ? { signal: opts.signal } : {});
  }
  snap.trim();
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
