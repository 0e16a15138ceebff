// On-disk layout of the store (spec/store-format.md). Paths are only ever built from validated digests.
import fs from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { makeDirs } from '../sys/make-dirs.js';
import { processAlive } from './lock-file.js';

export const layoutDir = 'oci';
export const lockDir = 'locks';
export const tmpDir = 'tmp';

export function blobPath(root: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return path.join(root, layoutDir, 'blobs', algorithm, hex);
}

/**
 * Makes sure `root` is a directory a store can be made in, before anything below makes the store's own dirs
 * with a recursive mkdir: the root and its missing parents are made with a bounded mkdir (sys/make-dirs.ts),
 * private like store-root.ts makes them (0700 whatever the umask), and one probe dir is made and removed in
 * it. So a root on a file system that refuses new entries (`/proc/1`, `/proc/1/x`: Node's recursive mkdir
 * spins there forever), a file, or a directory without write permission fails here, in one line.
 */
export async function prepareStoreRoot(root: string): Promise<void> {
  const abs = path.resolve(root);
  try {
    if ((await makeDirs(abs, 0o700)) !== undefined) await fs.chmod(abs, 0o700);
    const probe = path.join(abs, `.probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
    await fs.mkdir(probe);
    await fs.rmdir(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new S2IError('ERR_STORE_ROOT', `cannot use ${root} as the cache and store directory (${code}); give --root a directory you can create and write`, { cause: e });
  }
}

/** Removes `<pid>-…` entries of `dir` whose process is gone (left by a crash or kill -9). Best effort. */
export async function sweepDeadTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (n) => {
      const pid = Number.parseInt(n.split('-')[0] ?? '', 10);
      if (Number.isSafeInteger(pid) && pid > 0 && !processAlive(pid)) {
        await fs.rm(path.join(dir, n), { recursive: true, force: true }).catch(() => undefined);
      }
    }),
  );
}

/** Removes `NAME.<pid>-<random>.tmp` files of writeFileAtomic whose writer is dead (killed mid-write). Best effort. */
export async function sweepDeadAtomicTemps(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const m = /\.(\d+)-[a-z0-9]+\.tmp$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    if (await fs.rm(path.join(dir, name), { force: true }).then(() => true, () => false)) n++;
  }
  return n;
}

/** Writes a small file atomically (temp in the same dir + rename over). */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fs.writeFile(tmp, data, { flag: 'wx', mode: 0o644 });
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
