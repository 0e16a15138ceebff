// The identity of an unpacked layer dir as it sits on disk: a sha256 over one canonical line per entry (path,
// type, mode incl. setuid/setgid/sticky, owner, size, mtime, link target, device numbers, xattrs, content hash).
// Recorded when a layer is unpacked and recomputed by `cache verify`. Re-tarring the dir and comparing with the
// diffID cannot work: the dir holds overlay whiteouts (char 0:0, opaque xattrs) instead of the `.wh.` entries,
// and the original tar's header bytes (uname, PAX records, order) are not recoverable from the tree.
//
// The walk reads metadata only, synchronously (lstat/readdir/readlink/llistxattr of a tree that was just written
// or is being verified cost microseconds each, less than a trip through the libuv pool). File contents are the
// expensive part: at unpack time the applier hashed every file as it wrote it (`known`, by inode), so nothing is
// read again; `cache verify` passes nothing and every file is read and hashed, a few at a time.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { native } from '../sys/native.js';
import type { WrittenFile } from '../layer/apply.js';

export interface TreeDigest {
  /** `sha256:<hex>` of the canonical listing. */
  digest: string;
  entries: number;
  /** Sum of regular files' sizes (apparent). */
  bytes: number;
  /** Regular files whose content was read here (not known beforehand). */
  filesRead: number;
}

/** A regular file's content hash known without reading it: what the layer applier recorded while writing it. */
export type KnownContent = WrittenFile;

export interface TreeDigestOptions {
  /**
   * Content hashes by inode number, e.g. recorded by the layer applier. Used only for a regular file of that inode
   * and that size; any other file is read. Whoever passes it vouches that no file changed since it was recorded.
   */
  known?: ReadonlyMap<bigint, KnownContent>;
}

/** Host-specific labels that do not belong to the layer (SELinux relabels files on its own). */
const ignoredXattrs = new Set(['security.selinux']);
const hashConcurrency = 8;

/** A line whose content hash is still to be read: the fields before and after it. */
interface Unread {
  index: number;
  abs: string;
  head: string;
  tail: string;
}

/**
 * Walks `dir` (without following symlinks) and digests it; the root's mtime is left out (renames may touch it).
 * Format: spec/store-format.md "Tree digest".
 */
export async function treeDigest(dir: string, opts: TreeDigestOptions = {}): Promise<TreeDigest> {
  const lines: string[] = [];
  const unread: Unread[] = [];
  let bytes = 0;
  const walk = (abs: string, rel: string): void => {
    const st = lstatSync(abs, { bigint: true });
    const type = typeOf(st);
    const fields = [JSON.stringify(rel === '' ? '.' : rel), type, (st.mode & 0o7777n).toString(8), `${st.uid}:${st.gid}`];
    if (rel !== '') fields.push(`m${st.mtimeNs}`);
    if (type === 'f') {
      bytes += Number(st.size);
      fields.push(`${st.size}`);
      const k = opts.known?.get(st.ino);
      if (k === undefined || k.size !== st.size) {
        unread.push({ index: lines.length, abs, head: fields.join(' '), tail: xattrs(abs) });
        lines.push('');
        return;
      }
      fields.push(k.sha256);
    }
    if (type === 'l') fields.push(JSON.stringify(readlinkSync(abs)));
    if (type === 'c' || type === 'b') fields.push(`r${st.rdev}`);
    fields.push(xattrs(abs));
    lines.push(fields.join(' '));
    if (type !== 'd') return;
    for (const n of readdirSync(abs).sort()) walk(path.join(abs, n), rel === '' ? n : `${rel}/${n}`);
  };
  walk(dir, '');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unread.length) {
      const u = unread[next++]!;
      lines[u.index] = `${u.head} ${await fileHash(u.abs)} ${u.tail}`;
    }
  };
  await Promise.all(Array.from({ length: Math.min(hashConcurrency, unread.length) }, () => worker()));
  const h = createHash('sha256');
  for (const l of lines) h.update(l).update('\n');
  return { digest: `sha256:${h.digest('hex')}`, entries: lines.length, bytes, filesRead: unread.length };
}

function typeOf(st: BigIntStats): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
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
