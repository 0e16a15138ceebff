// What a root-filesystem snapshot leaves out: the kernel's API file systems (/proc, /sys, /dev), every mount
// point inside the root (from /proc/self/mountinfo: the container's /etc/hosts, secrets, the workspace volume…),
// and the paths the caller names (the workspace, the engine's own directory). Kept as a tree of path components
// so the walk asks only about the children of directories on an excluded path: one Map lookup there, nothing
// elsewhere.
import { readFileSync } from 'node:fs';
import { S2IError } from '../errors.js';

/** One path component of the exclusion tree. Keys are the raw bytes of a name as a latin1 string. */
export interface ExcludeNode {
  /** This path is excluded, with its whole subtree. */
  excluded: boolean;
  children: Map<string, ExcludeNode>;
}

/** Always left out of a root snapshot: their contents are the kernel's, never the image's. */
const API_FILESYSTEMS = ['proc', 'sys', 'dev'];

/** The exclusion tree for `root` (a real path, no symlinks): the API file systems, the mount points below
 *  `root` listed in `mountinfo` (the text of /proc/self/mountinfo), and `paths` (inside the root, with or
 *  without a leading `/`: `/workspace` and `workspace` both mean `<root>/workspace`). */
export function excludeTree(root: string, paths: readonly string[], mountinfo: string): ExcludeNode {
  const top: ExcludeNode = { excluded: false, children: new Map() };
  for (const p of [...API_FILESYSTEMS, ...paths]) add(top, Buffer.from(p, 'utf8'), p);
  for (const mp of mountPointsBelow(root, mountinfo)) add(top, mp, mp.toString('utf8'));
  return top;
}

/** The text of /proc/self/mountinfo, or '' where there is none (not Linux, no /proc). */
export function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return '';
  }
}

function add(top: ExcludeNode, path: Buffer, shown: string): void {
  const parts = path.toString('latin1').split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) {
    throw new S2IError('ERR_SNAPSHOT_EXCLUDE', `cannot exclude "${shown}" from the snapshot: name a path inside the root, without ".."`);
  }
  let node = top;
  for (const c of parts) {
    let next = node.children.get(c);
    if (!next) {
      next = { excluded: false, children: new Map() };
      node.children.set(c, next);
    }
    node = next;
  }
  node.excluded = true;
}

/** Mount points strictly below `root`, relative to it, as raw bytes. mountinfo's 5th field is the mount point
 *  with space, tab, newline and backslash written as `\ooo` octal escapes (proc(5)). */
function mountPointsBelow(root: string, mountinfo: string): Buffer[] {
  const prefix = Buffer.from(root === '/' ? '/' : `${root.replace(/\/+$/, '')}/`, 'utf8').toString('latin1');
  const out: Buffer[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const mp = Buffer.from(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1');
    const text = mp.toString('latin1');
    if (text.length > prefix.length && text.startsWith(prefix)) out.push(mp.subarray(prefix.length));
  }
  return out;
}
