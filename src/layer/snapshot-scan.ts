// One directory of a root-filesystem snapshot: walk.ts's native `scanDir` (sorted names, lstat fields, the
// xattr marker, and the ctime, inode and device numbers a snapshot compares: one system call per entry, no
// lstat from JavaScript). Used alike for the snapshot before
// `assemble` and the walk after it, so both sides see the same fields the same way.
import { scanDir, type NodeStat, type ScanIds } from './walk.js';
import { S2IError } from '../errors.js';
import type { ExcludeNode } from './snapshot-exclude.js';

export interface ScanEntry {
  name: Buffer;
  abs: Buffer;
  st: NodeStat;
  /** Times in milliseconds, as Node's lstat gives them (float64: sub-microsecond resolution). */
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  /** The exclusion subtree below this entry (only on an excluded path's way). */
  exclude: ExcludeNode | undefined;
}

const SLASH = 0x2f;
/** A directory that cannot be listed (or vanished, or stopped being one, while scanned). */
const UNREADABLE = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);

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

/** The entries of `absDir` a snapshot records, sorted by name bytes. Left out: excluded names, sockets (a tar
 *  cannot hold them), directories on another device than the root's (mount points: never crossed), entries
 *  that vanish while scanned. */
export function scanEntries(absDir: Buffer, exclude: ExcludeNode | undefined, rootDev: number): ScanEntry[] {
  const out: ScanEntry[] = [];
  let listing: Array<{ name: Buffer; st: NodeStat; ids: ScanIds }>;
  try {
    listing = scanDir(absDir, true);
  } catch (e) {
    // A directory the process may not list (a non-root pod: /root, private key dirs) is recorded without
    // children, before and after alike; what it cannot list it could not have changed (README "Snapshot").
    if (UNREADABLE.has((e as NodeJS.ErrnoException).code ?? '')) return out;
    throw e;
  }
  for (const { name, st, ids } of listing) {
    if (st.type === 'socket') continue;
    const ex = exclude?.children.get(name.toString('latin1'));
    if (ex?.excluded) continue;
    if (st.type === 'dir' && ids.dev !== rootDev) continue;
    out.push({ name, abs: joinPath(absDir, name), st, mtimeMs: ids.mtimeMs, ctimeMs: ids.ctimeMs, ino: ids.ino, dev: ids.dev, exclude: ex });
  }
  return out;
}

/** A failure of a snapshot walk as an S2IError: cancelled (exit 130), or what the file system refused. */
export function snapshotError(e: unknown, what: string, signal: AbortSignal | undefined): S2IError {
  if (e instanceof S2IError) return e;
  if (signal?.aborted || (e as Error)?.name === 'AbortError') {
    return new S2IError('ERR_ABORTED', `${what} was cancelled`, { cause: e });
  }
  return new S2IError('ERR_SNAPSHOT', `${what} failed: ${(e as Error)?.message ?? String(e)}; check that the tree is readable and not changing`, { cause: e });
}
