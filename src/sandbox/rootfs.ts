// Safe access to paths inside a container rootfs from the host: every path is resolved in-root (symlinks in
// the image cannot lead a host-side write or read outside it).
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { InRoot, UnsafeRootPathError, childKind, chownTreeAt, rootComponents, type OpenDirOptions } from '../sys/in-root.js';

function unsafe(p: string, e: unknown): unknown {
  if (e instanceof UnsafeRootPathError) {
    return new S2IError('ERR_UNSAFE_PATH', `cannot use ${p} inside the image: ${e.message}`, { cause: e, step: 'workdir' });
  }
  return e;
}

/** Host path of directory `p` inside rootfs, created (0755) when missing; symlinks resolved in-root. */
export async function ensureDirInRoot(rootfs: string, p: string): Promise<string> {
  try {
    return InRoot.with(rootfs, (root) => {
      const fd = root.openDir(p, { create: true });
      try {
        return InRoot.hostPathOf(fd);
      } finally {
        closeSync(fd);
      }
    });
  } catch (e) {
    throw unsafe(p, e);
  }
}

/**
 * Runs `fn` with a descriptor of directory `p` inside rootfs (created when missing). `last: 'replace'` (the trees
 * the build creates: source, scripts) replaces a symlink or file of the image at `p` by a new directory instead of
 * following it; `'empty'` also empties it (artifacts). Errors become ERR_UNSAFE_PATH (exit 5).
 */
export async function withDirInRoot<T>(rootfs: string, p: string, last: OpenDirOptions['last'], fn: (dirFd: number) => T | Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = InRoot.with(rootfs, (root) => root.openDir(p, { create: true, ...(last ? { last } : {}) }));
  } catch (e) {
    throw unsafe(p, e);
  }
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Host path of entry `p` inside rootfs (its parent resolved in-root; the entry itself not followed), or undefined. */
export async function fileInRoot(rootfs: string, p: string): Promise<string | undefined> {
  try {
    return InRoot.with(rootfs, (root) => {
      const c = rootComponents(p);
      const name = c.pop();
      if (name === undefined) return undefined;
      const parent = root.resolve(c);
      if (parent === undefined) return undefined;
      try {
        if (!fstatSync(parent).isDirectory() || childKind(parent, name) === undefined) return undefined;
        return path.join(InRoot.hostPathOf(parent), name);
      } finally {
        closeSync(parent);
      }
    });
  } catch {
    return undefined; // unsafe or unreadable on the way: not there for the engine
  }
}

/**
 * Reads a small file from the rootfs (e.g. /etc/passwd) following symlinks in-root, through a descriptor;
 * undefined when absent, not a regular file, larger than maxBytes, or reached only through an unsafe path.
 */
export async function readFileInRoot(rootfs: string, p: string, maxBytes = 4 << 20): Promise<Buffer | undefined> {
  try {
    return InRoot.with(rootfs, (root) => root.readFile(p, maxBytes));
  } catch (e) {
    if (e instanceof UnsafeRootPathError) return undefined;
    throw e;
  }
}

/** Recursively chowns a host tree (links themselves, never their targets): sys/in-root.ts chownTreeAt by path. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
  try {
    chownTreeAt(fd, { uid, gid });
  } finally {
    closeSync(fd);
  }
}
