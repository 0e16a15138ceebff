// Loads build/native.node: the syscalls Node lacks (mknod, xattrs, mount, the parent-death signal). See
// native/sys.c. And, when it was built (libdeflate present), build/deflate.node: block deflate for parallel gzip.
// See native/deflate.c.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeSys {
  /** One directory's entries as packed records, sorted by name bytes (layout: native/sys.c, parsed in src/layer/walk.ts). */
  scanDir(dir: Buffer, xattrs?: boolean): Buffer;
  /** The same on the libuv pool; `xattrs` false leaves the xattr list size out (0). */
  scanDirAsync(dir: Buffer, xattrs: boolean): Promise<Buffer>;
  /** Every entry below `root` in walk order, the records of scanDir with offset 68 the size of the entry's
   *  subtree, listed by `threads` threads; `names`: the type (d_type) of each entry and every other field 0,
   *  except for directories, which are lstat'ed (a snapshot's walk before `assemble`). Leaves out sockets, the
   *  NUL-ended relative paths of `excluded` and directories on another device than `rootDev`; a nonzero int32 in
   *  `stop` ends it with ECANCELED (src/layer/snapshot-scan.ts scanTree). */
  scanTreeAsync(root: Buffer, names: boolean, rootDev: number, excluded: Buffer, threads: number, stop?: Buffer): Promise<Buffer>;
  /** llistxattr(path, NULL, 0): > 0 when the entry has xattrs, -1 when it cannot be asked. */
  xattrListSize(path: Buffer): number;
  /** mknod(2); mode includes the file type bits (S_IFCHR etc). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is absent or the filesystem has no xattrs. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
  /** Descriptor calls (src/sys/in-root.ts). `dirfd` may be AT_FDCWD; O_CLOEXEC is always added. */
  openat(dirfd: number, path: string, flags: number, mode: number): number;
  /** openat2(2); throws ENOSYS on kernels before 5.6. */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  mkdirat(dirfd: number, name: string, mode: number): void;
  symlinkat(target: string, dirfd: number, name: string): void;
  /** The raw bytes of a link; name '' reads the link an O_PATH|O_NOFOLLOW descriptor is. */
  readlinkat(dirfd: number, name: string): Buffer;
  unlinkat(dirfd: number, name: string, flags: number): void;
  fchownat(dirfd: number, name: string, uid: number, gid: number, flags: number): void;
  /** Times in (fractional) seconds. */
  utimensat(dirfd: number, name: string, atime: number, mtime: number, flags: number): void;
  /**
   * prctl(PR_SET_PDEATHSIG, signal): `signal` reaches this process when the thread that started it exits (0
   * disarms). Returns the parent pid read after arming: not the expected one means the parent died first.
   */
  setParentDeathSignal(signal: number): number;
  fdConstants: FdConstants;
}

/** The flag values of this platform (from the C headers, not guessed). */
export interface FdConstants {
  O_RDONLY: number;
  O_WRONLY: number;
  O_RDWR: number;
  O_CREAT: number;
  O_EXCL: number;
  O_TRUNC: number;
  O_NOFOLLOW: number;
  O_DIRECTORY: number;
  O_PATH: number;
  O_NONBLOCK: number;
  O_NOCTTY: number;
  AT_FDCWD: number;
  AT_SYMLINK_NOFOLLOW: number;
  AT_REMOVEDIR: number;
  AT_EMPTY_PATH: number;
  RESOLVE_NO_XDEV: number;
  RESOLVE_NO_MAGICLINKS: number;
  RESOLVE_NO_SYMLINKS: number;
  RESOLVE_BENEATH: number;
  RESOLVE_IN_ROOT: number;
}

export const MNT_DETACH = 2;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

export interface NativeDeflate {
  /**
   * Deflates `input` into `output` (at least `deflateBound(input.length)` bytes) on the libuv pool. `last`:
   * the stream ends here (BFINAL); otherwise the output ends byte-aligned with an empty stored block, so the
   * next block's output can follow it. Calls back with the output length and the CRC-32 of `input`.
   * Neither buffer may be touched until the callback.
   */
  deflateBlock(input: Buffer, output: Buffer, level: number, last: boolean, cb: (err: Error | null, length: number, crc: number) => void): void;
  deflateBound(inputLength: number): number;
  /** CRC-32 of A||B from crc(A), crc(B) and len(B). */
  crc32Combine(crcA: number, crcB: number, lengthB: number): number;
  crc32(data: Buffer, crc?: number): number;
  libdeflateVersion: string;
}

let loaded: NativeSys | undefined;
let deflate: NativeDeflate | null | undefined;

let root: string | undefined;

/**
 * The package directory (build/, package.json): the nearest ancestor of this module holding oci-s2i's
 * package.json. This module runs from dist/src/sys/ (tsc output) or from the one-file CLI bundle in
 * dist/bundle/, so the depth is not fixed.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'oci-s2i') return (root = dir);
      } catch {
        /* not ours: keep looking */
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  // Not found (a copied dist/ without package.json): dist/src/sys -> project root.
  return (root = path.resolve(here, '..', '..', '..'));
}

/** The libdeflate bindings, or null when build/deflate.node was not built (no libdeflate on the build machine). */
export function nativeDeflate(): NativeDeflate | null {
  if (deflate !== undefined) return deflate;
  try {
    deflate = createRequire(import.meta.url)(path.join(packageRoot(), 'build', 'deflate.node')) as NativeDeflate;
  } catch {
    deflate = null;
  }
  return deflate;
}

/** The native bindings; throws a clear error when the addon was not built. */
export function native(): NativeSys {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    loaded = require(path.join(packageRoot(), 'build', 'native.node')) as NativeSys;
  } catch (e) {
    const err = new Error(`native helper build/native.node is missing or broken: run \`npm run build\` (${(e as Error).message})`);
    (err as Error & { code: string }).code = 'ERR_NATIVE_MISSING';
    throw err;
  }
  return loaded;
}
