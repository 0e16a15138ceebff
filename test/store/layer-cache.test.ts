import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { makeTar } from '../layer/apply-helpers.js';

const exec = promisify(execFile);
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-worker.js');
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tmpRoot(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lcache-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const tar = await makeTar([
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', data: 'ID=test\n' },
  { name: 'bin/sh', data: 'x'.repeat(5000), mode: 0o755 },
  { name: 'bin/.wh.old' },
]);
const diffID = sha(tar);
const gz = zlib.gzipSync(tar);
const zst = execFileSync('zstd', ['-c', '-q'], { input: tar });
const blobOf = (bytes: Buffer, mediaType: string): Descriptor => ({ mediaType, digest: sha(bytes), size: bytes.length });

async function listTmp(root: string): Promise<string[]> {
  return fs.readdir(path.join(root, 'layers/tmp'));
}

t.test('ensure unpacks gzip, zstd and plain layers once, keyed by diffID', async (t) => {
  const root = await tmpRoot(t);
  const cache = await LayerCache.open(root);
  let opened = 0;
  const gzBlob = blobOf(gz, MediaType.dockerLayerGzip);
  const first = await cache.ensure(gzBlob, async () => { opened++; return Readable.from([gz]); }, { expectedDiffID: diffID });
  t.same(first, { diffID, dir: path.join(root, 'layers/sha256', diffID.slice(7)), cached: false });
  t.equal(await fs.readFile(path.join(first.dir, 'etc/os-release'), 'utf8'), 'ID=test\n');
  t.ok((await fs.lstat(path.join(first.dir, 'bin/old'))).isCharacterDevice(), 'whiteout');
  t.equal(await cache.diffIDForBlob(gzBlob.digest), diffID);
  t.equal(await cache.has(diffID), true);
  const again = await cache.ensure(gzBlob, async () => { opened++; return Readable.from([gz]); });
  t.equal(again.cached, true);
  t.equal(opened, 1, 'open() not called for a cached layer');
  // the same content as zstd: found through expectedDiffID without unpacking
  const zBlob = blobOf(zst, MediaType.ociLayerZstd);
  t.equal((await cache.ensure(zBlob, async () => { opened++; return Readable.from([zst]); }, { expectedDiffID: diffID })).cached, true);
  // and unpacked when nothing tells us the diffID
  const root2 = await tmpRoot(t);
  const cache2 = await LayerCache.open(root2);
  t.equal((await cache2.ensure(zBlob, async () => Readable.from([zst]))).diffID, diffID);
  t.equal((await cache2.ensure(blobOf(tar, MediaType.ociLayer), async () => Readable.from([tar]))).diffID, diffID, 'plain tar; same dir');
  t.same(await listTmp(root2), []);
});

t.test('bad input caches nothing', async (t) => {
  const root = await tmpRoot(t);
  const cache = await LayerCache.open(root);
  const gzBlob = blobOf(gz, MediaType.ociLayerGzip);
  await t.rejects(cache.ensure(gzBlob, async () => Readable.from([gz]), { expectedDiffID: sha(Buffer.from('other')) }), { code: 'ERR_DIGEST_MISMATCH' }, 'diffID mismatch');
  const flipped = Buffer.from(gz);
  flipped[flipped.length - 30] = (flipped[flipped.length - 30] ?? 0) ^ 0xff;
  await t.rejects(cache.ensure(gzBlob, async () => Readable.from([flipped])), { code: 'ERR_DIGEST_MISMATCH' }, 'compressed digest mismatch');
  const cut = gz.subarray(0, gz.length - 40);
  await t.rejects(cache.ensure(blobOf(cut, MediaType.ociLayerGzip), async () => Readable.from([cut])), { code: 'ERR_LAYER_CORRUPT' }, 'truncated gzip');
  const badTar = Buffer.from(tar);
  badTar[512 + 10] = (badTar[512 + 10] ?? 0) ^ 0xff; // inside a header: its checksum no longer matches
  await t.rejects(cache.ensure(blobOf(badTar, MediaType.ociLayer), async () => Readable.from([badTar])), /ERR_LAYER_CORRUPT|not a valid tar/, 'bad tar');
  await t.rejects(cache.ensure(blobOf(gz, 'application/zip'), async () => Readable.from([gz])), { code: 'ERR_LAYER_MEDIA_TYPE' });
  await t.rejects(cache.ensure({ ...gzBlob, digest: 'sha256:../../x' }, async () => Readable.from([gz])), { code: 'ERR_INVALID_DIGEST' });
  const bomb = await makeTar(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}` })));
  await t.rejects(cache.ensure(blobOf(bomb, MediaType.ociLayer), async () => Readable.from([bomb]), { limits: { maxEntries: 10 } }), { code: 'ERR_LAYER_TOO_LARGE' });
  t.same(await fs.readdir(path.join(root, 'layers/sha256')), [], 'nothing cached');
  t.same(await fs.readdir(path.join(root, 'layers/by-blob/sha256')), [], 'no mapping');
  t.same(await listTmp(root), [], 'temp dirs removed');
  t.equal(await cache.diffIDForBlob(gzBlob.digest), undefined);
});

t.test('8 concurrent ensure() in process unpack once', async (t) => {
  const root = await tmpRoot(t);
  const cache = await LayerCache.open(root);
  let opened = 0;
  const blob = blobOf(gz, MediaType.ociLayerGzip);
  const results = await Promise.all(Array.from({ length: 8 }, () => cache.ensure(blob, async () => { opened++; return Readable.from([gz]); })));
  t.equal(opened, 1);
  t.equal(results.filter((r) => !r.cached).length, 1);
  t.ok(results.every((r) => r.diffID === diffID));
});

t.test('3 processes ensure the same layer: one unpacks', async (t) => {
  const root = await tmpRoot(t);
  await LayerCache.open(root);
  const file = path.join(root, 'layer.tgz');
  await fs.writeFile(file, gz);
  const blob = blobOf(gz, MediaType.ociLayerGzip);
  const outs = await Promise.all([1, 2, 3].map(() => exec(process.execPath, [worker, 'ensure', root, file, JSON.stringify(blob)])));
  const results = outs.map((o) => JSON.parse(o.stdout) as { diffID: string; cached: boolean });
  t.equal(results.filter((r) => !r.cached).length, 1, 'exactly one unpack');
  t.ok(results.every((r) => r.diffID === diffID));
});

t.test('leases and crash leftovers', async (t) => {
  const root = await tmpRoot(t);
  const cache = await LayerCache.open(root);
  const lease = await cache.lease([diffID]);
  const files = await fs.readdir(path.join(root, 'leases'));
  t.equal(files.length, 1);
  t.same(JSON.parse(await fs.readFile(path.join(root, 'leases', files[0] as string), 'utf8')).diffIDs, [diffID]);
  await lease.release();
  t.same(await fs.readdir(path.join(root, 'leases')), []);
  await t.rejects(cache.lease(['sha256:bad']), { code: 'ERR_INVALID_DIGEST' });
  // a half-unpacked dir of a killed process is swept, never trusted
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  await fs.mkdir(path.join(root, 'layers/tmp', `${dead}-abc/etc`), { recursive: true });
  await LayerCache.open(root);
  t.same(await listTmp(root), []);
  // a damaged mapping is a miss, not a crash
  await fs.writeFile(path.join(root, 'layers/by-blob/sha256', 'a'.repeat(64)), '../../../etc');
  t.equal(await cache.diffIDForBlob(`sha256:${'a'.repeat(64)}`), undefined);
});
