// writeLayer end to end on a real tree: read back with GNU tar (an independent reader), compared field by
// field with the source; order, determinism, digests, options and bad input.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { writeLayer, writeLayerFile, type WriteLayerOptions } from '../../src/layer/write.js';
import { S2IError } from '../../src/errors.js';
import { describeTree, listTar, makeTree, sha256, LONG_NAME, T0 } from './write-fixture.js';
import { withExitCode } from '../helpers/exit-code.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-write-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const src = path.join(tmp, 'src');
fs.mkdirSync(src);
makeTree(src);

let n = 0;
async function layer(opts: WriteLayerOptions = {}, dir = src) {
  const file = path.join(tmp, `layer-${n++}`);
  const result = await writeLayerFile(dir, file, opts);
  return { file, result, bytes: fs.readFileSync(file) };
}
function gunzip(file: string): Buffer {
  return execFileSync('gunzip', ['-c', file], { maxBuffer: 1 << 30 });
}

t.test('GNU tar reads the layer back into the same tree', async (t) => {
  const { file, result } = await layer({ compression: 'gzip' });
  const listing = execFileSync('tar', ['-tvvzf', file], { encoding: 'latin1' });
  t.match(listing, /^-rwsr-xr-x 0\/0 .* setuid$/m, 'setuid bit kept');
  t.match(listing, /^hrw-r--r-- 0\/0 .* hard2 link to hard1$/m, 'hardlink entry');
  t.match(listing, /^prw-r--r-- 0\/0 .* fifo$/m, 'fifo');
  t.match(listing, /^crw-rw-rw- 0\/0 +1,3 .* null-dev$/m, 'char device with its numbers');
  t.match(listing, /^-rw-r--r-- 1001\/1002 .* owned-1001$/m, 'numeric owner');
  t.match(listing, /^-rw-r--r-- 3000000\/3000001 .* owned-big$/m, 'big ids through pax');

  const out = path.join(tmp, 'extracted');
  fs.mkdirSync(out);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--same-owner', '--same-permissions', '--numeric-owner', '-xzf', file, '-C', out]);
  const want = describeTree(src);
  const got = describeTree(out);
  t.same(Object.keys(got).sort(), Object.keys(want).sort(), 'same paths');
  for (const k of Object.keys(want)) t.same(got[k], want[k], k);
  t.equal(got['xattr-file']?.xattrs?.['user.foo'], Buffer.from('bar').toString('hex'), 'xattr user.foo');
  t.ok(got[LONG_NAME], '200-char name');
  t.same(got['hard1']?.links, ['hard2'], 'hardlink pair is one inode');
  t.equal(result.compression, 'gzip');
  t.equal(result.entries, Object.keys(want).length, 'one entry per node');
});

t.test('entries: sorted walk order, no uname/gname, directories before contents', async (t) => {
  const { result, bytes } = await layer({ compression: 'none' });
  const entries = await listTar(bytes);
  t.equal(entries.length, result.entries);
  const names = entries.map((e) => Buffer.from(e.name.replace(/\/$/, ''), 'latin1'));
  const seen = new Set<string>();
  for (let i = 0; i < names.length; i++) {
    const parts = entries[i]!.name.replace(/\/$/, '').split('/');
    if (parts.length > 1) t.ok(seen.has(parts.slice(0, -1).join('/')), `${entries[i]!.name} after its directory`);
    seen.add(parts.join('/'));
  }
  // Siblings appear in byte order of their names.
  const byParent = new Map<string, Buffer[]>();
  for (const b of names) {
    const s = b.lastIndexOf(0x2f);
    const parent = b.subarray(0, s + 1).toString('latin1');
    byParent.set(parent, [...(byParent.get(parent) ?? []), b.subarray(s + 1)]);
  }
  for (const [parent, kids] of byParent) t.same(kids, [...kids].sort(Buffer.compare), `children of "${parent}" sorted`);
  t.ok(entries.every((e) => e.uname === '' && e.gname === ''), 'uname/gname empty');
  t.ok(entries.every((e) => !e.name.startsWith('/') && !e.name.startsWith('./')), 'relative names');
  t.equal(entries.find((e) => e.name === 'dir/sub/')?.mode, 0o3775, 'setgid+sticky dir mode');
  t.same(entries.find((e) => e.name === 'xattr-file')?.pax, { 'SCHILY.xattr.user.bin': '\u0000\u0001\ufffd', 'SCHILY.xattr.user.foo': 'bar' });
  t.ok(entries.some((e) => e.name.length > 256 && e.pax.path === e.name), 'pax path for a name ustar cannot hold');
  t.equal(entries.find((e) => e.name === 'long-symlink')?.linkname?.length, 1 + 140 + 6, 'pax linkpath');
  t.ok(entries.every((e) => e.mtime === T0), 'mtimes as on disk');
});

t.test('deterministic: the same tree gives the same bytes; digests match independent tools', async (t) => {
  for (const backend of ['zlib', 'pako', 'parallel'] as const) {
    const a = await layer({ backend });
    // Reading a file changes its atime, never the layer.
    const b = await layer({ backend });
    t.ok(a.bytes.equals(b.bytes), `${backend}: identical bytes`);
    t.equal(a.result.diffID, b.result.diffID);
    t.equal(a.result.digest, b.result.digest);
    t.equal(a.result.digest, sha256(a.bytes), `${backend}: digest is sha256 of the blob`);
    t.equal(a.result.size, a.bytes.length, `${backend}: size is the blob size`);
    const tar = gunzip(a.file);
    t.equal(a.result.diffID, sha256(tar), `${backend}: diffID is sha256 of gunzip -c`);
    t.equal(a.result.uncompressedSize, tar.length);
    const sum = execFileSync('sh', ['-c', `gunzip -c '${a.file}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
    t.equal(a.result.diffID, `sha256:${sum}`, `${backend}: sha256sum agrees`);
  }
  const none = await layer({ compression: 'none' });
  const zlib = await layer({ compression: 'gzip' });
  t.equal(none.result.diffID, zlib.result.diffID, 'diffID does not depend on compression');
  t.equal(none.result.digest, none.result.diffID, 'uncompressed: digest is the diffID');
});

t.test('zstd layer decompresses with zstd -dc', async (t) => {
  const { file, result } = await layer({ compression: 'zstd' });
  const tar = execFileSync('zstd', ['-dc', file], { maxBuffer: 1 << 30 });
  t.equal(sha256(tar), result.diffID);
  t.equal(result.compression, 'zstd');
  const again = await layer({ compression: 'zstd' });
  t.equal(again.result.digest, result.digest, 'deterministic');
});

t.test('mtimeClamp clamps later mtimes and keeps earlier ones', async (t) => {
  const dir = path.join(tmp, 'clamp');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'old'), 'o');
  fs.writeFileSync(path.join(dir, 'new'), 'n');
  fs.utimesSync(path.join(dir, 'old'), 1000, 1000);
  fs.utimesSync(path.join(dir, 'new'), 2_000_000_000, 2_000_000_000);
  const { bytes } = await layer({ compression: 'none', mtimeClamp: 1_500_000_000 }, dir);
  const m = Object.fromEntries((await listTar(bytes)).map((e) => [e.name, e.mtime]));
  t.same(m, { new: 1_500_000_000, old: 1000 });
});

t.test('exclude leaves paths (and whole subtrees) out', async (t) => {
  const calls: Array<[string, boolean]> = [];
  const { bytes } = await layer({
    compression: 'none',
    exclude: (p, isDir) => {
      calls.push([p, isDir]);
      return p === 'dir' || p === 'a.txt';
    },
  });
  const names = (await listTar(bytes)).map((e) => e.name);
  t.notOk(names.some((x) => x === 'a.txt' || x.startsWith('dir/')), 'excluded paths absent');
  t.ok(names.includes('empty/'), 'others kept');
  t.ok(calls.some(([p, d]) => p === 'dir' && d), 'isDir passed');
  t.notOk(calls.some(([p]) => p.startsWith('dir/')), 'excluded subtree not walked');
  t.ok(names.includes('link-to-a'), 'a symlink to an excluded file stays (it is its own entry)');
});

t.test('progress reports the tar bytes', async (t) => {
  const seen: number[] = [];
  const { result } = await layer({ onProgress: (b) => seen.push(b) });
  t.ok(seen.length > 1);
  t.same(seen, [...seen].sort((a, b) => a - b), 'monotonic');
  t.equal(seen.at(-1), result.uncompressedSize);
});

t.test('bad input: clean S2IErrors', async (t) => {
  const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
  await t.rejects(writeLayer(path.join(tmp, 'does-not-exist'), sink()), { name: 'S2IError', code: 'ERR_SOURCE_MISSING' });
  await t.rejects(writeLayer(path.join(src, 'a.txt'), sink()), { code: 'ERR_SOURCE_NOT_DIR' });
  await t.rejects(writeLayer(src, sink(), { level: 12 }), { code: 'ERR_BAD_COMPRESSION_LEVEL' });
  await t.rejects(writeLayer(src, sink(), { compression: 'lz4' as 'gzip' }), { code: 'ERR_BAD_COMPRESSION' });
  await t.rejects(writeLayer(src, sink(), { backend: 'fast' as 'zlib' }), { code: 'ERR_BAD_COMPRESSION' });
  const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk on fire')) });
  await t.rejects(writeLayer(src, broken), { code: 'ERR_LAYER_WRITE', message: /disk on fire/ });
});

t.test('cancellation: rejects with ERR_ABORTED and leaves no temp file', async (t) => {
  const outDir = path.join(tmp, 'abort-out');
  fs.mkdirSync(outDir);
  const ac = new AbortController();
  const p = writeLayerFile(src, path.join(outDir, 'layer.tgz'), {
    signal: ac.signal,
    onProgress: () => ac.abort(),
  });
  const err = await p.catch((e: unknown) => e);
  t.ok(err instanceof S2IError, 'an S2IError');
  t.match(withExitCode(err), { code: 'ERR_ABORTED', exitCode: 130 });
  t.same(fs.readdirSync(outDir), [], 'nothing left behind');
  const pre = new AbortController();
  pre.abort();
  await t.rejects(writeLayerFile(src, path.join(outDir, 'x'), { signal: pre.signal }), { code: 'ERR_ABORTED' });
  t.same(fs.readdirSync(outDir), []);
});

t.test('a directory vanishing mid-walk: ERR_LAYER_WRITE names the cause', async (t) => {
  const dir = path.join(tmp, 'vanishing');
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(dir, 'locked'));
  fs.writeFileSync(path.join(dir, 'locked', 'f'), 'x');
  const err = await writeLayer(dir, new Writable({ write: (_c, _e, cb) => cb() }), {
    // exclude runs after lstat and before readdir: the one window where the race can be made to happen.
    exclude: (p) => {
      if (p === 'locked') fs.rmSync(path.join(dir, 'locked'), { recursive: true });
      return false;
    },
  }).catch((e: unknown) => e);
  t.match(err, { code: 'ERR_LAYER_WRITE', message: /ENOENT/ });
});

t.test('a file that changes size between lstat and read: a grown one is cut at the lstat size, a shrunk one fails', async (t) => {
  const dir = path.join(tmp, 'changing');
  fs.mkdirSync(dir);
  const f = path.join(dir, 'f');
  fs.writeFileSync(f, 'x'.repeat(1000));
  // exclude runs right after a node's lstat and before its content is read.
  const cut = await layer({ compression: 'none', exclude: (p) => (p === 'f' && fs.appendFileSync(f, 'more'), false) }, dir);
  t.equal((await listTar(cut.bytes)).find((e) => e.name === 'f')?.size, 1000, 'grown: cut at the lstat size');
  const shrunk = await layer({ compression: 'none', exclude: (p) => (p === 'f' && fs.truncateSync(f, 10), false) }, dir).catch((e: unknown) => e);
  t.match(shrunk, { name: 'S2IError', code: 'ERR_LAYER_SOURCE_CHANGED', message: /^f changed size/ }, 'shrunk: fails');
});

t.test('many files across output chunk boundaries: GNU tar extracts every byte', async (t) => {
  const dir = path.join(tmp, 'many');
  let seed = 1;
  const rnd = (): number => (seed = (seed * 48271) % 2147483647);
  for (let i = 0; i < 700; i++) {
    const sub = path.join(dir, `d${i % 7}`);
    fs.mkdirSync(sub, { recursive: true });
    const body = Buffer.alloc(rnd() % 9000);
    for (let j = 0; j < body.length; j++) body[j] = rnd() & 0xff;
    fs.writeFileSync(path.join(sub, `f${i}`), body);
  }
  fs.writeFileSync(path.join(dir, 'd0', 'straddles'), Buffer.alloc(2 * 1024 * 1024 + 3, 0x5a));
  const { file, result } = await layer({ compression: 'gzip', backend: 'parallel' }, dir);
  t.ok(result.uncompressedSize > 4 * 1024 * 1024, 'several chunks');
  const out = path.join(tmp, 'many-out');
  fs.mkdirSync(out);
  execFileSync('tar', ['-xzf', file, '-C', out]);
  t.same(describeTree(out), describeTree(dir), 'same files, same bytes');
});
