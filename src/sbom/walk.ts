// The bounded walk of one layer for what assemble adds (Go binaries, lock files, jars): depth-first over
// descriptors, never through a symlink, never across a mount point of the tree (unless a whole root filesystem's
// caller allows it), with a cap on entries and depth so an image cannot make it endless. Names are the kernel's
// strings; a name that is not valid UTF-8 is skipped (it could not be named in the document anyway).
import { closeSync, fstatSync, lstatSync, type Stats } from 'node:fs';
import { native } from '../sys/native.js';
import type { ExcludeNode } from '../layer/snapshot-exclude.js';
import { Tree } from './tree.js';

export interface WalkOptions {
  /** Subtrees to walk (paths inside the tree); all of it when absent. */
  paths?: string[];
  /** Directory names never entered (matched anywhere). */
  skipNames: ReadonlySet<string>;
  /** Top-level directories never entered (a whole root filesystem's /proc, /sys, /dev). */
  skipTop: ReadonlySet<string>;
  crossMounts: boolean;
  /** A whole root filesystem's exclusions: API file systems and mount points (layer/snapshot-exclude.ts). */
  exclude?: ExcludeNode;
  maxEntries: number;
  maxDepth: number;
}

export interface VisitedFile {
  dirFd: number;
  name: string;
  /** Path inside the tree, no leading `/`. */
  path: string;
  st: Stats;
}

/** Calls `visit` for every regular file; returns a warning when a bound stopped the walk. */
export function walkFiles(tree: Tree, opts: WalkOptions, visit: (f: VisitedFile) => void): string | undefined {
  const k = native().fdConstants;
  let entries = 0;
  const starts = (opts.paths ?? ['']).map((p) => p.split('/').filter((c) => c !== '' && c !== '.'));
  for (const start of starts) {
    if (start.includes('..')) continue;
    const fd = tree.openDir(start);
    if (fd === undefined) continue;
    let node = opts.exclude;
    for (const c of start) node = node?.children.get(Buffer.from(c, 'utf8').toString('latin1'));
    if (node?.excluded) {
      closeSync(fd);
      continue;
    }
    const stack: Array<{ fd: number; path: string; depth: number; node: ExcludeNode | undefined }> = [{ fd, path: start.join('/'), depth: start.length, node }];
    try {
      while (stack.length > 0) {
        const d = stack.pop()!;
        try {
          for (const ent of Tree.list(d.fd)) {
            if (++entries > opts.maxEntries) return `stopped after ${opts.maxEntries} entries`;
            const name = ent.name;
            if (name.includes('\uFFFD')) continue;
            const path = d.path === '' ? name : `${d.path}/${name}`;
            if (ent.isDirectory()) {
              if (opts.skipNames.has(name) || (d.path === '' && opts.skipTop.has(name)) || d.depth + 1 > opts.maxDepth) continue;
              const childNode = d.node?.children.get(Buffer.from(name, 'utf8').toString('latin1'));
              if (childNode?.excluded) continue;
              let child: number;
              try {
                child = native().openat(d.fd, name, k.O_RDONLY | k.O_DIRECTORY | k.O_NOFOLLOW | k.O_NONBLOCK, 0);
              } catch {
                continue;
              }
              if (!opts.crossMounts && fstatSync(child).dev !== tree.rootDevice) {
                closeSync(child);
                continue;
              }
              stack.push({ fd: child, path, depth: d.depth + 1, node: childNode });
            } else if (ent.isFile()) {
              let st: Stats;
              try {
                st = lstatSync(`/proc/self/fd/${d.fd}/${name}`);
              } catch {
                continue;
              }
              if (st.isFile()) visit({ dirFd: d.fd, name, path, st });
            }
          }
        } finally {
          closeSync(d.fd);
        }
      }
    } finally {
      for (const d of stack) closeSync(d.fd);
    }
  }
  return undefined;
}

/**
 * `walkFiles` over the regular files another walk listed (paths inside the tree), under the same rules: a path
 * through a skipped name, a skipped top directory, an excluded path, a symlink or (unless allowed) a mount point is
 * left out, and so is one deeper than the walk would go. Files of one directory in a row share its descriptor.
 * `taken`: asked of each regular file before `visit`; one the caller deals with itself (true) is not visited.
 */
export function visitListedFiles(tree: Tree, files: readonly string[], opts: WalkOptions, visit: (f: VisitedFile) => void, taken?: (f: VisitedFile) => boolean): string | undefined {
  let dirKey: string | undefined;
  let dirFd: number | undefined;
  let entries = 0;
  try {
    for (const file of files) {
      if (++entries > opts.maxEntries) return `stopped after ${opts.maxEntries} entries`;
      if (file.includes('\uFFFD')) continue;
      const dir = file.split('/').filter((c) => c !== '' && c !== '.');
      const name = dir.pop();
      if (name === undefined || name === '..' || dir.includes('..') || dir.length > opts.maxDepth) continue;
      if (dir.some((c) => opts.skipNames.has(c)) || (dir.length > 0 && opts.skipTop.has(dir[0]!))) continue;
      if (excluded(opts.exclude, [...dir, name])) continue;
      const key = dir.join('/');
      if (key !== dirKey) {
        if (dirFd !== undefined) closeSync(dirFd);
        dirFd = tree.openDir(dir);
        dirKey = key;
      }
      if (dirFd === undefined) continue;
      let st: Stats;
      try {
        st = lstatSync(`/proc/self/fd/${dirFd}/${name}`);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      const f: VisitedFile = { dirFd, name, path: key === '' ? name : `${key}/${name}`, st };
      if (!taken?.(f)) visit(f);
    }
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
  return undefined;
}

/** Whether `comps` is at or below a path the exclusion tree leaves out. */
function excluded(node: ExcludeNode | undefined, comps: readonly string[]): boolean {
  for (const c of comps) {
    node = node?.children.get(Buffer.from(c, 'utf8').toString('latin1'));
    if (node === undefined) return false;
    if (node.excluded) return true;
  }
  return false;
}
