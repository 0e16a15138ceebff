// applyLayer on well-formed layers: metadata, special files, long names, xattrs, diffID; and corrupt input.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { applyLayer } from '../../src/layer/apply.js';
import { parsePaxXattrs } from '../../src/layer/unpack-tar.js';
import { native } from '../../src/sys/native.js';
import type { Test } from 'tap';
import type { ApplyResult } from '../../src/layer/apply.js';
import { makeSandbox, makeTar, recordedAndRecomputed, sha256, tarStreamOf } from './apply-helpers.js';

const layerDigest = `sha256:${'cd'.repeat(32)}`;
const mtime = new Date(1_500_000_000_000);

/** The layer cache's tree digest (from the hashes recorded while writing) equals `cache verify`'s (re-read). */
async function recordedDigestHolds(t: Test, root: string, res: ApplyResult): Promise<void> {
  const { recorded, recomputed } = await recordedAndRecomputed(root, res);
  t.equal(recorded.digest, recomputed.digest, 'tree digest from recorded content hashes = recomputed from scratch');
  t.equal(recorded.filesRead, 0, 'no file read again');
}

t.test('regular files, modes, owners, mtimes, dirs', async (t) => {
  const sb = await makeSandbox(t);
  const tar = await makeTar([
    { name: 'bin/', type: 'directory', mode: 0o755, mtime },
    { name: 'bin/suid', data: 'x', mode: 0o4755, uid: 1001, gid: 1002, mtime },
    { name: 'bin/sgid', data: 'x', mode: 0o2711, mtime },
    { name: 'tmp/', type: 'directory', mode: 0o1777, mtime },
    { name: 'ro/', type: 'directory', mode: 0o500, mtime },
    { name: 'ro/file', data: 'in a read-only dir', mode: 0o400 },
    { name: 'empty', data: '', mode: 0o600 },
    { name: 'big', data: Buffer.alloc(3 << 20, 7), mtime },
  ]);
  const res = await applyLayer(tarStreamOf(tar), sb.root, { layerDigest });
  t.equal(res.diffID, sha256(tar));
  t.equal(res.entries, 8);
  t.equal(res.bytes, 2 + 18 + (3 << 20));
  const st = await fs.stat(path.join(sb.root, 'bin/suid'));
  t.equal(st.mode & 0o7777, 0o4755, 'setuid kept after chown');
  t.equal(st.uid, 1001);
  t.equal(st.gid, 1002);
  t.equal(st.mtimeMs, mtime.getTime());
  t.equal((await fs.stat(path.join(sb.root, 'bin/sgid'))).mode & 0o7777, 0o2711);
  t.equal((await fs.stat(path.join(sb.root, 'tmp'))).mode & 0o7777, 0o1777, 'sticky dir');
  t.equal((await fs.stat(path.join(sb.root, 'ro'))).mode & 0o7777, 0o500, 'dir mode applied after contents');
  t.equal(await fs.readFile(path.join(sb.root, 'ro/file'), 'utf8'), 'in a read-only dir');
  t.equal((await fs.stat(path.join(sb.root, 'bin'))).mtimeMs, mtime.getTime(), 'dir mtime applied last');
  t.equal((await fs.stat(path.join(sb.root, 'empty'))).size, 0);
  t.equal((await fs.readFile(path.join(sb.root, 'big'))).length, 3 << 20);
  await recordedDigestHolds(t, sb.root, res);
});

t.test('symlinks, fifos, devices, long names, pax uid and mtime', async (t) => {
  const sb = await makeSandbox(t);
  const long = `${'d'.repeat(120)}/${'n'.repeat(150)}`;
  const tar = await makeTar([
    { name: 'link', type: 'symlink', linkname: 'target/does/not/exist', uid: 5, gid: 6, mtime },
    { name: 'fifo', type: 'fifo', mode: 0o640 },
    { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: long, data: 'long' },
    { name: 'longlink', type: 'symlink', linkname: 'x'.repeat(300) },
    { name: 'paxed', data: 'p', pax: { uid: '3000000', gid: '3000001', mtime: '1500000000.25' } },
  ]);
  const warnings: string[] = [];
  const res = await applyLayer(tarStreamOf(tar), sb.root, { layerDigest, onWarning: (m) => warnings.push(m) });
  await recordedDigestHolds(t, sb.root, res);
  const l = await fs.lstat(path.join(sb.root, 'link'));
  t.ok(l.isSymbolicLink());
  t.equal(l.uid, 5);
  t.equal(l.mtimeMs, mtime.getTime());
  const f = await fs.lstat(path.join(sb.root, 'fifo'));
  t.ok(f.isFIFO());
  t.equal(f.mode & 0o777, 0o640);
  const d = await fs.lstat(path.join(sb.root, 'null'));
  t.ok(d.isCharacterDevice());
  t.equal(d.rdev, (1 << 8) | 3);
  t.equal(await fs.readFile(path.join(sb.root, long), 'utf8'), 'long');
  t.equal((await fs.readlink(path.join(sb.root, 'longlink'))).length, 300);
  const p = await fs.stat(path.join(sb.root, 'paxed'));
  t.equal(p.uid, 3000000);
  t.equal(p.mtimeMs, 1500000000250);
  t.same(warnings, []);
});

t.test('xattrs: user and security.capability kept; raw bytes survive', async (t) => {
  const sb = await makeSandbox(t);
  const cap = Buffer.from('0100000200040000000000000000000000000000', 'hex'); // VFS_CAP_REVISION_2, cap_net_bind_service
  const tar = await makeTar([
    { name: 'ping', data: 'elf', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap.toString('latin1'), 'SCHILY.xattr.user.note': 'hello' } },
  ]);
  const res = await applyLayer(tarStreamOf(tar), sb.root, { layerDigest });
  await recordedDigestHolds(t, sb.root, res);
  t.equal(native().lgetxattr(path.join(sb.root, 'ping'), 'user.note')?.toString(), 'hello');
  t.ok(native().lgetxattr(path.join(sb.root, 'ping'), 'security.capability'), 'capability set');
});

t.test('parsePaxXattrs keeps non-UTF-8 bytes', async (t) => {
  const value = Buffer.from([0xff, 0x00, 0x80, 0x0a]);
  const rec = (k: string, v: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len++;
    return Buffer.concat([Buffer.from(String(len)), body]);
  };
  const m = parsePaxXattrs(Buffer.concat([rec('path', Buffer.from('a')), rec('SCHILY.xattr.user.bin', value)]));
  t.same([...m.keys()], ['user.bin']);
  t.same(m.get('user.bin'), value);
  t.same([...parsePaxXattrs(Buffer.from('garbage without length')).keys()], [], 'bad input is ignored');
  t.same([...parsePaxXattrs(Buffer.from('999 SCHILY.xattr.user.x=y\n')).keys()], [], 'length past the end is ignored');
});

t.test('whiteouts become overlay whiteouts; a dir added after a whiteout is opaque', async (t) => {
  const sb = await makeSandbox(t);
  const tar = await makeTar([{ name: 'etc/.wh.motd' }, { name: '.wh.opt' }, { name: 'opt/', type: 'directory' }, { name: '.wh..wh.plnk' }]);
  const res = await applyLayer(tarStreamOf(tar), sb.root, { layerDigest });
  await recordedDigestHolds(t, sb.root, res);
  const w = await fs.lstat(path.join(sb.root, 'etc/motd'));
  t.ok(w.isCharacterDevice() && w.rdev === 0, 'char 0:0');
  t.equal(native().lgetxattr(path.join(sb.root, 'opt'), 'user.overlay.opaque')?.toString(), 'y');
  t.notOk(await fs.lstat(path.join(sb.root, '.wh..wh.plnk')).catch(() => null), 'aufs metadata skipped');
});

t.test('corrupt input is a clean ERR_LAYER_CORRUPT', async (t) => {
  const tar = await makeTar([{ name: 'a', data: 'x'.repeat(2000) }, { name: 'b', data: 'y' }]);
  const badSum = Buffer.from(tar);
  badSum[512 + 2048 + 10] = 0x41; // inside the second header's name: checksum no longer matches
  const truncated = tar.subarray(0, 1200);
  for (const [what, buf] of [
    ['bad checksum', badSum],
    ['truncated', truncated],
  ] as const) {
    const sb = await makeSandbox(t);
    await t.rejects(applyLayer(tarStreamOf(buf), sb.root, { layerDigest }), { code: 'ERR_LAYER_CORRUPT' }, what);
  }
  const sb = await makeSandbox(t);
  const gz = zlib.gzipSync(tar);
  const cut = Readable.from([gz.subarray(0, gz.length - 20)]).pipe(zlib.createGunzip());
  await t.rejects(applyLayer(cut, sb.root, { layerDigest }), { code: 'ERR_LAYER_CORRUPT' }, 'truncated gzip');
});

t.test('abort stops the unpack', async (t) => {
  const sb = await makeSandbox(t);
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  const tar = await makeTar([{ name: 'a', data: 'x' }]);
  await t.rejects(applyLayer(tarStreamOf(tar), sb.root, { layerDigest, signal: ac.signal }), /stop/);
});

t.test('many small files, with replacements', async (t) => {
  const sb = await makeSandbox(t);
  const entries = [];
  for (let i = 0; i < 400; i++) entries.push({ name: `d${i % 7}/f${i}`, data: `content ${i}` });
  entries.push({ name: 'd3/f3', data: 'replaced' }, { name: 'd4', type: 'symlink' as const, linkname: 'd5' }, { name: 'd4/f11', data: 'via link' });
  const tar = await makeTar(entries);
  const res = await applyLayer(tarStreamOf(tar), sb.root, { layerDigest });
  t.equal(res.entries, 403);
  t.equal(await fs.readFile(path.join(sb.root, 'd3/f3'), 'utf8'), 'replaced');
  t.equal(await fs.readFile(path.join(sb.root, 'd5/f11'), 'utf8'), 'via link');
  t.equal(await fs.readFile(path.join(sb.root, 'd6/f398'), 'utf8'), 'content 398');
  await recordedDigestHolds(t, sb.root, res);
});
