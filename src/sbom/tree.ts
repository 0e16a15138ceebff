// Reading an image-controlled tree without ever leaving it: every path is opened one component at a time from a
// descriptor of the tree's root with O_NOFOLLOW, so a symlink anywhere on the way (var/lib/dpkg/status -> /etc/shadow,
// a directory link to /) is not followed but reported as "not a regular file"; a file is read only when fstat says
// it is regular and no larger than the caller's bound (a FIFO opens with O_NONBLOCK and is refused). Mount points
// are not crossed (the device of each directory is compared with the root's) unless the tree is a whole root
// filesystem whose mounts the caller accepts.
import { closeSync, fstatSync, readSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { native } from '../sys/native.js';

export type Entry =
  | { kind: 'absent' }
  | { kind: 'whiteout' }
  | { kind: 'dir'; opaque: boolean }
  | { kind: 'file'; size: number }
  | { kind: 'other' };

export class Tree {
  private readonly rootFd: number;
  private readonly rootDev: number;

  /**
   * `overlay`: the tree is an overlay lower/upper dir (char 0:0 is a whiteout, user.overlay.opaque marks opaque
   * dirs); false for a whole root filesystem, where those are just files.
   */
  constructor(
    readonly dir: string,
    readonly overlay: boolean,
    private readonly crossMounts = false,
  ) {
    const k = native().fdConstants;
    this.rootFd = native().openat(k.AT_FDCWD, dir, k.O_RDONLY | k.O_DIRECTORY, 0);
    this.rootDev = fstatSync(this.rootFd).dev;
  }

  close(): void {
    closeSync(this.rootFd);
  }

  /** A descriptor of the directory `comps` (O_NOFOLLOW at each step), or undefined when it is not a plain directory here. */
  openDir(comps: readonly string[]): number | undefined {
    const k = native().fdConstants;
    let cur = native().openat(this.rootFd, '.', k.O_RDONLY | k.O_DIRECTORY, 0);
    for (const c of comps) {
      let next: number;
      try {
        next = native().openat(cur, c, k.O_RDONLY | k.O_DIRECTORY | k.O_NOFOLLOW | k.O_NONBLOCK, 0);
      } catch {
        closeSync(cur);
        return undefined;
      }
      closeSync(cur);
      cur = next;
      if (!this.crossMounts && fstatSync(cur).dev !== this.rootDev) {
        closeSync(cur);
        return undefined;
      }
    }
    return cur;
  }

  /** The entries of an open directory (names as the kernel gives them, dirent types not followed). */
  static list(dirFd: number): Dirent[] {
    try {
      return readdirSync(`/proc/self/fd/${dirFd}`, { withFileTypes: true });
    } catch {
      return [];
    }
  }

  /** What `comps` is in this tree, not followed. */
  entry(comps: readonly string[]): Entry {
    if (comps.length === 0) return { kind: 'dir', opaque: false };
    const parent = this.openDir(comps.slice(0, -1));
    if (parent === undefined) return { kind: 'absent' };
    try {
      return this.childEntry(parent, comps);
    } finally {
      closeSync(parent);
    }
  }

  private childEntry(parent: number, comps: readonly string[]): Entry {
    const k = native().fdConstants;
    let fd: number;
    try {
      fd = native().openat(parent, comps[comps.length - 1]!, k.O_PATH | k.O_NOFOLLOW, 0);
    } catch {
      return { kind: 'absent' };
    }
    let st: Stats;
    try {
      st = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    if (st.isFile()) return { kind: 'file', size: st.size };
    if (st.isDirectory()) return { kind: 'dir', opaque: this.overlay && this.isOpaque(comps) };
    if (this.overlay && st.isCharacterDevice() && st.rdev === 0) return { kind: 'whiteout' };
    return { kind: 'other' };
  }

  /** overlayfs marks an opaque directory with user.overlay.opaque=y (spec/store-format.md). */
  isOpaque(comps: readonly string[]): boolean {
    try {
      const v = native().lgetxattr(`${this.dir}/${comps.join('/')}`, 'user.overlay.opaque');
      return v !== null && v.toString('latin1') === 'y';
    } catch {
      return false;
    }
  }

  /**
   * The bytes of the regular file `comps`, or a reason it was not read: absent, not a regular file (a symlink,
   * a device, a FIFO), or larger than `max` bytes.
   */
  read(comps: readonly string[], max: number): Buffer | 'absent' | 'not-regular' | 'too-big' {
    const parent = this.openDir(comps.slice(0, -1));
    if (parent === undefined) return 'absent';
    try {
      return readChild(parent, comps[comps.length - 1]!, max);
    } finally {
      closeSync(parent);
    }
  }

  get rootDevice(): number {
    return this.rootDev;
  }
}

/** Opens a regular child of `dirFd` for reading (O_NOFOLLOW, O_NONBLOCK), or undefined; the caller closes it. */
export function openRegular(dirFd: number, name: string): { fd: number; size: number } | undefined {
  const k = native().fdConstants;
  let fd: number;
  try {
    fd = native().openat(dirFd, name, k.O_RDONLY | k.O_NOFOLLOW | k.O_NONBLOCK | k.O_NOCTTY, 0);
  } catch {
    return undefined;
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    return undefined;
  }
  return { fd, size: st.size };
}

/** Reads a regular child of `dirFd` up to `max` bytes (the file may not grow past it while read). */
export function readChild(dirFd: number, name: string, max: number): Buffer | 'absent' | 'not-regular' | 'too-big' {
  const k = native().fdConstants;
  let fd: number;
  try {
    fd = native().openat(dirFd, name, k.O_RDONLY | k.O_NOFOLLOW | k.O_NONBLOCK | k.O_NOCTTY, 0);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : 'not-regular';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not-regular';
    if (st.size > max) return 'too-big';
    return readAll(fd, Math.min(st.size, max), max);
  } finally {
    closeSync(fd);
  }
}

function readAll(fd: number, expect: number, max: number): Buffer | 'too-big' {
  let buf = Buffer.allocUnsafe(Math.max(expect, 1));
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (buf.length > max) return 'too-big';
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const r = readSync(fd, buf, n, buf.length - n, n);
    if (r === 0) break;
    n += r;
    if (n > max) return 'too-big';
  }
  return buf.subarray(0, n);
}

/** Reads `length` bytes at `position` of an open file (fewer at its end). */
export function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let n = 0;
  while (n < length) {
    const r = readSync(fd, buf, n, length - n, position + n);
    if (r === 0) break;
    n += r;
  }
  return buf.subarray(0, n);
}

/** Splits a path inside the image into components ('' and '.' dropped, '..' refused by returning undefined). */
export function components(p: string): string[] | undefined {
  const out = p.split('/').filter((c) => c !== '' && c !== '.');
  return out.includes('..') ? undefined : out;
}
