// Removing a store entry so that no reader ever sees it half-deleted: first an atomic rename into a temp dir of
// the same filesystem named after this process (`<pid>-discard-…`, swept by the next open if we die), then the
// recursive delete. Also how one entry is put back when a running build leased it meanwhile.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Moves `entry` into `trashDir`; returns the trash path, or undefined when `entry` is already gone. */
export async function moveToTrash(entry: string, trashDir: string): Promise<string | undefined> {
  const trash = path.join(trashDir, `${process.pid}-discard-${randomBytes(6).toString('hex')}`);
  try {
    await fs.rename(entry, trash);
    return trash;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Puts a trashed entry back unless the same content reappeared meanwhile (then the trash is just deleted). */
export async function restoreFromTrash(trash: string, entry: string): Promise<boolean> {
  try {
    await fs.rename(trash, entry);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    await fs.rm(trash, { recursive: true, force: true });
    return false;
  }
}

export async function discard(entry: string, trashDir: string): Promise<boolean> {
  const trash = await moveToTrash(entry, trashDir);
  if (trash === undefined) return false;
  await fs.rm(trash, { recursive: true, force: true });
  return true;
}
