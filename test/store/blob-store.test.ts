import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';

const exec = promisify(execFile);
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-worker.js');

async function tmpRoot(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'store-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function descOf(buf: Buffer, mediaType = 'application/octet-stream'): Descriptor {
  return { mediaType, digest: `sha256:${createHash('sha256').update(buf).digest('hex')}`, size: buf.length };
}

/** A stream that yields `buf` in small pieces over several ticks, so concurrent writers overlap. */
function slow(buf: Buffer): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < buf.length; i += 4096) {
        await new Promise((r) => setImmediate(r));
        yield buf.subarray(i, i + 4096);
      }
    })(),
  );
}

const blob = Buffer.alloc(200_000, 'layer bytes ');

t.test('open creates an OCI layout; put/has/size/open/readBytes', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  t.same(JSON.parse(await fs.readFile(path.join(root, 'oci/oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const d = descOf(blob);
  t.equal(await store.has(d.digest), false);
  await store.put(d, slow(blob));
  t.equal(await store.has(d.digest), true);
  t.equal(await store.size(d.digest), blob.length);
  t.equal(store.path(d.digest), path.join(root, 'oci/blobs/sha256', d.digest.slice(7)));
  const chunks: Buffer[] = [];
  for await (const c of store.open(d.digest, 100)) chunks.push(c as Buffer);
  t.same(Buffer.concat(chunks), blob.subarray(100));
  t.same(await store.readBytes(d.digest, blob.length), blob);
  await t.rejects(store.readBytes(d.digest, 10), { code: 'ERR_BLOB_TOO_LARGE' });
  await t.rejects(store.readBytes(`sha256:${'0'.repeat(64)}`, 10), { code: 'ERR_BLOB_UNKNOWN' });
  t.throws(() => store.path('sha256:../../etc/passwd'), { code: 'ERR_INVALID_DIGEST' });
  t.throws(() => store.path(`sha256:${'A'.repeat(64)}`), { code: 'ERR_INVALID_DIGEST' });
  t.same(await fs.readdir(path.join(root, 'tmp')), [], 'no temp files left');
});

t.test('digest or size mismatch stores nothing', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const d = descOf(blob);
  const wrong = Buffer.from(blob);
  wrong[5] = 0;
  const err = await store.put(d, slow(wrong)).catch((e: unknown) => e as Error & { code: string });
  t.equal(err?.code, 'ERR_DIGEST_MISMATCH');
  t.match(err?.message, d.digest);
  t.match(err?.message, descOf(wrong).digest, 'names the actual digest');
  await t.rejects(store.put({ ...d, size: 10 }, slow(blob)), { code: 'ERR_DIGEST_MISMATCH' }, 'too long');
  await t.rejects(store.put({ ...d, size: blob.length + 1 }, slow(blob)), { code: 'ERR_DIGEST_MISMATCH' }, 'too short');
  await t.rejects(store.put({ ...d, digest: 'sha256:nope' }, slow(blob)), { code: 'ERR_INVALID_DIGEST' });
  t.equal(await store.has(d.digest), false);
  t.same(await fs.readdir(path.join(root, 'tmp')), [], 'temp removed');
  t.same(await fs.readdir(path.join(root, 'oci/blobs/sha256')), []);
  t.same((await fs.readdir(path.join(root, 'locks'))).filter((n) => n.startsWith('blob')), [], 'locks released');
  // a corrupted stored blob is caught on read
  const good = await store.putBytes(Buffer.from('{}'), MediaType.ociConfig);
  await fs.writeFile(store.path(good.digest), '{"x":1}');
  await t.rejects(store.readBytes(good.digest, 100), { code: 'ERR_DIGEST_MISMATCH' });
});

t.test('adopt: a file this process wrote and digested is linked into place, not re-read', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const d = descOf(blob);
  const file = path.join(root, 'layer.tar.gz');
  await fs.writeFile(file, blob);
  await store.adopt(d, file);
  t.equal(await store.has(d.digest), true);
  const [a, b] = await Promise.all([fs.stat(file), fs.stat(store.path(d.digest))]);
  t.equal(a.ino, b.ino, 'hard-linked: the same inode, no copy');
  t.same(await store.readBytes(d.digest, blob.length), blob);
  await store.adopt(d, file); // already there: fine
  await fs.rm(file);
  t.equal(await store.has(d.digest), true, 'the blob outlives the build file');

  const other = Buffer.from('other bytes');
  const f2 = path.join(root, 'other');
  await fs.writeFile(f2, other);
  await t.rejects(store.adopt({ ...descOf(other), size: other.length + 1 }, f2), { code: 'ERR_DIGEST_MISMATCH' }, 'a size that does not match stores nothing');
  t.equal(await store.has(descOf(other).digest), false);
  await t.rejects(store.adopt(descOf(other), path.join(root, 'missing')), { code: 'ENOENT' });
  t.same((await fs.readdir(path.join(root, 'locks'))).filter((n) => n.startsWith('blob')), [], 'locks released');
});

const shm = '/dev/shm';
const shmDev = ((): number | undefined => {
  const st = statSync(shm, { throwIfNoEntry: false });
  return st?.isDirectory() ? st.dev : undefined;
})();
const onOtherFs = shmDev !== undefined && shmDev !== statSync(os.tmpdir()).dev;

t.test('adopt from another file system: copied and verified like put', { skip: !onOtherFs && 'needs /dev/shm on a file system of its own' }, async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const dir = await fs.mkdtemp(path.join(shm, 'oci-s2i-adopt-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'layer.tar.gz');
  await fs.writeFile(file, blob);
  const d = descOf(blob);
  await store.adopt(d, file);
  t.same(await store.readBytes(d.digest, blob.length), blob, 'stored (a copy: hard links cannot cross file systems)');
  t.not((await fs.stat(store.path(d.digest))).ino, (await fs.stat(file)).ino);
  // Right size, other bytes than the digest names.
  const f2 = path.join(dir, 'other');
  await fs.writeFile(f2, Buffer.alloc(blob.length, 'other bytes '));
  const wrong = descOf(Buffer.alloc(blob.length, 'named bytes '));
  await t.rejects(store.adopt(wrong, f2), { code: 'ERR_DIGEST_MISMATCH' }, 'the copy is verified against the digest');
  t.equal(await store.has(wrong.digest), false, 'nothing stored on a mismatch');
  t.same((await fs.readdir(path.join(root, 'locks'))).filter((n) => n.startsWith('blob')), [], 'locks released');
});

t.test('8 concurrent puts of one blob in process', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const d = descOf(blob);
  let reads = 0;
  const counted = (): Readable =>
    Readable.from(
      (async function* () {
        reads++;
        yield* slow(blob);
      })(),
    );
  await Promise.all(Array.from({ length: 8 }, () => store.put(d, counted())));
  t.equal(reads, 1, 'only the first stream was read');
  t.same(await store.readBytes(d.digest, blob.length), blob);
  t.same(await fs.readdir(path.join(root, 'tmp')), []);
});

t.test('a failed first writer lets the next one store it', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const d = descOf(blob);
  // The first caller's existence check is made to finish last (as a loaded disk can): it is still the first writer.
  const has = store.has.bind(store);
  let calls = 0;
  store.has = async (digest: string) => {
    const first = calls++ === 0;
    const r = await has(digest);
    if (first) await new Promise((res) => setTimeout(res, 50));
    return r;
  };
  const bad = store.put(d, slow(Buffer.alloc(blob.length)));
  const good = store.put(d, slow(blob));
  await t.rejects(bad, { code: 'ERR_DIGEST_MISMATCH' });
  await good;
  t.equal(await store.has(d.digest), true);
});

t.test('3 processes put the same blob at once', async (t) => {
  const root = await tmpRoot(t);
  await BlobStore.open(root);
  const file = path.join(root, 'src.bin');
  const big = Buffer.alloc(4_000_000, 'abc');
  await fs.writeFile(file, big);
  const d = descOf(big);
  await Promise.all([1, 2, 3].map(() => exec(process.execPath, [worker, 'put', root, file, JSON.stringify(d)])));
  const store = await BlobStore.open(root);
  t.same(await store.readBytes(d.digest, big.length), big);
  t.same(await fs.readdir(path.join(root, 'tmp')), []);
});

t.test('stale locks are recovered', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const d = descOf(blob);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const lock = path.join(root, 'locks', `blob-sha256-${d.digest.slice(7)}.lock`);
  await fs.writeFile(lock, JSON.stringify({ pid: dead, host: os.hostname() }));
  await store.put(d, slow(blob));
  t.equal(await store.has(d.digest), true, 'dead owner');
  const d2 = descOf(Buffer.from('second'));
  const lock2 = path.join(root, 'locks', `blob-sha256-${d2.digest.slice(7)}.lock`);
  await fs.writeFile(lock2, 'garbage from a crash');
  await fs.utimes(lock2, new Date(0), new Date(0));
  await store.put(d2, Readable.from([Buffer.from('second')]));
  t.equal(await store.has(d2.digest), true, 'unreadable and old');
  // temp files of a dead process are swept on open
  await fs.writeFile(path.join(root, 'tmp', `${dead}-leftover`), 'x');
  await BlobStore.open(root);
  t.same(await fs.readdir(path.join(root, 'tmp')), []);
});

t.test('tag and resolveTag; skopeo reads the layout', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const layer = Buffer.from(await import('../layer/apply-helpers.js').then((h) => h.makeTar([{ name: 'hello', data: 'world' }])));
  const layerDesc = { ...descOf(layer), mediaType: MediaType.ociLayer };
  await store.put(layerDesc, Readable.from([layer]));
  const config = await store.putBytes(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDesc.digest] } })),
    MediaType.ociConfig,
  );
  const manifest = await store.putBytes(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layerDesc] })),
    MediaType.ociManifest,
  );
  await store.tag(manifest, 'app:v1');
  await store.tag(manifest, 'other');
  await store.tag({ ...manifest }, 'app:v1'); // re-tag replaces
  t.same((await store.resolveTag('app:v1'))?.digest, manifest.digest);
  t.equal(await store.resolveTag('missing'), undefined);
  const index = JSON.parse(await fs.readFile(path.join(root, 'oci/index.json'), 'utf8'));
  t.equal(index.manifests.length, 2);
  await t.rejects(store.tag(manifest, ''), { code: 'ERR_INVALID_TAG' });
  const { stdout } = await exec('skopeo', ['inspect', `oci:${path.join(root, 'oci')}:app:v1`]);
  const info = JSON.parse(stdout);
  t.equal(info.Digest, manifest.digest);
  t.same(info.Layers, [layerDesc.digest]);
  // a damaged index is a clear error
  await fs.writeFile(path.join(root, 'oci/index.json'), '{not json');
  await t.rejects(store.resolveTag('app:v1'), { code: 'ERR_STORE_CORRUPT' });
});

t.test('a source that fails at once leaves no temp file (the temp exists before the pipeline starts)', async (t) => {
  const root = await tmpRoot(t);
  const store = await BlobStore.open(root);
  const desc: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${'ab'.repeat(32)}`, size: 10 };
  for (let i = 0; i < 40; i++) {
    // Fails as soon as the pipeline first reads it: while a write stream opened by path would still be opening.
    const src = new Readable({
      read() {
        process.nextTick(() => this.destroy(new Error('cut')));
      },
    });
    await t.rejects(store.put(desc, src), /cut/);
    // Failed before put even starts (a tee side destroyed while the store waited for its lock): the pipeline
    // rejects at once, before a write stream opened by path has created its file.
    const failed = new Readable({ read() {} });
    failed.on('error', () => {});
    failed.destroy(new Error('early'));
    await t.rejects(store.put(desc, failed));
  }
  t.same(await fs.readdir(path.join(root, 'tmp')), [], 'no temp left');
});
