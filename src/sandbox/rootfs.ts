// Safe access to paths inside a container rootfs from the host: every path is resolved in-root (symlinks in
// the image cannot lead a host-side write or read outside it).
import { lstat, readFile, chown, lchown, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { resolveDirInRoot, UnsafePathError } from '../layer/secure-path.js';

function comps(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** Host path of directory `p` inside rootfs, created (0755) when missing; symlinks resolved in-root. */
export async function ensureDirInRoot(rootfs: string, p: string): Promise<string> {
  try {
    const dir = await resolveDirInRoot(rootfs, comps(p), { create: true });
    if (!dir) throw new Error('unreachable');
    return dir;
  } catch (e) {
    if (e instanceof UnsafePathError) throw new S2IError('ERR_UNSAFE_PATH', `cannot use ${p} inside the image: ${e.message}`, { cause: e, exitCode: 5 });
    throw e;
  }
}

/** Host path of file `p` inside rootfs (its parent resolved in-root; the last component not followed), or undefined. */
export async function fileInRoot(rootfs: string, p: string): Promise<string | undefined> {
  const c = comps(p);
  const name = c.pop();
  if (name === undefined) return undefined;
  let dir: string | null;
  try {
    dir = await resolveDirInRoot(rootfs, c, { create: false });
  } catch {
    return undefined;
  }
  if (!dir) return undefined;
  const host = path.join(dir, name);
  try {
    await lstat(host);
    return host;
  } catch {
    return undefined;
  }
}

/** Reads a small file from the rootfs (e.g. /etc/passwd) following symlinks in-root; undefined when absent. */
export async function readFileInRoot(rootfs: string, p: string, maxBytes = 4 << 20): Promise<Buffer | undefined> {
  let current = p;
  for (let hops = 0; hops < 40; hops++) {
    const host = await fileInRoot(rootfs, current);
    if (!host) return undefined;
    const st = await lstat(host);
    if (st.isSymbolicLink()) {
      const target = await readlink(host);
      current = target.startsWith('/') ? target : path.posix.join(path.posix.dirname(current), target);
      continue;
    }
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return await readFile(host);
  }
  return undefined;
}

/** Recursively chowns a host tree (never following symlinks). */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}
