// Resolves tar entry names inside a root directory with securejoin semantics (github.com/cyphar/filepath-securejoin):
// every symlink met while walking is resolved as if `root` were `/` (absolute targets restart at root, `..` stops at
// root), so nothing an earlier entry created can lead a later write outside. Entry names themselves may not
// contain `..` (CVE-2007-4131 class, node-tar GHSA-r628-mhmh-qjhw) and are clamped when absolute (GNU tar strips the
// leading `/`). Callers are the only writer of `root` while they resolve, so lstat-based walking is race free.
import fs from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';

/** Thrown by this module; the caller wraps it into S2IError ERR_UNSAFE_PATH naming the entry and layer. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
}

/** Symlinks followed while resolving one path before giving up (Linux MAXSYMLINKS is 40; securejoin uses 255). */
export const maxSymlinkHops = 255;

/** Splits a tar entry name into clean components; [] is the root itself. Refuses `..`, NUL and empty names. */
export function entryComponents(name: string): string[] {
  if (name.includes('\0')) throw new UnsafePathError('name contains a NUL byte');
  const comps: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new UnsafePathError('name contains a ".." component');
    comps.push(c);
  }
  return comps;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export interface ResolveDirOptions {
  /** Create missing directories (mode 0755) instead of failing. */
  create: boolean;
  /** Called before anything is created, so a caller with pending asynchronous writes can settle them first. */
  beforeCreate?: () => Promise<void>;
  /** Called with each directory created on the way. */
  onCreate?: (hostPath: string) => void;
}

/**
 * Resolves `comps` (a directory path inside root) to a host path whose every component is a real directory,
 * following symlinks in-root. Returns null when a component is missing and `create` is false.
 */
export async function resolveDirInRoot(root: string, comps: readonly string[], opts: ResolveDirOptions): Promise<string | null> {
  let done: string[] = [];
  const todo = [...comps];
  let hops = 0;
  while (todo.length > 0) {
    const c = todo.shift() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop(); // in-root: `..` of the root is the root
      continue;
    }
    const p = path.join(root, ...done, c);
    let st = await lstatOrNull(p);
    if (st === null) {
      if (!opts.create) return null;
      await opts.beforeCreate?.();
      st = await lstatOrNull(p); // a settled write may have created it
      if (st === null) {
        await fs.mkdir(p, { mode: 0o755 });
        opts.onCreate?.(p);
        done.push(c);
        continue;
      }
    }
    if (st.isSymbolicLink()) {
      if (++hops > maxSymlinkHops) throw new UnsafePathError('too many levels of symbolic links');
      const target = await fs.readlink(p);
      if (target.startsWith('/')) done = [];
      todo.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) throw new UnsafePathError(`"${[...done, c].join('/')}" is not a directory`);
    done.push(c);
  }
  return path.join(root, ...done);
}

/**
 * Resolves a hard link target without following any symlink on the way (a link "through" a symlink is refused:
 * CVE-2018-15664 class). Returns the host path of an existing non-directory.
 */
export async function resolveLinkTarget(root: string, comps: readonly string[]): Promise<string> {
  if (comps.length === 0) throw new UnsafePathError('hard link to the root directory');
  for (let i = 0; i < comps.length; i++) {
    const p = path.join(root, ...comps.slice(0, i + 1));
    const st = await lstatOrNull(p);
    if (st === null) throw new UnsafePathError(`hard link target "${comps.join('/')}" is not an earlier entry of this layer`);
    const last = i === comps.length - 1;
    if (!last && st.isSymbolicLink()) throw new UnsafePathError(`hard link target "${comps.join('/')}" goes through a symbolic link`);
    if (!last && !st.isDirectory()) throw new UnsafePathError(`hard link target "${comps.join('/')}" is not reachable`);
    if (last && st.isDirectory()) throw new UnsafePathError(`hard link target "${comps.join('/')}" is a directory`);
  }
  return path.join(root, ...comps);
}
