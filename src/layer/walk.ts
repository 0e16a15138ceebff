// Depth-first walk of a directory tree in a fixed order: the entries of each directory sorted by the bytes of
// their names, each directory followed by its contents. Never follows symlinks. Names stay raw bytes so
// non-UTF-8 names survive. Lazy: memory holds one directory listing per level, never the whole tree.
import { lstat, readdir } from 'node:fs/promises';
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

const SLASH = Buffer.from('/');
// lstat calls in flight per directory: enough to keep the libuv pool busy, small enough to bound memory.
const STAT_WINDOW = 64;

/** The tree below `root` (not `root` itself), in order. A directory's subtree is walked when the consumer
 *  asks for the next node after it, so the consumer may look at a directory before its contents. */
export async function* walk(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkNode> {
  yield* walkDir(Buffer.from(root), Buffer.alloc(0), opts);
}

async function* walkDir(absDir: Buffer, relDir: Buffer, opts: WalkOptions): AsyncGenerator<WalkNode> {
  const names = (await readdir(absDir, { encoding: 'buffer' })) as Buffer[];
  names.sort(Buffer.compare);
  for (let i = 0; i < names.length; i += STAT_WINDOW) {
    opts.signal?.throwIfAborted();
    const window = names.slice(i, i + STAT_WINDOW).map((name) => {
      const abs = Buffer.concat([absDir, SLASH, name]);
      const rel = relDir.length === 0 ? name : Buffer.concat([relDir, SLASH, name]);
      return { abs, rel, st: lstat(abs, { bigint: true }) };
    });
    // Attach handlers to every pending lstat now, so a failure in one is not an unhandled rejection.
    const stats = await Promise.allSettled(window.map((w) => w.st));
    for (let j = 0; j < window.length; j++) {
      const w = window[j]!;
      const s = stats[j]!;
      if (s.status === 'rejected') {
        // Vanished between readdir and lstat: nothing to archive.
        if ((s.reason as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw s.reason;
      }
      const st = s.value;
      if (opts.exclude?.(w.rel.toString('utf8'), st.isDirectory())) continue;
      yield { rel: w.rel, abs: w.abs, st };
      if (st.isDirectory()) yield* walkDir(w.abs, w.rel, opts);
    }
  }
}
