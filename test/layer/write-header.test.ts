// The ustar/pax header encoder in isolation: fields that do not fit go to pax records whose self-counting
// length is right at the digit boundaries; GNU tar is the independent reader where it can be.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeHeader, endOfArchive, padding, type TarEntry } from '../../src/layer/tar-writer-header.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-header-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base: TarEntry = { name: Buffer.from('f'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 };

/** pax records of an encoded header (empty when there is no 'x' header). */
function paxRecords(h: Buffer): Record<string, string> {
  if (h[156] !== 0x78) return {};
  const size = parseInt(h.toString('latin1', 124, 135), 8);
  const body = h.subarray(512, 512 + size);
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    const len = Number(body.toString('latin1', off, sp));
    t.equal(body[off + len - 1], 0x0a, 'record length counts itself');
    const rec = body.toString('latin1', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

function listWithGnuTar(entries: TarEntry[]): string[] {
  const file = path.join(tmp, `t-${Math.random().toString(36).slice(2)}.tar`);
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeHeader(e));
    if (e.type === 'file' && e.size > 0) parts.push(Buffer.alloc(e.size + padding(e.size), 0x61));
  }
  parts.push(endOfArchive());
  fs.writeFileSync(file, Buffer.concat(parts));
  return execFileSync('tar', ['-tf', file], { encoding: 'latin1' }).split('\n').filter(Boolean);
}

t.test('plain entries need no pax header', async (t) => {
  const h = encodeHeader({ ...base, name: Buffer.from('a/b/c'), size: 10 });
  t.equal(h.length, 512);
  t.equal(h.toString('latin1', 257, 265), 'ustar\u000000');
  t.equal(h.toString('latin1', 265, 329).replace(/\0/g, ''), '', 'no uname/gname');
});

t.test('long names: ustar prefix split when possible, else pax path', async (t) => {
  const split = `${'p'.repeat(150)}/${'n'.repeat(99)}`;
  t.equal(encodeHeader({ ...base, name: Buffer.from(split) }).length, 512, 'prefix/name split, no pax');
  const dirSplit = `${'p'.repeat(150)}/${'n'.repeat(98)}/`;
  const noSplit = 'x'.repeat(101);
  t.same(paxRecords(encodeHeader({ ...base, name: Buffer.from(noSplit) })), { path: noSplit });
  // pax records around the 3→4 digit length boundary ("path=" + name + 5 or 6 bytes ≈ 999/1000).
  const names: string[] = [];
  for (let len = 986; len <= 994; len++) names.push('y/'.repeat(200) + 'z'.repeat(len - 400));
  const entries = [split, `${dirSplit}`, noSplit, ...names].map((n) => ({ ...base, name: Buffer.from(n), type: n.endsWith('/') ? 'dir' as const : 'file' as const, size: 3 }));
  t.same(listWithGnuTar(entries), entries.map((e) => e.name.toString()), 'GNU tar reads every name back');
});

t.test('numbers that do not fit ustar go to pax', async (t) => {
  const big = encodeHeader({ ...base, uid: 2 ** 21, gid: 5, size: 9 * 2 ** 30, mtime: -1 });
  t.same(paxRecords(big), { uid: String(2 ** 21), size: String(9 * 2 ** 30), mtime: '-1' });
  t.same(paxRecords(encodeHeader({ ...base, uid: 2 ** 21 - 1 })), {}, '2^21-1 still fits');
});

t.test('links, devices, xattrs, non-UTF-8 names', async (t) => {
  const target = Buffer.from('t'.repeat(150));
  t.same(paxRecords(encodeHeader({ ...base, type: 'symlink', linkname: target })), { linkpath: target.toString() });
  const dev = encodeHeader({ ...base, type: 'block', devmajor: 8, devminor: 1 });
  t.equal(dev.toString('latin1', 329, 336), '0000010');
  t.equal(dev.toString('latin1', 337, 344), '0000001');
  t.same(paxRecords(encodeHeader({ ...base, xattrs: [['user.a', Buffer.from('1')], ['user.b', Buffer.from('')]] })),
    { 'SCHILY.xattr.user.a': '1', 'SCHILY.xattr.user.b': '' });
  const raw = Buffer.concat([Buffer.from('x'.repeat(120)), Buffer.from([0xff])]);
  t.same(paxRecords(encodeHeader({ ...base, name: raw })), { path: raw.toString('latin1') });
  t.same(listWithGnuTar([{ ...base, name: raw }]), [`${'x'.repeat(120)}\\377`], 'GNU tar reads the raw bytes');
});

t.test('encoding is a pure function of the entry', async (t) => {
  const e: TarEntry = { ...base, name: Buffer.from('n'.repeat(300)), xattrs: [['user.k', Buffer.from([0, 1])]] };
  t.ok(encodeHeader(e).equals(encodeHeader({ ...e })));
});
