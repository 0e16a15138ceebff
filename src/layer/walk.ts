// Depth-first walk of a directory tree in a fixed order: the entries of each directory sorted by the bytes of
// their names, each directory followed by its contents. Never follows symlinks. Names stay raw bytes so
// non-UTF-8 names survive. Lazy: memory holds one directory listing per level, never the whole tree.
//
// Synchronous system calls, on purpose: the trees a layer is made of were just written (an assemble's upper
// dir) and sit in the page cache, where readdir/lstat cost a few microseconds and a trip through the libuv
// pool costs more than the call itself — and that pool is busy deflating (parallel gzip). GNU tar walks the
// same way, one call at a time. The consumer yields to the event loop between output chunks.
import { lstatSync, readdirSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';

export interface WalkNode {
  /** Path relative to the root, posix, no leading `/`; raw bytes. */
  rel: Buffer;
  /** Absolute path; raw bytes. */
  abs: Buffer;
  st: BigIntStats;
}

export interface WalkOptions {
  /** Leave a path out; for a directory, its whole subtree. */
  exclude?: (relPath: string, isDir: boolean) => boolean;
  signal?: AbortSignal;
}

const SLASH = 0x2f;

/** The tree below `root` (not `root` itself), in order. A directory's subtree is walked when the consumer
 *  asks for the next node after it, so the consumer may look at a directory before its contents. */
export function* walk(root: string, opts: WalkOptions = {}): Generator<WalkNode> {
  yield* walkDir(Buffer.from(root), Buffer.alloc(0), opts);
}

function join(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 0) return name;
  const out = Buffer.allocUnsafe(dir.length + 1 + name.length);
  dir.copy(out, 0);
  out[dir.length] = SLASH;
  name.copy(out, dir.length + 1);
  return out;
}

function* walkDir(absDir: Buffer, relDir: Buffer, opts: WalkOptions): Generator<WalkNode> {
  const names = readdirSync(absDir, { encoding: 'buffer' });
  names.sort(Buffer.compare);
  for (const name of names) {
    opts.signal?.throwIfAborted();
    const abs = join(absDir, name);
    // Vanished between readdir and lstat: nothing to archive.
    const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) continue;
    const rel = join(relDir, name);
    if (opts.exclude?.(rel.toString('utf8'), st.isDirectory())) continue;
    yield { rel, abs, st };
    if (st.isDirectory()) yield* walkDir(abs, rel, opts);
  }
}
