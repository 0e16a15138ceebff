// A metadata snapshot of a root filesystem, taken before `assemble` runs in the builder's own container
// (`--isolation in-image`): the new layer is what differs afterwards (snapshot-diff.ts). Per entry it records
// what tells a change: type, mode, uid, gid, size, mtime, ctime, inode and device, the device numbers of a
// device node, the symlink target, and whether it has xattrs. It never follows symlinks, never crosses into
// another file system (a directory on another device, or a mount point in /proc/self/mountinfo), and leaves out
// /proc, /sys, /dev and the paths it is given (snapshot-exclude.ts).
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
import type { NodeType } from './walk.js';
import { excludeTree, readMountinfo, type ExcludeNode } from './snapshot-exclude.js';
import { scanEntries, snapshotError, type ScanEntry } from './snapshot-scan.js';

export interface SnapshotOptions {
  /** Paths inside the root to leave out with their subtrees (`/workspace` or `workspace`: `<root>/workspace`):
   *  the workspace, the engine's own directory. /proc, /sys, /dev and mount points are always left out. */
  exclude?: readonly string[];
  signal?: AbortSignal;
}

const TYPE_CODE: Record<NodeType, number> = { file: 1, dir: 2, symlink: 3, char: 4, block: 5, fifo: 6, socket: 7 };
const TYPE_MASK = 0x0f;
const XATTRS = 0x10;
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

  /** Appends an entry (in walk order); its subtree end is set by `close`. */
  add(e: ScanEntry): number {
    if (this.count === this.cap) this.grow();
    const i = this.count++;
    const st = e.st;
    this.flags[i] = TYPE_CODE[st.type] | (st.hasXattrs ? XATTRS : 0);
    this.set(i, e);
    const off = this.nameOff[i]!;
    if (off + e.name.length > this.names.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.names.length * 2, off + e.name.length));
      this.names.copy(bigger, 0, 0, off);
      this.names = bigger;
    }
    e.name.copy(this.names, off);
    this.nameOff[i + 1] = off + e.name.length;
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

  /** Name order of entry `i` against `name` (<0: `i` comes first), the order scanDir sorts in. */
  compareName(i: number, name: Buffer): number {
    return this.names.compare(name, 0, name.length, this.nameOff[i]!, this.nameOff[i + 1]!);
  }

  /** Entry `i` was recorded as a `type`. */
  isType(i: number, type: NodeType): boolean {
    return (this.flags[i]! & TYPE_MASK) === TYPE_CODE[type];
  }

  /** The entry `e` found after `assemble` at entry `i`'s path is the same as recorded: nothing a change leaves
   *  behind differs. */
  same(i: number, e: ScanEntry): boolean {
    const st = e.st;
    if (this.flags[i] !== (TYPE_CODE[st.type] | (st.hasXattrs ? XATTRS : 0))) return false; // also DIRTY
    if (this.perm[i] !== st.mode || this.uid[i] !== st.uid || this.gid[i] !== st.gid || this.size[i] !== st.size) return false;
    if (this.mtime[i] !== e.mtimeMs || this.ctime[i] !== e.ctimeMs || this.ino[i] !== e.ino || this.dev[i] !== e.dev) return false;
    if (st.type === 'char' || st.type === 'block') return this.rdev.get(i) === st.devMajor * 2 ** 32 + st.devMinor;
    if (st.type === 'symlink') return this.targets.get(i)!.equals(readlinkSync(e.abs, { encoding: 'buffer' }));
    return true;
  }

  /** Bytes held by the columns and names (what `bench/snapshot.ts` reports). */
  bytes(): number {
    let targets = 0;
    for (const t of this.targets.values()) targets += t.length + 64;
    return this.cap * 69 + this.names.length + this.rdev.size * 32 + targets;
  }

  /** Records `e` again for entry `i` (a racily clean entry stat'ed once more), or marks it changed. */
  restat(i: number, e: ScanEntry | undefined, nowMs: number): void {
    if (!e || (this.flags[i]! & TYPE_MASK) !== TYPE_CODE[e.st.type] || e.ctimeMs + grainOf(e.ctimeMs) > nowMs) this.flags[i]! |= DIRTY;
    else this.set(i, e);
  }

  ctimeMs(i: number): number {
    return this.ctime[i]!;
  }

  private set(i: number, e: ScanEntry): void {
    const st = e.st;
    this.perm[i] = st.mode;
    this.uid[i] = st.uid;
    this.gid[i] = st.gid;
    this.size[i] = st.size;
    this.mtime[i] = e.mtimeMs;
    this.ctime[i] = e.ctimeMs;
    this.ino[i] = e.ino;
    this.dev[i] = e.dev;
    if (st.type === 'char' || st.type === 'block') this.rdev.set(i, st.devMajor * 2 ** 32 + st.devMinor);
    if (st.type === 'symlink') this.targets.set(i, readlinkSync(e.abs, { encoding: 'buffer' }));
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
  const racy: Array<{ i: number; abs: Buffer; until: number }> = [];
  let slice = performance.now();
  const visit = async (absDir: Buffer, exclude: ExcludeNode | undefined): Promise<void> => {
    for (const e of scanEntries(absDir, exclude, snap.rootDev)) {
      const i = snap.add(e);
      const until = e.ctimeMs + grainOf(e.ctimeMs);
      if (until > startedMs) racy.push({ i, abs: e.abs, until });
      if (e.st.type === 'dir') await visit(e.abs, e.exclude);
      snap.close(i);
    }
    if (performance.now() - slice > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      slice = performance.now();
    }
  };
  await visit(Buffer.from(real), snap.exclude);
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
    restat(snap, racy);
  }
  snap.trim();
  return snap;
}

/** Records the racily clean entries again, each directory listed once. */
function restat(snap: Snapshot, racy: Array<{ i: number; abs: Buffer }>): void {
  const byDir = new Map<string, Array<{ i: number; name: Buffer }>>();
  for (const r of racy) {
    const slash = r.abs.lastIndexOf(0x2f);
    const dir = r.abs.subarray(0, Math.max(slash, 1)).toString('latin1');
    let list = byDir.get(dir);
    if (!list) byDir.set(dir, (list = []));
    list.push({ i: r.i, name: r.abs.subarray(slash + 1) });
  }
  for (const [dir, list] of byDir) {
    let found: Map<string, ScanEntry>;
    try {
      found = new Map(scanEntries(Buffer.from(dir, 'latin1'), undefined, snap.rootDev).map((e) => [e.name.toString('latin1'), e]));
    } catch {
      found = new Map();
    }
    for (const r of list) snap.restat(r.i, found.get(r.name.toString('latin1')), Date.now());
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
