// A metadata snapshot of a root filesystem, taken before `assemble` runs in the builder's own container
// (`--isolation in-image`): the new layer is what differs afterwards (snapshot-diff.ts). Per entry it records
// what tells a change: type, mode, uid, gid, size, mtime, ctime, inode and device, the device numbers of a
// device node and the symlink target. Not whether it has xattrs: setting or removing one sets the ctime, as a
// write, chmod or chown does (snapshot-scan.ts). It never follows symlinks, never crosses into another file
// system (a directory on another device, or a mount point in /proc/self/mountinfo), and leaves out /proc, /sys,
// /dev and the paths it is given (snapshot-exclude.ts).
//
// Directories are listed on the libuv pool, a few at once and ahead of the walk (snapshot-scan.ts Lister): the
// main thread only copies the records into the columns, and is free for other work between listings, so a build
// can take the snapshot while it fetches its source and the builder's metadata (in-image.ts).
//
// Memory: entries are kept in walk order (depth first, siblings sorted by name bytes) in typed-array columns,
// about 80 bytes an entry plus its name (not its path: a child finds its siblings through `end`, the index past
// its subtree), ≈ 10 MB for 100 000 entries and no per-entry object for the garbage collector to trace.
//
// Racily clean entries (git's term): timestamps have a granularity (a kernel tick, 1–10 ms; whole seconds on some
// file systems), so a file written just before the snapshot and rewritten afterwards with the same size could
// keep the same mtime and ctime. Entries whose ctime is that close to the start of the walk are stat'ed again
// once the clock has moved past their tick; any later change then gets a later ctime.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { S2IError } from '../errors.js';
import { excludeTree, readMountinfo, type ExcludeNode } from './snapshot-exclude.js';
import { joinPath, keptRecords, Lister, rec, snapshotError } from './snapshot-scan.js';

export interface SnapshotOptions {
  /** Paths inside the root to leave out with their subtrees (`/workspace` or `workspace`: `<root>/workspace`):
   *  the workspace, the engine's own directory. /proc, /sys, /dev and mount points are always left out. */
  exclude?: readonly string[];
  signal?: AbortSignal;
}

/** The type bits of st_mode, shifted down: a distinct code per file type. */
const typeCode = (mode: number): number => (mode >>> 12) & 0x0f;
const S_IFLNK = 0o120000 >>> 12;
const S_IFCHR = 0o020000 >>> 12;
const S_IFBLK = 0o060000 >>> 12;
/** Changed while the snapshot was taken: always reported as changed. */
const DIRTY = 0x20;

/** Timestamp granularity assumed for a ctime with a fractional part (≥ a kernel tick at HZ=100) and without. */
const FINE_GRAIN_MS = 20;
const COARSE_GRAIN_MS = 1000;
/** The longest wait for racily clean entries (see `takeSnapshot`). */
const MAX_WAIT_MS = 2000;

/** The timestamp granularity to assume for a ctime: a whole second means a file system that keeps no more. */
function grainOf(ctimeMs: number): number {
  return ctimeMs % 1000 === 0 ? COARSE_GRAIN_MS : FINE_GRAIN_MS;
}

/** The walk lets the event loop run after this much work (a 100 000-entry walk takes about a second). */
const SLICE_MS = 50;

export class Snapshot {
  count = 0;
  private cap = 1024;
  private flags = new Uint8Array(this.cap);
  private perm = new Uint16Array(this.cap);
  private uid = new Uint32Array(this.cap);
  private gid = new Uint32Array(this.cap);
  private size = new Float64Array(this.cap);
  private mtime = new Float64Array(this.cap);
  private ctime = new Float64Array(this.cap);
  private ino = new Float64Array(this.cap);
  private dev = new Float64Array(this.cap);
  /** Index past the entry's subtree (the next sibling's index, or the parent's end). */
  private endIdx = new Uint32Array(this.cap);
  private nameOff = new Uint32Array(this.cap + 1);
  private names = Buffer.allocUnsafe(64 * 1024);
  /** Device numbers of device nodes, symlink targets: by index, only for those entries. */
  private readonly rdev = new Map<number, number>();
  private readonly targets = new Map<number, Buffer>();

  constructor(
    /** The real path of the root. */
    readonly root: string,
    /** The root's device: a directory on another one is a mount point. */
    readonly rootDev: number,
    readonly exclude: ExcludeNode,
  ) {}

  /** Appends the entry of record `off` of `b`, a listing of `absDir` (in walk order); its subtree end is set by
   *  `close`. */
  add(b: Buffer, off: number, absDir: Buffer): number {
    if (this.count === this.cap) this.grow();
    const i = this.count++;
    this.flags[i] = typeCode(rec.mode(b, off));
    this.set(i, b, off, absDir);
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
    this.endIdx[i] = i + 1;
    return i;
  }

  close(i: number): void {
    this.endIdx[i] = this.count;
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

  /** Entry `i` has the type of record `off` of `b`. */
  sameType(i: number, b: Buffer, off: number): boolean {
    return (this.flags[i]! & 0x0f) === typeCode(rec.mode(b, off));
  }

  /** The entry found after `assemble` at entry `i`'s path (record `off` of `b`, a listing of `absDir`) is the
   *  same as recorded: nothing a change leaves behind differs. */
  same(i: number, b: Buffer, off: number, absDir: Buffer): boolean {
    const mode = rec.mode(b, off);
    if (this.flags[i] !== typeCode(mode)) return false; // also DIRTY
    if (this.perm[i] !== (mode & 0o7777) || this.uid[i] !== rec.uid(b, off) || this.gid[i] !== rec.gid(b, off) || this.size[i] !== rec.size(b, off)) return false;
    if (this.ctime[i] !== rec.ctimeMs(b, off) || this.mtime[i] !== rec.mtimeMs(b, off) || this.ino[i] !== rec.ino(b, off) || this.dev[i] !== rec.dev(b, off)) return false;
    const t = typeCode(mode);
    if (t === S_IFCHR || t === S_IFBLK) return this.rdev.get(i) === rec.rdev(b, off);
    if (t === S_IFLNK) return this.targets.get(i)!.equals(readlinkSync(joinPath(absDir, rec.name(b, off)), { encoding: 'buffer' }));
    return true;
  }

  /** Bytes held by the columns and names (what `bench/snapshot.ts` reports). */
  bytes(): number {
    let targets = 0;
    for (const t of this.targets.values()) targets += t.length + 64;
    return this.cap * 69 + this.names.length + this.rdev.size * 32 + targets;
  }

  /** Records entry `i` again from record `off` of `b` (a racily clean entry stat'ed once more; -1: it is gone),
   *  or marks it changed. */
  restat(i: number, b: Buffer, off: number, absDir: Buffer, nowMs: number): void {
    if (off < 0 || (this.flags[i]! & 0x0f) !== typeCode(rec.mode(b, off))) this.flags[i]! |= DIRTY;
    else {
      const c = rec.ctimeMs(b, off);
      if (c + grainOf(c) > nowMs) this.flags[i]! |= DIRTY;
      else this.set(i, b, off, absDir);
    }
  }

  ctimeMs(i: number): number {
    return this.ctime[i]!;
  }

  private set(i: number, b: Buffer, off: number, absDir: Buffer): void {
    const mode = rec.mode(b, off);
    this.perm[i] = mode & 0o7777;
    this.uid[i] = rec.uid(b, off);
    this.gid[i] = rec.gid(b, off);
    this.size[i] = rec.size(b, off);
    this.mtime[i] = rec.mtimeMs(b, off);
    this.ctime[i] = rec.ctimeMs(b, off);
    this.ino[i] = rec.ino(b, off);
    this.dev[i] = rec.dev(b, off);
    const t = typeCode(mode);
    if (t === S_IFCHR || t === S_IFBLK) this.rdev.set(i, rec.rdev(b, off));
    if (t === S_IFLNK) this.targets.set(i, readlinkSync(joinPath(absDir, rec.name(b, off)), { encoding: 'buffer' }));
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
    const more = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, n = cap): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a.subarray(0, Math.min(n, a.length)));
      return b;
    };
    this.flags = more(this.flags);
    this.perm = more(this.perm);
    this.uid = more(this.uid);
    this.gid = more(this.gid);
    this.size = more(this.size);
    this.mtime = more(this.mtime);
    this.ctime = more(this.ctime);
    this.ino = more(this.ino);
    this.dev = more(this.dev);
    this.endIdx = more(this.endIdx);
    this.nameOff = more(this.nameOff, cap + 1);
    this.cap = cap;
  }
}

/** Records the tree below `root` (see the top of this file). Synchronous file system calls (the reasons in
 *  walk.ts), with the event loop let in every few tens of milliseconds. The tree must not change meanwhile. */
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
  const snap = new Snapshot(real, lstatSync(real).dev, excludeTree(real, opts.exclude ?? [], readMountinfo()));
  const startedMs = Date.now();
  const lister = new Lister();
  const racy: Array<{ i: number; absDir: Buffer; name: Buffer; until: number }> = [];
  let slice = performance.now();
  /** Directory `absDir`, listed by `listing`: its entries, and the subtrees of its directories (listed ahead). */
  const visit = async (absDir: Buffer, listing: Promise<Buffer>, exclude: ExcludeNode | undefined): Promise<void> => {
    const b = await listing;
    const { kept, below } = keptRecords(b, absDir, exclude, snap.rootDev, lister);
    for (let k = 0; k < kept.length; k++) {
      const off = kept[k]!;
      const i = snap.add(b, off, absDir);
      const c = rec.ctimeMs(b, off);
      const until = c + grainOf(c);
      if (until > startedMs) racy.push({ i, absDir, name: Buffer.from(rec.name(b, off)), until });
      const sub = below[k];
      if (sub) await visit(sub.abs, sub.listing, sub.exclude);
      snap.close(i);
    }
    if (performance.now() - slice > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      slice = performance.now();
    }
  };
  const top = Buffer.from(real);
  await visit(top, lister.list(top), snap.exclude);
  if (racy.length > 0) {
    // A ctime far ahead of the clock (the clock was stepped back) is not waited for: such an entry is always
    // reported as changed instead.
    // Until the clock is past the latest tick, not one sleep: a Node timer can fire a millisecond before Date.now()
    // reaches its time, and an entry re-read then is still racy (reported as changed: a stray directory entry).
    const latest = racy.reduce((m, r) => Math.max(m, r.until), 0);
    const deadline = Date.now() + MAX_WAIT_MS;
    for (let now = Date.now(); now <= latest && now < deadline; now = Date.now()) {
      await sleep(Math.min(latest, deadline) - now + 1, undefined, opts.signal ? { signal: opts.signal } : {});
    }
    restat(snap, lister, racy);
  }
  snap.trim();
  return snap;
}

/** Records the racily clean entries again, each directory listed once. */
function restat(snap: Snapshot, lister: Lister, racy: Array<{ i: number; absDir: Buffer; name: Buffer }>): void {
  const byDir = new Map<Buffer, Array<{ i: number; name: Buffer }>>();
  for (const r of racy) {
    let list = byDir.get(r.absDir);
    if (!list) byDir.set(r.absDir, (list = []));
    list.push({ i: r.i, name: r.name });
  }
  for (const [absDir, list] of byDir) {
    const b = lister.listNow(absDir);
    const found = new Map<string, number>();
    for (let off = 0; off < b.length; off = rec.next(b, off)) found.set(rec.name(b, off).toString('latin1'), off);
    for (const r of list) snap.restat(r.i, b, found.get(r.name.toString('latin1')) ?? -1, absDir, Date.now());
  }
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
