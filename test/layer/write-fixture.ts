// Shared by the write*.test.ts files: builds real trees, reads tars back with GNU tar and tar-stream, and
// describes a tree on disk so two trees can be compared field by field.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tarStream from 'tar-stream';
import { native, S_IFCHR } from '../../src/sys/native.js';

export const LONG_NAME = 'n'.repeat(200);
export const T0 = 1_600_000_000; // a fixed mtime so expectations do not depend on the clock

/** A tree with one of everything writeLayer must handle. Needs root (chown, mknod). */
export function makeTree(root: string): void {
  const p = (...s: string[]): string => path.join(root, ...s);
  fs.mkdirSync(p('dir', 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(p('empty'));
  fs.writeFileSync(p('a.txt'), 'hello\n');
  fs.writeFileSync(p('dir', 'b.txt'), 'b'.repeat(1000));
  fs.writeFileSync(p('dir', 'sub', 'deeper', 'c.bin'), Buffer.from([0, 1, 2, 255]));
  fs.writeFileSync(p('empty-file'), '');
  // Larger than one read chunk, not a multiple of 512.
  const big = Buffer.alloc(3 * 1024 * 1024 + 77);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  fs.writeFileSync(p('big.bin'), big);
  fs.symlinkSync('a.txt', p('link-to-a'));
  fs.symlinkSync('/' + 'x/'.repeat(70) + 'target', p('long-symlink'));
  fs.writeFileSync(p('hard1'), 'same inode');
  fs.linkSync(p('hard1'), p('hard2'));
  execFileSync('mkfifo', [p('fifo')]);
  fs.writeFileSync(p('setuid'), '#!/bin/sh\n');
  fs.chmodSync(p('setuid'), 0o4755);
  fs.chmodSync(p('dir', 'sub'), 0o3775); // setgid + sticky on a directory
  fs.writeFileSync(p(LONG_NAME), 'long');
  // Too long for ustar name+prefix: a pax path record.
  const deepDir = p('dir', 'd'.repeat(120), 'e'.repeat(120));
  fs.mkdirSync(deepDir, { recursive: true });
  fs.writeFileSync(path.join(deepDir, 'f'.repeat(60)), 'deep');
  fs.writeFileSync(p('owned-1001'), 'u');
  fs.chownSync(p('owned-1001'), 1001, 1002);
  fs.writeFileSync(p('owned-big'), 'u');
  fs.chownSync(p('owned-big'), 3_000_000, 3_000_001); // beyond 7 octal digits: pax uid/gid
  fs.writeFileSync(p('xattr-file'), 'x');
  native().lsetxattr(p('xattr-file'), 'user.foo', Buffer.from('bar'));
  native().lsetxattr(p('xattr-file'), 'user.bin', Buffer.from([0, 1, 0xff]));
  native().mknod(p('null-dev'), S_IFCHR | 0o666, 1, 3);
  fs.chmodSync(p('null-dev'), 0o666); // mknod's mode went through the umask
  fs.writeFileSync(Buffer.from(p('nonutf8-') + '\xff', 'latin1'), 'bytes');
  setTimes(root, T0);
}

/** Sets every mtime below `root` (and root) to `t`, without following symlinks. */
export function setTimes(root: string, t: number): void {
  const visit = (d: Buffer): void => {
    for (const name of fs.readdirSync(d, { encoding: 'buffer' })) {
      const full = Buffer.concat([d, Buffer.from('/'), name]);
      if (fs.lstatSync(full).isDirectory()) visit(full);
      fs.lutimesSync(full, t, t);
    }
  };
  visit(Buffer.from(root));
  fs.utimesSync(root, t, t);
}

export interface NodeDesc {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  sha?: string;
  target?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** Other names of the same inode within the tree. */
  links?: string[];
}

/** Every node below root, keyed by relative path (latin1, so any byte survives). */
export function describeTree(root: string): Record<string, NodeDesc> {
  const out: Record<string, NodeDesc> = {};
  const inodes = new Map<bigint, string[]>();
  const rootBuf = Buffer.from(root);
  const visit = (rel: Buffer): void => {
    const dir = rel.length ? Buffer.concat([rootBuf, Buffer.from('/'), rel]) : rootBuf;
    for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
      const r = rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const full = Buffer.concat([rootBuf, Buffer.from('/'), r]);
      const st = fs.lstatSync(full, { bigint: true });
      const key = r.toString('latin1');
      const d: NodeDesc = {
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'other',
        mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeMs / 1000n),
      };
      if (st.isFile()) {
        const data = fs.readFileSync(full);
        d.size = data.length;
        d.sha = createHash('sha256').update(data).digest('hex');
        if (st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), key]);
      }
      if (st.isSymbolicLink()) d.target = fs.readlinkSync(full, { encoding: 'buffer' }).toString('latin1');
      if (st.isCharacterDevice()) d.rdev = Number(st.rdev);
      if (Buffer.from(full.toString('utf8')).equals(full)) {
        const names = native().llistxattr(full.toString('utf8'));
        if (names.length) d.xattrs = Object.fromEntries(names.sort().map((n) => [n, native().lgetxattr(full.toString('utf8'), n)!.toString('hex')]));
      }
      out[key] = d;
      if (st.isDirectory()) visit(r);
    }
  };
  visit(Buffer.alloc(0));
  for (const names of inodes.values()) for (const n of names) out[n]!.links = names.filter((x) => x !== n).sort();
  return out;
}

export interface ListedEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  uname: string;
  gname: string;
  linkname: string | null;
  pax: Record<string, string>;
}

/** The entries of an uncompressed tar, in order, read with tar-stream (names as latin1). */
export async function listTar(tar: Buffer): Promise<ListedEntry[]> {
  const ex = tarStream.extract({ filenameEncoding: 'latin1' } as tarStream.ExtractOptions);
  const out: ListedEntry[] = [];
  ex.on('entry', (h, stream, next) => {
    const hh = h as tarStream.Headers & { pax?: Record<string, string> };
    out.push({
      name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000), uname: h.uname ?? '', gname: h.gname ?? '',
      linkname: h.linkname ?? null, pax: hh.pax ?? {},
    });
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
