// Host-side access to a directory tree that an image controls (a container rootfs, an overlay's merged dir):
// every path is resolved INSIDE the root, as if the root were `/` (absolute symlinks restart at the root, `..`
// stops there), and every write goes through a directory descriptor, never through a path string resolved
// again. This is the one rule for every host-side path the image can influence (issue 16; the class of
// CVE-2018-15664, CVE-2019-14271, runc's CVE-2021-30465 and CVE-2024-21626):
//
// - Resolution: openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV where the kernel has it
//   (Linux 5.6+), otherwise a checked walk: one O_PATH|O_NOFOLLOW open per component, symlinks read with
//   readlinkat and resolved again from the root, at most MAX_HOPS of them.
// - Writes: entries are created relative to a parent descriptor with O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
//   symlinkat; an entry already there that is not what is written (a symlink above all) is removed and replaced,
//   never followed. Owners and times are set on the descriptor (fchown/futimes) or with AT_SYMLINK_NOFOLLOW.
//
// Must not import anything else of the project (src/sys/README.md): errors carry `code: 'ERR_UNSAFE_PATH'` and
// callers wrap them into their own error with the exit code of their step.
// Why one file of ~500 lines: resolution, the descriptor writes and the tree walks share one set of native calls
// and one refusal rule; apart, a caller could pick up a path-based helper that resolves outside the root.
import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, readdirSync, readlinkSync, readSync, writeSync, type Stats } from 'node:fs';
import { native, type FdConstants } from './native.js';

/** Symlinks followed while resolving one path (securejoin uses 255; Linux's own limit is 40 per lookup). */
export const MAX_HOPS = 255;

/** A path inside the root that cannot be used safely; `code` is ERR_UNSAFE_PATH. */
export class UnsafeRootPathError extends Error {
  readonly code = 'ERR_UNSAFE_PATH';
  override readonly name = 'UnsafeRootPathError';
}

/** The clean components of a path inside a root: '' and '.' dropped; '..' and NUL refused. */
export function rootComponents(p: string): string[] {
  if (p.includes('\0')) throw new UnsafeRootPathError(`${JSON.stringify(p)} contains a NUL byte`);
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new UnsafeRootPathError(`${p} contains a ".." component`);
    out.push(c);
  }
  return out;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

let c: FdConstants | undefined;
function k(): FdConstants {
  return (c ??= native().fdConstants);
}

/** Whether openat2 can be used here (decided once: ENOSYS before 5.6, EPERM/ENOSYS under some seccomp filters). */
let openat2Works: boolean | undefined;

/** Tests: resolve with the checked walk only (as on a kernel without openat2), or back to the default. */
export function useCheckedWalk(on: boolean): void {
  openat2Works = on ? false : undefined;
}

export type EntryKind = 'dir' | 'file' | 'symlink' | 'other';

function kindOf(st: Stats): EntryKind {
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** The kind of `name` in the directory `dirFd` (not followed), or undefined when absent. */
export function childKind(dirFd: number, name: string): EntryKind | undefined {
  let fd: number;
  try {
    fd = native().openat(dirFd, name, k().O_PATH | k().O_NOFOLLOW, 0);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return kindOf(fstatSync(fd));
  } finally {
    closeSync(fd);
  }
}

/** Names in the directory open at `dirFd` (read through /proc/self/fd: the very inode, no path resolved again). */
export function childNames(dirFd: number): string[] {
  return readdirSync(`/proc/self/fd/${dirFd}`);
}

/** Removes `name` from `dirFd`, a directory with everything in it; symlinks are removed, never followed. */
export function removeChild(dirFd: number, name: string): void {
  try {
    native().unlinkat(dirFd, name, 0);
    return;
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return;
    if (code !== 'EISDIR' && code !== 'EPERM') throw e;
  }
  const fd = native().openat(dirFd, name, k().O_RDONLY | k().O_DIRECTORY | k().O_NOFOLLOW, 0);
  try {
    for (const child of childNames(fd)) removeChild(fd, child);
  } finally {
    closeSync(fd);
  }
  native().unlinkat(dirFd, name, k().AT_REMOVEDIR);
}

/**
 * Empties every regular file of the entry `name` in `dirFd` (under it too, when a directory; symlinks never
 * followed), then removes it. What another name still points at (a hard link made meanwhile) is then empty too.
 */
function truncateAndRemoveChild(dirFd: number, name: string): void {
  const kind = childKind(dirFd, name);
  if (kind === 'file') {
    const fd = native().openat(dirFd, name, k().O_WRONLY | k().O_TRUNC | k().O_NOFOLLOW | k().O_NONBLOCK | k().O_NOCTTY, 0);
    closeSync(fd);
  } else if (kind === 'dir') {
    const fd = native().openat(dirFd, name, k().O_RDONLY | k().O_DIRECTORY | k().O_NOFOLLOW, 0);
    try {
      for (const child of childNames(fd)) truncateAndRemoveChild(fd, child);
    } finally {
      closeSync(fd);
    }
  }
  if (kind !== undefined) removeChild(dirFd, name);
}

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Opens (O_RDONLY|O_DIRECTORY) the directory `name` in `dirFd`, creating it with `mode` when missing; an entry of
 * another kind there (a symlink, a file) is removed first and a new directory made: never followed.
 */
export function openOrMakeChildDir(dirFd: number, name: string, mode = 0o755, owner?: Owner): number {
  const flags = k().O_RDONLY | k().O_DIRECTORY | k().O_NOFOLLOW;
  try {
    return native().openat(dirFd, name, flags, 0);
  } catch (e) {
    const code = errno(e);
    if (code === 'ELOOP' || code === 'ENOTDIR') removeChild(dirFd, name);
    else if (code !== 'ENOENT') throw e;
  }
  native().mkdirat(dirFd, name, mode);
  const fd = native().openat(dirFd, name, flags, 0);
  if (owner) fchownSync(fd, owner.uid, owner.gid);
  return fd;
}

/** Creates the regular file `name` in `dirFd` for writing (O_EXCL|O_NOFOLLOW); whatever was there is removed first. */
export function createChildFile(dirFd: number, name: string, mode = 0o600): number {
  const flags = k().O_WRONLY | k().O_CREAT | k().O_EXCL | k().O_NOFOLLOW;
  try {
    return native().openat(dirFd, name, flags, mode);
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
  }
  removeChild(dirFd, name);
  return native().openat(dirFd, name, flags, mode);
}

/** Creates the symlink `name` → `target` in `dirFd` (replacing what was there), with owner and mtime when given. */
export function createChildSymlink(dirFd: number, name: string, target: string, opts: { owner?: Owner; atime?: number; mtime?: number } = {}): void {
  try {
    native().symlinkat(target, dirFd, name);
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
    removeChild(dirFd, name);
    native().symlinkat(target, dirFd, name);
  }
  if (opts.owner) native().fchownat(dirFd, name, opts.owner.uid, opts.owner.gid, k().AT_SYMLINK_NOFOLLOW);
  if (opts.mtime !== undefined) {
    try {
      native().utimensat(dirFd, name, opts.atime ?? opts.mtime, opts.mtime, k().AT_SYMLINK_NOFOLLOW);
    } catch {
      /* symlink times are best effort (some filesystems refuse them) */
    }
  }
}

/** Gives the directory open at `dirFd` and everything under it to `owner` (links themselves, never their targets). */
export function chownTreeAt(dirFd: number, owner: Owner): void {
  fchownSync(dirFd, owner.uid, owner.gid);
  for (const name of childNames(dirFd)) {
    const kind = childKind(dirFd, name);
    if (kind === 'dir') {
      const fd = native().openat(dirFd, name, k().O_RDONLY | k().O_DIRECTORY | k().O_NOFOLLOW, 0);
      try {
        chownTreeAt(fd, owner);
      } finally {
        closeSync(fd);
      }
    } else if (kind !== undefined) {
      native().fchownat(dirFd, name, owner.uid, owner.gid, k().AT_SYMLINK_NOFOLLOW);
    }
  }
}

let copyBuffer: Buffer | undefined;

/**
 * Copies the contents of the host directory `srcDir` (a tree this process made: staging dirs) into the directory
 * open at `dirFd`: files, directories and symlinks (as links), modes and mtimes kept, `owner` given to everything
 * copied (without it, each entry keeps its staged owner). Entries already in the destination are replaced (a
 * directory is merged into), never followed.
 */
export function copyTreeInto(srcDir: string, dirFd: number, ownerOpt?: Owner): void {
  for (const name of readdirSync(srcDir).sort()) {
    const src = `${srcDir}/${name}`;
    const srcFd = native().openat(k().AT_FDCWD, src, k().O_PATH | k().O_NOFOLLOW, 0);
    let st: Stats;
    try {
      st = fstatSync(srcFd);
    } finally {
      closeSync(srcFd);
    }
    const owner = ownerOpt ?? { uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      const fd = openOrMakeChildDir(dirFd, name, 0o700);
      try {
        copyTreeInto(src, fd, ownerOpt);
        fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(fd, st.mode & 0o7777);
        futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
      } finally {
        closeSync(fd);
      }
    } else if (st.isSymbolicLink()) {
      createChildSymlink(dirFd, name, readlinkSync(src), { owner, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
    } else if (st.isFile()) {
      copyFileInto(dirFd, name, src, { mode: st.mode & 0o7777, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000, owner });
    }
    // sockets, fifos and devices are never staged: skipped
  }
}

/**
 * Copies the host file `src` (not followed when a symlink) into a new file `name` of `dirFd` (createChildFile:
 * whatever was there is replaced, never written through), then owner, mode (after chown, which clears
 * set-user/group-ID bits) and times (seconds) on the descriptor.
 */
export function copyFileInto(dirFd: number, name: string, src: string, meta: { mode: number; atime: number; mtime: number; owner: Owner }): void {
  const out = createChildFile(dirFd, name);
  try {
    const input = native().openat(k().AT_FDCWD, src, k().O_RDONLY | k().O_NOFOLLOW, 0);
    try {
      copyData(input, out);
    } finally {
      closeSync(input);
    }
    fchownSync(out, meta.owner.uid, meta.owner.gid);
    fchmodSync(out, meta.mode);
    futimesSync(out, meta.atime, meta.mtime);
  } finally {
    closeSync(out);
  }
}

/** Copies every byte of `input` to `output` (both descriptors). */
export function copyData(input: number, output: number): void {
  const buf = (copyBuffer ??= Buffer.allocUnsafe(256 * 1024));
  for (let n; (n = readSync(input, buf, 0, buf.length, null)) > 0; ) {
    for (let off = 0; off < n; ) off += writeSync(output, buf, off, n - off);
  }
}

export interface OpenDirOptions {
  /** Create missing directories (mode `mode`, owner `owner`) on the way. */
  create?: boolean;
  mode?: number;
  owner?: Owner;
  /**
   * What to do when the LAST component exists but is not a real directory (a symlink above all):
   * 'follow' (default) resolves a symlink in-root; 'replace' removes it and makes a new directory there (for the
   * trees the build creates: source, scripts); 'empty' also removes whatever the directory held (artifacts).
   */
  last?: 'follow' | 'replace' | 'empty';
}

/** A root directory (ours: a rootfs, a merged overlay, a staging dir) and descriptors of paths inside it. */
export class InRoot {
  private constructor(
    readonly fd: number,
    readonly hostPath: string,
  ) {}

  /** Opens the root itself (a path this process chose, not one from the image). */
  static open(hostPath: string): InRoot {
    return new InRoot(native().openat(k().AT_FDCWD, hostPath, k().O_PATH | k().O_DIRECTORY, 0), hostPath);
  }

  close(): void {
    closeQuiet(this.fd);
  }

  /** Runs `fn` with the root open, closing it afterwards. */
  static with<T>(hostPath: string, fn: (root: InRoot) => T): T {
    const root = InRoot.open(hostPath);
    try {
      return fn(root);
    } finally {
      root.close();
    }
  }

  /**
   * An O_PATH descriptor of `comps` resolved in-root (symlinks followed inside the root), or undefined when a
   * component is missing. Throws UnsafeRootPathError for loops, ENOTDIR-like shapes and crossings of mounts.
   */
  resolve(comps: readonly string[], opts: { useOpenat2?: boolean } = {}): number | undefined {
    if (opts.useOpenat2 !== false && openat2Works !== false) {
      try {
        const fd = native().openat2(this.fd, comps.length === 0 ? '.' : comps.join('/'), k().O_PATH, 0, k().RESOLVE_IN_ROOT | k().RESOLVE_NO_MAGICLINKS | k().RESOLVE_NO_XDEV);
        openat2Works = true;
        return fd;
      } catch (e) {
        const code = errno(e);
        if (code === 'ENOENT') return undefined;
        if (code === 'ENOSYS' || (openat2Works === undefined && (code === 'EPERM' || code === 'EINVAL'))) {
          openat2Works = false;
        } else {
          throw this.unsafe(comps, e);
        }
      }
    }
    return this.walk(comps);
  }

  /**
   * The checked walk (kernels without openat2, and creating missing directories): one O_NOFOLLOW open per
   * component, symlinks read and resolved again from the root, `..` popping back to the directory it came from
   * (never above the root). With `create`, a missing component is made (mode, owner) where the walk stands, so a
   * dangling symlink's target is created inside the root, as securejoin's MkdirAll does.
   */
  private walk(comps: readonly string[], create?: { mode: number; owner?: Owner | undefined }): number | undefined {
    const stack: number[] = [];
    let cur = native().openat(this.fd, '.', k().O_PATH | k().O_DIRECTORY, 0);
    const pending = [...comps];
    let hops = 0;
    try {
      while (pending.length > 0) {
        const comp = pending.shift()!;
        if (comp === '' || comp === '.') continue;
        if (comp === '..') {
          const up = stack.pop();
          if (up !== undefined) {
            closeSync(cur);
            cur = up;
          }
          continue;
        }
        let fd: number;
        try {
          fd = native().openat(cur, comp, k().O_PATH | k().O_NOFOLLOW, 0);
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw this.unsafe(comps, e);
          if (!create) return undefined;
          try {
            native().mkdirat(cur, comp, create.mode);
            if (create.owner) native().fchownat(cur, comp, create.owner.uid, create.owner.gid, k().AT_SYMLINK_NOFOLLOW);
          } catch (e2) {
            if (errno(e2) !== 'EEXIST') throw this.unsafe(comps, e2);
          }
          fd = native().openat(cur, comp, k().O_PATH | k().O_NOFOLLOW, 0);
        }
        const st = fstatSync(fd);
        if (st.isSymbolicLink()) {
          const target = native().readlinkat(fd, '').toString();
          closeSync(fd);
          if (++hops > MAX_HOPS) throw new UnsafeRootPathError(`/${comps.join('/')}: too many levels of symbolic links`);
          if (target.startsWith('/')) {
            for (const f of stack.splice(0)) closeSync(f);
            closeSync(cur);
            cur = native().openat(this.fd, '.', k().O_PATH | k().O_DIRECTORY, 0);
          }
          pending.unshift(...target.split('/'));
          continue;
        }
        if (st.dev !== fstatSync(cur).dev) {
          closeSync(fd);
          throw new UnsafeRootPathError(`/${comps.join('/')} crosses a mount point inside the root`);
        }
        if (pending.length > 0 && !st.isDirectory()) {
          closeSync(fd);
          throw new UnsafeRootPathError(`/${comps.join('/')}: a component is not a directory`);
        }
        stack.push(cur);
        cur = fd;
      }
      const out = cur;
      cur = -1;
      return out;
    } finally {
      for (const f of stack) closeSync(f);
      if (cur >= 0) closeSync(cur);
    }
  }

  private unsafe(comps: readonly string[], e: unknown): Error {
    const code = errno(e);
    const where = `/${comps.join('/')}`;
    if (code === 'ELOOP') return new UnsafeRootPathError(`${where}: too many levels of symbolic links`);
    if (code === 'EXDEV') return new UnsafeRootPathError(`${where} leads out of the image's root (a mount point or a magic link)`);
    if (code === 'ENOTDIR') return new UnsafeRootPathError(`${where}: a component is not a directory`);
    return e as Error;
  }

  /** The kind of the entry at `containerPath` (its parent resolved in-root, the entry itself not followed). */
  kind(containerPath: string): EntryKind | undefined {
    const comps = rootComponents(containerPath);
    const name = comps.pop();
    if (name === undefined) return 'dir';
    let parent: number | undefined;
    try {
      parent = this.resolve(comps);
    } catch (e) {
      if (e instanceof UnsafeRootPathError) return undefined;
      throw e;
    }
    if (parent === undefined) return undefined;
    try {
      return fstatSync(parent).isDirectory() ? childKind(parent, name) : undefined;
    } finally {
      closeSync(parent);
    }
  }

  /**
   * An O_RDONLY|O_DIRECTORY descriptor of the directory `containerPath` inside the root (the caller closes it).
   * Symlinks on the way are followed in-root; missing directories are created (mode, owner) when `create`. See
   * OpenDirOptions.last for the last component.
   */
  openDir(containerPath: string, opts: OpenDirOptions = {}): number {
    const comps = rootComponents(containerPath);
    const mode = opts.mode ?? 0o755;
    const last = opts.last ?? 'follow';
    const create = opts.create ? { mode, owner: opts.owner } : undefined;
    const missing = () => Object.assign(new Error(`${containerPath} does not exist in the image`), { code: 'ENOENT' });
    if (comps.length === 0 || last === 'follow') {
      const fd = this.resolve(comps) ?? (create ? this.walk(comps, create) : undefined);
      if (fd === undefined) throw missing();
      try {
        if (!fstatSync(fd).isDirectory()) throw new UnsafeRootPathError(`${containerPath} is not a directory in the image`);
        return native().openat(fd, '.', k().O_RDONLY | k().O_DIRECTORY, 0);
      } finally {
        closeSync(fd);
      }
    }
    const parentComps = comps.slice(0, -1);
    const parentPath = this.resolve(parentComps) ?? (create ? this.walk(parentComps, create) : undefined);
    if (parentPath === undefined) throw missing();
    let parent: number;
    try {
      if (!fstatSync(parentPath).isDirectory()) throw new UnsafeRootPathError(`${containerPath}: /${parentComps.join('/')} is not a directory in the image`);
      parent = native().openat(parentPath, '.', k().O_RDONLY | k().O_DIRECTORY, 0);
    } finally {
      closeSync(parentPath);
    }
    const name = comps[comps.length - 1]!;
    try {
      const kind = childKind(parent, name);
      if (kind === 'dir') {
        const fd = native().openat(parent, name, k().O_RDONLY | k().O_DIRECTORY | k().O_NOFOLLOW, 0);
        if (last === 'empty') for (const child of childNames(fd)) removeChild(fd, child);
        return fd;
      }
      if (kind === undefined && !create) throw missing();
      // 'replace' / 'empty': a symlink or file of the image there is removed and a new directory made
      return openOrMakeChildDir(parent, name, mode, opts.owner);
    } finally {
      closeSync(parent);
    }
  }

  /**
   * Removes the entry at `containerPath` (its parent resolved in-root, the entry itself not followed) when it is an
   * empty directory or an empty regular file; anything else is left. For mount points a runtime created.
   */
  removeIfEmpty(containerPath: string): void {
    const comps = rootComponents(containerPath);
    const name = comps.pop();
    if (name === undefined) return;
    const parent = this.resolve(comps);
    if (parent === undefined) return;
    try {
      let fd: number;
      try {
        fd = native().openat(parent, name, k().O_PATH | k().O_NOFOLLOW, 0);
      } catch (e) {
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return;
        throw e;
      }
      let st: Stats;
      let empty = false;
      try {
        st = fstatSync(fd);
        empty = st.isDirectory() ? childNames(fd).length === 0 : st.isFile() && st.size === 0;
      } finally {
        closeSync(fd);
      }
      if (empty) native().unlinkat(parent, name, st.isDirectory() ? k().AT_REMOVEDIR : 0);
    } finally {
      closeSync(parent);
    }
  }

  /**
   * Removes the entry at `containerPath` (its parent resolved in-root, the entry itself not followed), a
   * directory with everything in it, its regular files emptied first (truncateAndRemoveChild). Absent: nothing.
   */
  truncateAndRemove(containerPath: string): void {
    const comps = rootComponents(containerPath);
    const name = comps.pop();
    if (name === undefined) return;
    const parentPath = this.resolve(comps);
    if (parentPath === undefined) return;
    let parent: number;
    try {
      if (!fstatSync(parentPath).isDirectory()) return;
      parent = native().openat(parentPath, '.', k().O_RDONLY | k().O_DIRECTORY, 0);
    } finally {
      closeSync(parentPath);
    }
    try {
      truncateAndRemoveChild(parent, name);
    } finally {
      closeSync(parent);
    }
  }

  /** Reads a regular file inside the root (symlinks followed in-root); undefined when absent, not a file or larger than maxBytes. */
  readFile(containerPath: string, maxBytes = 4 << 20): Buffer | undefined {
    const pathFd = this.resolve(rootComponents(containerPath));
    if (pathFd === undefined) return undefined;
    let fd: number;
    try {
      const st = fstatSync(pathFd);
      if (!st.isFile() || st.size > maxBytes) return undefined;
      // Re-open the very inode for reading (an O_PATH descriptor cannot read); /proc/self/fd/N is a magic
      // link to it, not a path resolved again. O_NONBLOCK: never wait on a FIFO swapped in.
      fd = native().openat(k().AT_FDCWD, `/proc/self/fd/${pathFd}`, k().O_RDONLY | k().O_NONBLOCK | k().O_NOCTTY, 0);
    } finally {
      closeSync(pathFd);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > maxBytes) return undefined;
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }

  /** The host path of an open descriptor (for tools that take paths: runtimes, the layer writer). */
  static hostPathOf(fd: number): string {
    return readlinkSync(`/proc/self/fd/${fd}`);
  }
}
