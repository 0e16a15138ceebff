// Overlay rootfs: the builder's cached layer dirs as lower dirs, a fresh upper dir that becomes the new layer.
// Always mounted with `userxattr` (user.overlay.* whiteout/opaque markers), the one format our layer cache
// writes, so root and rootless builds share the same code and on-disk layout.
//
// And with `volatile` (Linux 5.10+, docs/filesystems/overlayfs.rst "Volatile mount") where the kernel takes it:
// without it the last unmount syncs the whole upper filesystem (sync_filesystem of the host's /), which on a
// busy host took 0.05-1 s per build. The upper dir is read once right after the unmount and then thrown away,
// so there is nothing to keep crash-safe. A volatile mount leaves a marker in its work dir that refuses a second
// mount with it: mount again with a fresh work dir.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { readMountinfo } from '../layer/snapshot-exclude.js';
import { native, MNT_DETACH } from '../sys/native.js';

export interface OverlayDirs {
  /** Lower dirs, bottom layer first (image order). */
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
}

// mount(2) data is limited to one page; beyond that, use paths relative to a common parent.
const PAGE = 4096;
const VOLATILE = ',volatile';
/** Whether this kernel took `volatile`; a kernel that refused it once is not asked again. */
let volatileWorks: boolean | undefined;

function mountWithVolatile(target: string, data: string): void {
  if (volatileWorks !== false) {
    try {
      native().mount('overlay', target, 'overlay', 0, data + VOLATILE);
      volatileWorks = true;
      return;
    } catch (e) {
      // EINVAL: an older kernel without the option. Anything else is a real failure, reported by the retry.
      if (volatileWorks === true || (e as { code?: string }).code !== 'EINVAL') throw e;
      volatileWorks = false;
    }
  }
  native().mount('overlay', target, 'overlay', 0, data);
}

export async function mountOverlay(dirs: OverlayDirs): Promise<void> {
  await mkdir(dirs.upper, { recursive: true });
  await mkdir(dirs.work, { recursive: true });
  await mkdir(dirs.merged, { recursive: true });
  // An image with no layers still needs a lower dir: overlay requires one.
  let lowers = [...dirs.lowers].reverse();
  if (lowers.length === 0) {
    const empty = path.join(path.dirname(dirs.work), 'empty-lower');
    await mkdir(empty, { recursive: true });
    lowers = [empty];
  }
  let data = `lowerdir=${lowers.join(':')},upperdir=${dirs.upper},workdir=${dirs.work},userxattr`;
  let cwd: string | undefined;
  if (data.length + VOLATILE.length >= PAGE) {
    const common = commonParent([...lowers]);
    const rel = lowers.map((l) => path.relative(common, l));
    data = `lowerdir=${rel.join(':')},upperdir=${dirs.upper},workdir=${dirs.work},userxattr`;
    if (data.length + VOLATILE.length >= PAGE) {
      throw new S2IError('ERR_TOO_MANY_LAYERS', `the builder image has too many layers (${lowers.length}) to stack: squash it`);
    }
    cwd = common;
  }
  for (const l of lowers) {
    if (l.includes(':') || l.includes(',')) {
      throw new S2IError('ERR_BAD_PATH', `layer cache path ${l} contains ':' or ',': use --root with a plain path`);
    }
  }
  const prev = process.cwd();
  try {
    if (cwd) process.chdir(cwd);
    mountWithVolatile(dirs.merged, data);
  } catch (e) {
    // EINVAL both ways; an upper dir on an overlay (a container's own root) is by far the more common cause today.
    const why =
      fileSystemOf(dirs.upper) === 'overlay'
        ? `${dirs.upper} is itself on an overlay mount, and overlay on overlay is refused: put --root on a volume or tmpfs, or build with --isolation auto (a copied rootfs)`
        : 'the kernel needs overlayfs with user namespace support (5.11+)';
    throw new S2IError('ERR_OVERLAY', `cannot mount the overlay rootfs (${(e as Error).message}); ${why}`, { cause: e });
  } finally {
    if (cwd) process.chdir(prev);
  }
}

/** The file system type of the mount that holds `dir` (a real path), from /proc/self/mountinfo; undefined when unknown. */
export function fileSystemOf(dir: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of readMountinfo().split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    const point = f[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const type = sep > 0 ? f[sep + 1] : undefined;
    if (!point || !type) continue;
    const under = dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (under && (!best || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type;
}

export function unmount(target: string): void {
  try {
    native().umount2(target, MNT_DETACH);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw e;
  }
}

function commonParent(paths: string[]): string {
  let common = path.dirname(paths[0] ?? '/');
  for (const p of paths) {
    while (!(p + '/').startsWith(common.endsWith('/') ? common : common + '/')) common = path.dirname(common);
  }
  return common;
}
