// The identity of an unpacked layer dir as it sits on disk: a sha256 over one canonical line per entry (path,
// type, mode incl. setuid/setgid/sticky, owner, size, mtime, link target, device numbers, xattrs, content hash).
// Recorded when a layer is unpacked and recomputed by `cache verify`. Re-tarring the dir and comparing with the
// diffID cannot work: the dir holds overlay whiteouts (char 0:0, opaque xattrs) instead of the `.wh.` entries,
// and the original tar's header bytes (uname, PAX records, order) are not recoverable from the tree.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { native } from '../sys/native.js';

export interface TreeDigest {
  /** `sha256:<hex>` of the canonical listing. */
  digest: string;
  entries: number;
  /** Sum of regular files' sizes (apparent). */
  bytes: number;
}

/** Host-specific labels that do not belong to the layer (SELinux relabels files on its own). */
const ignoredXattrs = new Set(['security.selinux']);
const hashConcurrency = 8;

interface Item {
  rel: string;
  abs: string;
  st: import('node:fs').BigIntStats;
}

/** Walks `dir` (without following symlinks) and digests it; the root's mtime is left out (renames may touch it). */
export async function treeDigest(dir: string): Promise<TreeDigest> {
  const items: Item[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = await fs.lstat(abs, { bigint: true });
    items.push({ rel, abs, st });
    if (!st.isDirectory()) return;
    const names = (await fs.readdir(abs)).sort();
    for (const n of names) await walk(path.join(abs, n), rel === '' ? n : `${rel}/${n}`);
  };
  await walk(dir, '');
  const lines = new Array<string>(items.length);
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const it = items[i]!;
      if (it.st.isFile()) bytes += Number(it.st.size);
      lines[i] = await entryLine(it);
    }
  };
  await Promise.all(Array.from({ length: hashConcurrency }, () => worker()));
  const h = createHash('sha256');
  for (const l of lines) h.update(l).update('\n');
  return { digest: `sha256:${h.digest('hex')}`, entries: items.length, bytes };
}

async function entryLine({ rel, abs, st }: Item): Promise<string> {
  const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
  const fields = [JSON.stringify(rel === '' ? '.' : rel), type, (st.mode & 0o7777n).toString(8), `${st.uid}:${st.gid}`];
  if (rel !== '') fields.push(`m${st.mtimeNs}`);
  if (type === 'f') fields.push(`${st.size}`, await fileHash(abs));
  if (type === 'l') fields.push(JSON.stringify(await fs.readlink(abs)));
  if (type === 'c' || type === 'b') fields.push(`r${st.rdev}`);
  fields.push(xattrs(abs));
  return fields.join(' ');
}

async function fileHash(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

function xattrs(file: string): string {
  let names: string[];
  try {
    names = native().llistxattr(file);
  } catch {
    return 'x-'; // the filesystem has no xattrs (ENOTSUP): nothing to record
  }
  const parts = names
    .filter((n) => !ignoredXattrs.has(n))
    .sort()
    .map((n) => `${n}=${native().lgetxattr(file, n)?.toString('hex') ?? ''}`);
  return `x${JSON.stringify(parts)}`;
}
