// The store root is private to its user (mode 0700). The unpacked layers must keep what the images hold —
// setuid/setgid binaries owned by 0, files with `security.capability`, device nodes — or the images built from
// them would be wrong; so the one barrier between those files and the other local users is the root's mode. A
// store made 0755 (by versions before this one) let any local user run a cached setuid-root shell as uid 0, or
// open a layer's device node read-write. With the root at 0700 nobody else can look up any path below it (not
// even through a directory fd or a cwd they hold: every lookup checks search permission on the dir it starts
// in), and chmod also clears the ACL mask, so named ACL entries cannot widen it again.
import fs from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { layoutDir } from './store-paths.js';

export const storeRootMode = 0o700;

/** What `checkStoreRoot` found: the mode before, and whether it was (or had to be) tightened. */
export interface StoreRootCheck {
  /** mode & 0o7777 as found. */
  mode: number;
  /** True when the mode let other users (group or others) in. */
  widened: boolean;
  /** True when this call set it back to 0700. */
  fixed: boolean;
  /** Why it could not be tightened, when `widened && !fixed`. */
  error?: string;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/**
 * Creates the store root 0700 when it is missing (whatever the umask; missing parents too), or tightens an
 * existing one to 0700 when it is wider. An existing wider dir is tightened only when it is a store (or empty),
 * never some other directory named by `--root` (/tmp, a home dir, /): that is refused (ERR_STORE_ROOT) rather
 * than chmod-ed or used. The engine opens only stores it owns (rootless, the caller owns it and is uid 0 in the
 * namespace); as root it may also tighten another user's store it was pointed at.
 */
export async function openStoreRoot(root: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await fs.mkdir(root, { recursive: true, mode: storeRootMode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
    throw new S2IError('ERR_STORE_ROOT', `the store root ${root} is not a directory: use --root with a directory of its own`, { cause: e });
  }
  if (created !== undefined) {
    // mkdir applies the umask (which could even drop the owner's bits); chmod does not.
    await fs.chmod(root, storeRootMode);
    return;
  }
  const st = await fs.stat(root);
  if (!st.isDirectory()) throw new S2IError('ERR_STORE_ROOT', `the store root ${root} is not a directory: use --root with a directory of its own`);
  if ((st.mode & 0o077) === 0) return;
  if (!(await looksLikeStore(root))) {
    throw new S2IError(
      'ERR_STORE_ROOT',
      `the store root ${root} (mode ${octal(st.mode)}) is reachable by other users and holds files that are not a store: ` +
        `use --root with a directory of its own (it is created with mode 0700), or chmod 700 it`,
    );
  }
  try {
    await fs.chmod(root, storeRootMode);
  } catch (e) {
    throw new S2IError(
      'ERR_STORE_ROOT',
      `the store root ${root} (mode ${octal(st.mode)}, owner uid ${st.uid}) is reachable by other users and cannot be made private ` +
        `(${(e as NodeJS.ErrnoException).code ?? String(e)}): run \`chmod 700 ${root}\` as its owner`,
      { cause: e },
    );
  }
}

/** For `cache verify`: reports a widened root and sets it back to 0700 (like verify drops what is corrupt). */
export async function checkStoreRoot(root: string): Promise<StoreRootCheck | undefined> {
  let st;
  try {
    st = await fs.stat(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const mode = st.mode & 0o7777;
  if ((mode & 0o077) === 0) return { mode, widened: false, fixed: false };
  try {
    await fs.chmod(root, storeRootMode);
    return { mode, widened: true, fixed: true };
  } catch (e) {
    return { mode, widened: true, fixed: false, error: `${(e as NodeJS.ErrnoException).code ?? String(e)}: run \`chmod 700 ${root}\` as its owner` };
  }
}

export function describeWidened(c: StoreRootCheck): string {
  return (
    `mode ${octal(c.mode)} lets other users reach the unpacked layers (setuid files, file capabilities, device nodes) and build dirs: ` +
    (c.fixed ? `set back to ${octal(storeRootMode)}` : `not fixed (${c.error ?? 'unknown'})`)
  );
}

/** An empty dir, or one holding the store's own layout (what this or an older version made). */
async function looksLikeStore(root: string): Promise<boolean> {
  const names = await fs.readdir(root);
  if (names.length === 0) return true;
  const isDir = (p: string) => fs.stat(p).then((s) => s.isDirectory(), () => false);
  const isFile = (p: string) => fs.stat(p).then((s) => s.isFile(), () => false);
  return (await isFile(path.join(root, layoutDir, 'oci-layout'))) || (await isDir(path.join(root, 'layers', 'sha256')));
}
