// The listings of a root-filesystem snapshot: native/sys.c's `scanDir` records (sorted names, the lstat fields,
// ctime, inode and device: one fstatat per entry, relative to the directory's descriptor), read in place without
// an object per entry. The walk after `assemble` lists directory by directory (`Lister`); the walk before it
// (snapshot.ts) takes the whole tree in one native call (`scanTree`), by default names and types alone (readdir's
// d_type, an fstatat for directories alone), in the same record layout, so both walks read entries through the
// same code.
//
// The xattr list is not asked for (a second system call per entry, as costly as the stat): every change of an
// entry's xattrs sets its ctime, which the diff compares with the snapshot's start; the few entries a diff
// reports ask for it then.
//
// The walk after `assemble` lists directories on the libuv pool (`scanDirAsync`), several at once, a few ahead of
// the walk: the walk itself stays in order (depth first, siblings sorted by name bytes) and on the main thread.
// Each listing is a trip through the pool and back through the event loop (≈ 0.25 ms on the 2-core machine of
// bench/README.md), which is why the walk before, which lists every directory, is one call: the walk after
// enters only what `assemble` changed.
import { availableParallelism } from 'node:os';
import { native } from '../sys/native.js';
import { S2IError } from '../errors.js';
import { nextRecord, recordName, recordStat, type NodeStat } from './walk.js';
import type { ExcludeNode } from './snapshot-exclude.js';

const SLASH = 0x2f;
const FIXED = 88;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFSOCK = 0o140000;
const U32 = 2 ** 32;
/** A directory that cannot be listed (or vanished, or stopped being one, while scanned). */
const UNREADABLE = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);
/** Directory listings on the pool at once (its default size is 4 threads). */
const IN_FLIGHT = 4;
const EMPTY = Buffer.alloc(0);

/** `dir/name`; `name` alone for an empty `dir`; `/name` for the root `/`. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 0) return name;
  const sep = dir[dir.length - 1] === SLASH ? 0 : 1;
  const out = Buffer.allocUnsafe(dir.length + sep + name.length);
  dir.copy(out, 0);
  if (sep) out[dir.length] = SLASH;
  name.copy(out, dir.length + sep);
  return out;
}

/** Field readers of the record at `off` of a listing. */
export const rec = {
  next: nextRecord,
  name: recordName,
  nameStart: (b: Buffer, off: number): number => off + FIXED,
  nameEnd: (b: Buffer, off: number): number => off + FIXED + b.readUInt32LE(off),
  /** st_mode with the type bits. */
  mode: (b: Buffer, off: number): number => b.readUInt32LE(off + 4),
  isDir: (b: Buffer, off: number): boolean => (b.readUInt32LE(off + 4) & S_IFMT) === S_IFDIR,
  uid: (b: Buffer, off: number): number => b.readUInt32LE(off + 8),
  gid: (b: Buffer, off: number): number => b.readUInt32LE(off + 12),
  size: (b: Buffer, off: number): number => b.readDoubleLE(off + 16),
  /** Whole seconds, as a tar header takes them. */
  mtimeSec: (b: Buffer, off: number): number => b.readDoubleLE(off + 24),
  /** Milliseconds, as Node's lstat gives them (float64: sub-microsecond resolution). */
  mtimeMs: (b: Buffer, off: number): number => b.readDoubleLE(off + 24) * 1000 + b.readUInt32LE(off + 32) / 1e6,
  ctimeMs: (b: Buffer, off: number): number => b.readDoubleLE(off + 72) * 1000 + b.readUInt32LE(off + 80) / 1e6,
  rdev: (b: Buffer, off: number): number => b.readUInt32LE(off + 40) * U32 + b.readUInt32LE(off + 44),
  ino: (b: Buffer, off: number): number => b.readUInt32LE(off + 60) * U32 + b.readUInt32LE(off + 56),
  dev: (b: Buffer, off: number): number => b.readUInt32LE(off + 52) * U32 + b.readUInt32LE(off + 48),
  /** `scanTree`: the number of records in the entry's subtree, which follow it (0 but for directories). */
  subtree: (b: Buffer, off: number): number => b.readUInt32LE(off + 68),
};

/** Threads that list a tree at once (`scanTree`): one per core, at most 4. On the 2-core machine of
 *  bench/README.md, /usr (153 585 entries) took 412 ms with one, 299 with two, 283 with four. */
const TREE_THREADS = Math.max(1, Math.min(4, availableParallelism()));

/**
 * Every entry below `root` as records in walk order (depth first, siblings sorted by name bytes, a directory
 * before its contents; `rec.subtree` tells where a directory's contents end), listed in native code by a few
 * threads at once with no trip through the event loop per directory. `names`: readdir's types alone and the
 * fields of directories (an fstatat for directories only); otherwise every entry is lstat'ed. Left out with their
 * subtrees, as `keep` leaves them out of a listing: sockets, the excluded paths, directories on another device
 * than `rootDev`. A directory that cannot be listed is recorded without children (`Lister.list`); the root's own
 * failure rejects. An abort of `signal` stops the walk at its next directory (rejects with ECANCELED).
 */
export async function scanTree(root: Buffer, opts: { names: boolean; rootDev: number; exclude: ExcludeNode; signal?: AbortSignal | undefined }): Promise<Buffer> {
  opts.signal?.throwIfAborted();
  const stop = Buffer.alloc(4);
  const onAbort = (): void => void stop.writeInt32LE(1);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await native().scanTreeAsync(root, opts.names, opts.rootDev, excludeList(opts.exclude), TREE_THREADS, stop);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** The excluded paths of an exclusion tree, relative to its root, each ended by a NUL (as scanTree takes them). */
function excludeList(top: ExcludeNode): Buffer {
  const out: string[] = [];
  const visit = (node: ExcludeNode, prefix: string): void => {
    for (const [name, child] of node.children) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if (child.excluded) out.push(`${rel}\0`);
      else visit(child, rel);
    }
  };
  visit(top, '');
  return Buffer.from(out.join(''), 'latin1');
}

/** The record at `off` as the layer writer takes it, with the xattr marker asked for now (`abs` is its path). */
export function recordNode(b: Buffer, off: number, abs: Buffer): NodeStat {
  const st = recordStat(b, off);
  st.hasXattrs = native().xattrListSize(abs) > 0;
  return st;
}

/** Whether the record at `off` is recorded: not a socket (a tar cannot hold one), not excluded, not a directory
 *  on another device than the root's (a mount point: never crossed). Returns the exclusion subtree below it (on
 *  an excluded path's way), null when it is left out. */
function keep(b: Buffer, off: number, exclude: ExcludeNode | undefined, rootDev: number): ExcludeNode | undefined | null {
  const mode = rec.mode(b, off);
  if ((mode & S_IFMT) === S_IFSOCK) return null;
  const ex = exclude?.children.get(b.toString('latin1', off + FIXED, rec.nameEnd(b, off)));
  if (ex?.excluded) return null;
  if ((mode & S_IFMT) === S_IFDIR && rec.dev(b, off) !== rootDev) return null;
  return ex;
}

/** A subdirectory of a listing, its own listing already asked for (the walk lists ahead). */
export interface Below {
  abs: Buffer;
  listing: Promise<Buffer>;
  exclude: ExcludeNode | undefined;
}

/** The records of listing `b` that a snapshot keeps (`keep`), by offset, with the exclusion subtree of each. */
export function keptOffsets(b: Buffer, exclude: ExcludeNode | undefined, rootDev: number): { kept: number[]; excludes: Array<ExcludeNode | undefined> } {
  const kept: number[] = [];
  const excludes: Array<ExcludeNode | undefined> = [];
  for (let off = 0; off < b.length; off = rec.next(b, off)) {
    const ex = keep(b, off, exclude, rootDev);
    if (ex === null) continue;
    kept.push(off);
    excludes.push(ex);
  }
  return { kept, excludes };
}

/** Lists directories on the pool, at most IN_FLIGHT at once, in the order asked. A listing nobody waits for
 *  any more (the walk failed) is dropped without an unhandled rejection. */
export class Lister {
  private running = 0;
  private readonly queue: Array<() => void> = [];

  /** The records of `absDir`, sorted by name; none for a directory that cannot be listed: a non-root pod's /root
   *  or a private key dir is recorded without children, before and after alike, and what the process cannot list
   *  it could not have changed (README "Snapshot"). */
  list(absDir: Buffer): Promise<Buffer> {
    const p = new Promise<Buffer>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        native().scanDirAsync(absDir, false)
          .then(resolve, (e: NodeJS.ErrnoException) => (UNREADABLE.has(e.code ?? '') ? resolve(EMPTY) : reject(e)))
          .finally(() => {
            this.running--;
            this.queue.shift()?.();
          });
      };
      if (this.running < IN_FLIGHT) start();
      else this.queue.push(start);
    });
    p.catch(() => undefined);
    return p;
  }
}

/** A failure of a snapshot walk as an S2IError: cancelled (exit 130), or what the file system refused. */
export function snapshotError(e: unknown, what: string, signal: AbortSignal | undefined): S2IError {
  if (e instanceof S2IError) return e;
  if (signal?.aborted || (e as Error)?.name === 'AbortError') {
    return new S2IError('ERR_ABORTED', `${what} was cancelled`, { cause: e });
  }
  return new S2IError('ERR_SNAPSHOT', `${what} failed: ${(e as Error)?.message ?? String(e)}; check that the tree is readable and not changing`, { cause: e });
}
