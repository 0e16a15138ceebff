// One directory of a root-filesystem snapshot: walk.ts's native `scanDir` (sorted names, lstat fields, the
// xattr marker) plus one lstat per entry for what its record lacks: ctime, and the inode and device numbers of
// every entry (the record's `inode` key is only set for hardlinks). Used alike for the snapshot before
// `assemble` and the walk after it, so both sides see the same fields the same way.
import { lstatSync, type Stats } from 'node:fs';
import { scanDir, type NodeStat } from './walk.js';
import { S2IError } from '../errors.js';
import type { ExcludeNode } from './snapshot-exclude.js';

export interface ScanEntry {
  name: Buffer;
  abs: Buffer;
  st: NodeStat;
  /** lstat times in milliseconds as Node gives them (float64: sub-microsecond resolution). */
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
  let listing: ReturnType<typeof scanDir>;
  try {
    listing = scanDir(absDir);
  } catch (e) {
    // A directory the process may not list (a non-root pod: /root, private key dirs) is recorded without
    // children, before and after alike; what it cannot list it could not have changed (README "Snapshot").
    if (UNREADABLE.has((e as NodeJS.ErrnoException).code ?? '')) return out;
    throw e;
  }
  for (const { name, st } of listing) {
    if (st.type === 'socket') continue;
    const ex = exclude?.children.get(name.toString('latin1'));
    if (ex?.excluded) continue;
    const abs = joinPath(absDir, name);
    const ls: Stats | undefined = lstatSync(abs, { throwIfNoEntry: false });
    if (!ls) continue;
    if (st.type === 'dir' && ls.dev !== rootDev) continue;
    out.push({ name, abs, st, mtimeMs: ls.mtimeMs, ctimeMs: ls.ctimeMs, ino: ls.ino, dev: ls.dev, exclude: ex });
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
