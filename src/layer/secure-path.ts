// Resolves tar entry names inside a root directory with securejoin semantics (github.com/cyphar/filepath-securejoin):
// every symlink met while walking is resolved as if `root` were `/` (absolute targets restart at root, `..` stops at
// root), so nothing an earlier entry created can lead a later write outside. Entry names themselves may not
// contain `..` (CVE-2007-4131 class, node-tar GHSA-r628-mhmh-qjhw) and are clamped when absolute (GNU tar strips the
// leading `/`). Callers are the only writer of `root` while they resolve, so lstat-based walking is race free.
// The walk is synchronous (an lstat of a page-cached dir costs less than a trip through the libuv pool); the
// promise-returning functions are for callers that resolve a few paths, `DirResolver` for the layer applier.
import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
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

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export interface ResolveDirOptions {
  /** Create missing directories (mode 0755) instead of failing. */
  create: boolean;
  /** Called with each directory created on the way. */
  onCreate?: (hostPath: string) => void;
}

/**
 * Resolves `comps` (a directory path inside root) to a host path whose every component is a real directory,
 * following symlinks in-root. Returns null when a component is missing and `create` is false.
 */
export async function resolveDirInRoot(root: string, comps: readonly string[], opts: ResolveDirOptions): Promise<string | null> {
  return resolveDirInRootSync(root, comps, opts);
}

/** resolveDirInRoot, synchronously. */
export function resolveDirInRootSync(root: string, comps: readonly string[], opts: ResolveDirOptions): string | null {
  return walkDirs(root, [], comps, opts, undefined);
}

/** A queue item that marks where the resolution of the first `n` components of the caller's path is complete. */
interface PrefixMark {
  n: number;
}

/**
 * The securejoin walk: `done` are host components already known to be real directories (relative to root), `comps`
 * the rest of the path. With `seen`, each complete prefix `comps[0..n]` is recorded there (keyed by `key(n)`).
 */
function walkDirs(
  root: string,
  start: string[],
  comps: readonly string[],
  opts: ResolveDirOptions,
  seen: { key(n: number): string; record(key: string, hostPath: string): void } | undefined,
): string | null {
  let done = start;
  const todo: (string | PrefixMark)[] = [];
  for (let i = 0; i < comps.length; i++) {
    todo.push(comps[i] as string);
    if (seen) todo.push({ n: i + 1 });
  }
  let hops = 0;
  while (todo.length > 0) {
    const c = todo.shift() as string | PrefixMark;
    if (typeof c !== 'string') {
      seen?.record(seen.key(c.n), path.join(root, ...done));
      continue;
    }
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop(); // in-root: `..` of the root is the root
      continue;
    }
    const p = path.join(root, ...done, c);
    const st = lstatOrNull(p);
    if (st === null) {
      if (!opts.create) return null;
      mkdirSync(p, { mode: 0o755 });
      opts.onCreate?.(p);
      done.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > maxSymlinkHops) throw new UnsafePathError('too many levels of symbolic links');
      const target = readlinkSync(p);
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
 * resolveDirInRoot for one writer that resolves many entry paths under one root (the layer applier): every
 * resolved prefix is remembered (entry path → host path of a real directory), so the parent of the next entry
 * in the same directory is a map lookup, not an lstat per component. What it remembers stays true only while
 * no directory or symlink it walked is removed or replaced: the caller calls `forget()` whenever it removes or
 * replaces a directory or a symlink (removing or replacing anything else cannot change a resolution).
 */
export class DirResolver {
  /** Entry path (clean components joined by "/") → host path; "" is the root. */
  private readonly known = new Map<string, string>();

  constructor(readonly root: string) {
    this.known.set('', root);
  }

  /** The host directory `comps` names (created as needed, 0755); see resolveDirInRoot. */
  resolve(comps: readonly string[]): string {
    const full = comps.join('/');
    const hit = this.known.get(full);
    if (hit !== undefined) return hit;
    let n = comps.length - 1;
    let from: string | undefined;
    for (; n > 0; n--) {
      from = this.known.get(comps.slice(0, n).join('/'));
      if (from !== undefined) break;
    }
    const start = n > 0 && from !== undefined && from !== this.root ? from.slice(this.root.length + 1).split('/') : [];
    const rest = comps.slice(n);
    const seen = {
      key: (i: number): string => comps.slice(0, n + i).join('/'),
      record: (key: string, hostPath: string): void => void this.known.set(key, hostPath),
    };
    return walkDirs(this.root, start, rest, { create: true }, seen) as string;
  }

  /** Records that entry path `comps` is the real directory `hostPath` (the caller just made or checked it). */
  remember(comps: readonly string[], hostPath: string): void {
    this.known.set(comps.join('/'), hostPath);
  }

  /**
   * True when the literal path `comps` is known to be a chain of real directories, no symlink on the way (a
   * resolution that ended where it started cannot have followed a symlink: every component it went through was a
   * real directory of that very name). False means "not known", not "no".
   */
  isPlainDir(comps: readonly string[]): boolean {
    const key = comps.join('/');
    const hit = this.known.get(key);
    return hit !== undefined && hit === (key === '' ? this.root : `${this.root}/${key}`);
  }

  /** Drops everything remembered: a directory or symlink that a remembered resolution may have walked is gone. */
  forget(): void {
    this.known.clear();
    this.known.set('', this.root);
  }
}

/**
 * Resolves a hard link target without following any symlink on the way (a link "through" a symlink is refused:
 * CVE-2018-15664 class). Returns the host path of an existing non-directory.
 */
export async function resolveLinkTarget(root: string, comps: readonly string[]): Promise<string> {
  return resolveLinkTargetSync(root, comps);
}

/** resolveLinkTarget, synchronously; `plainDirs` may vouch for a parent path so that only the target is lstat'ed. */
export function resolveLinkTargetSync(root: string, comps: readonly string[], plainDirs?: DirResolver): string {
  if (comps.length === 0) throw new UnsafePathError('hard link to the root directory');
  const first = plainDirs?.isPlainDir(comps.slice(0, -1)) ? comps.length - 1 : 0;
  for (let i = first; i < comps.length; i++) {
    const p = path.join(root, ...comps.slice(0, i + 1));
    const st = lstatOrNull(p);
    if (st === null) throw new UnsafePathError(`hard link target "${comps.join('/')}" is not an earlier entry of this layer`);
    const last = i === comps.length - 1;
    if (!last && st.isSymbolicLink()) throw new UnsafePathError(`hard link target "${comps.join('/')}" goes through a symbolic link`);
    if (!last && !st.isDirectory()) throw new UnsafePathError(`hard link target "${comps.join('/')}" is not reachable`);
    if (last && st.isDirectory()) throw new UnsafePathError(`hard link target "${comps.join('/')}" is a directory`);
  }
  return path.join(root, ...comps);
}
