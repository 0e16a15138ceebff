// Loads build/native.node: the syscalls Node lacks (mknod, xattrs, mount). See native/sys.c.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeSys {
  /** mknod(2); mode includes the file type bits (S_IFCHR etc). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is absent or the filesystem has no xattrs. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
}

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 2;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

let loaded: NativeSys | undefined;

/** The native bindings; throws a clear error when the addon was not built. */
export function native(): NativeSys {
  if (loaded) return loaded;
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/src/sys -> project root
  const root = path.resolve(here, '..', '..', '..');
  const require = createRequire(import.meta.url);
  try {
    loaded = require(path.join(root, 'build', 'native.node')) as NativeSys;
  } catch (e) {
    const err = new Error(`native helper build/native.node is missing or broken: run \`npm run build\` (${(e as Error).message})`);
    (err as Error & { code: string }).code = 'ERR_NATIVE_MISSING';
    throw err;
  }
  return loaded;
}
