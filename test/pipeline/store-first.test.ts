// build/store-first.ts: the local store in front of a source while pulling, on a real BlobStore in a temp dir.
// Manifests and blobs the store has are read from it (and a stored blob that was changed on disk is refused);
// with --pull-policy never a missing index entry is an error before the source is asked; what is fetched is kept.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { storeFirst } from '../../src/pipeline/store-first.js';
import { S2IError } from '../../src/errors.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import type { ImageSource } from '../../src/transport/types.js';
import { exitOf } from '../helpers/exit-code.js';

const manifest = Buffer.from('{"schemaVersion":2,"note":"a manifest"}');
const blob = Buffer.from('config bytes');
const desc = (b: Buffer, mediaType: string): Descriptor => ({ mediaType, digest: sha256Digest(b), size: b.length });
const mDesc = desc(manifest, MediaType.ociManifest);
const bDesc = desc(blob, MediaType.ociConfig);

function inner(asked: string[]): ImageSource {
  return {
    name: 'r/img:1',
    transport: 'docker',
    registry: { host: 'r', repository: 'img' },
    resolve: async () => ({ descriptor: mDesc, bytes: manifest }),
    fetchManifest: async (d) => (asked.push(`manifest ${d.digest}`), manifest),
    fetchBlob: async (d) => (asked.push(`blob ${d.digest}`), Readable.from([blob])),
    close: async () => {},
  };
}

async function read(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

async function storeIn(t: Test): Promise<BlobStore> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'oci-s2i-store-first-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return BlobStore.open(root);
}

t.test('manifests: fetched once, kept, then read from the store', async (t) => {
  const store = await storeIn(t);
  const asked: string[] = [];
  const src = storeFirst(store, inner(asked), { manifests: true });
  t.same(src.registry, { host: 'r', repository: 'img' }, 'where it lives is kept (mounts)');
  t.equal((await src.fetchManifest(mDesc)).toString(), manifest.toString());
  t.ok(await store.has(mDesc.digest), 'kept in the store');
  t.equal((await src.fetchManifest(mDesc)).toString(), manifest.toString());
  t.same(asked, [`manifest ${mDesc.digest}`], 'the source was asked once');
});

t.test('manifests, offline: a missing entry is the offline error, the source is not asked', async (t) => {
  const store = await storeIn(t);
  const asked: string[] = [];
  const src = storeFirst(store, inner(asked), { manifests: true, offline: (d) => new S2IError('ERR_IMAGE_NOT_PRESENT', `${d.digest} is not here`) });
  await t.rejects(exitOf(src.fetchManifest(mDesc)), { code: 'ERR_IMAGE_NOT_PRESENT', exitCode: 2, message: `${mDesc.digest} is not here` });
  t.same(asked, []);
  await store.putBytes(manifest, mDesc.mediaType);
  t.equal((await src.fetchManifest(mDesc)).toString(), manifest.toString(), 'present: read from the store');
  t.same(asked, []);
});

t.test('without manifests: index entries always come from the source and are not kept', async (t) => {
  const store = await storeIn(t);
  const asked: string[] = [];
  const src = storeFirst(store, inner(asked));
  await src.fetchManifest(mDesc);
  await src.fetchManifest(mDesc);
  t.same(asked, [`manifest ${mDesc.digest}`, `manifest ${mDesc.digest}`]);
  t.notOk(await store.has(mDesc.digest));
});

t.test('blobs: from the store when it has them, verified as they are read', async (t) => {
  const store = await storeIn(t);
  const asked: string[] = [];
  const src = storeFirst(store, inner(asked));
  t.equal(await read(await src.fetchBlob(bDesc)), 'config bytes', 'not stored: from the source');
  t.same(asked, [`blob ${bDesc.digest}`]);
  await store.putBytes(blob, bDesc.mediaType);
  t.equal(await read(await src.fetchBlob(bDesc)), 'config bytes', 'stored: from the store');
  t.same(asked, [`blob ${bDesc.digest}`], 'the source not asked again');

  // Changed on disk after it was stored: refused, exit 2 like any corrupt blob.
  const file = store.path(bDesc.digest);
  await chmod(file, 0o644);
  await writeFile(file, 'CONFIG bytes');
  await t.rejects(exitOf(read(await src.fetchBlob(bDesc))), { code: 'ERR_DIGEST_MISMATCH', exitCode: 2, message: new RegExp(`^stored blob ${bDesc.digest}`) });
});
