// store/local-images.ts on a real store: the names a TAG gets, the one lookup of NAME|ID (exact name, localhost/,
// Docker Hub, repository suffix, image-ID prefix), unknown and ambiguous input, unnamed entries and their removal.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { findLocalImage, keepUnnamed, listLocalImages, localName, removeLocalImage } from '../../src/store/local-images.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-local-images-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** A stored image whose config says `created`; returns the manifest descriptor and the image ID. */
async function image(store: BlobStore, created: string): Promise<{ desc: Descriptor; id: string }> {
  const config = await store.putBytes(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created, rootfs: { type: 'layers', diff_ids: [] } })), MediaType.ociConfig);
  const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] };
  const desc = await store.putBytes(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  return { desc, id: config.digest };
}

t.test('localName: short names are localhost/NAME:TAG, qualified names kept, digests and bad names refused', async (t) => {
  t.equal(localName('myapp'), 'localhost/myapp:latest');
  t.equal(localName('myapp:v1'), 'localhost/myapp:v1');
  t.equal(localName('user/app'), 'localhost/user/app:latest');
  t.equal(localName('localhost/app:2'), 'localhost/app:2');
  t.equal(localName('quay.io/x/y'), 'quay.io/x/y:latest');
  t.equal(localName('docker.io/busybox'), 'docker.io/library/busybox:latest');
  for (const bad of ['Upper', 'a@sha256:' + 'b'.repeat(64), '', 'x:-bad']) {
    t.throws(() => localName(bad), { code: 'ERR_INVALID_REFERENCE' }, JSON.stringify(bad));
  }
});

t.test('lookup: exact, localhost/, Docker Hub, repository suffix, ID prefix; unknown and ambiguous', async (t) => {
  const root = path.join(tmp, 'lookup');
  const store = await BlobStore.open(root);
  const a = await image(store, '2024-01-01T00:00:00Z');
  const b = await image(store, '2024-01-02T00:00:00Z');
  const c = await image(store, '2024-01-03T00:00:00Z');
  await store.tag(a.desc, 'localhost/app:latest');
  await store.tag(a.desc, 'localhost/alias:1');
  await store.tag(b.desc, 'docker.io/library/busybox:latest');
  await store.tag(c.desc, 'quay.io/one/tool:1');
  await store.tag(b.desc, 'quay.io/two/tool:1');

  const found = async (input: string) => (await findLocalImage(root, input)).id;
  t.equal(await found('localhost/app:latest'), a.id, 'the name as stored');
  t.equal(await found('app'), a.id, 'a short name is localhost/NAME:latest first');
  t.equal(await found('busybox'), b.id, 'then its Docker Hub name');
  t.equal(await found(a.id), a.id, 'a whole ID');
  t.equal(await found(a.id.slice(7, 19)), a.id, 'an ID prefix without sha256:');
  const byId = await findLocalImage(root, a.id.slice(0, 20));
  t.equal(byId.by, 'id');
  t.same(byId.names.sort(), ['localhost/alias:1', 'localhost/app:latest'], 'every name of the ID');
  t.equal((await findLocalImage(root, 'app')).by, 'name');

  await t.rejects(findLocalImage(root, 'tool:1'), { code: 'ERR_LOCAL_IMAGE_AMBIGUOUS', message: /fits quay.io\/one\/tool:1, quay.io\/two\/tool:1: give the full name/ });
  await t.rejects(findLocalImage(root, 'nothing'), { code: 'ERR_LOCAL_IMAGE_UNKNOWN', message: /^no local image "nothing": see `oci-s2i images`/ });
  await store.tag(c.desc, 'localhost/tool:1');
  t.equal(await found('tool:1'), c.id, 'a localhost/ name wins over the suffix match');
  // A one-hex-digit prefix shared by two IDs is ambiguous: images are added until two IDs share their first digit
  // (at most 17 in all, 16 digits), so the case is always there, whatever the IDs.
  const ids = [a.id, b.id, c.id];
  for (let day = 1; new Set(ids.map((x) => x[7])).size === ids.length; day++) {
    const more = await image(store, `2024-02-${String(day).padStart(2, '0')}T00:00:00Z`);
    await store.tag(more.desc, `localhost/more:${day}`);
    ids.push(more.id);
  }
  const shared = ids.map((x) => x[7]!).find((ch, i, all) => all.indexOf(ch) !== i)!;
  const sharing = ids.filter((x) => x[7] === shared).length;
  await t.rejects(findLocalImage(root, `sha256:${shared}`), { code: 'ERR_LOCAL_IMAGE_AMBIGUOUS', message: new RegExp(`^image ID sha256:${shared} is the start of ${sharing} image IDs \\(.*\\): give more of it$`) });
  await t.rejects(findLocalImage(root, shared), { code: 'ERR_LOCAL_IMAGE_AMBIGUOUS' }, 'without sha256: too');
  const one = ids.find((x) => x[7] === shared)!;
  t.equal(await found(one.slice(7, 19)), one, 'twelve digits tell them apart');
});

t.test('unnamed entries: listed while stored and unnamed, hidden once named, removed by digest', async (t) => {
  const root = path.join(tmp, 'unnamed');
  const store = await BlobStore.open(root);
  const a = await image(store, '2024-02-01T00:00:00Z');
  await keepUnnamed(root, a.desc);
  await keepUnnamed(root, a.desc);
  let list = await listLocalImages(root);
  t.equal(list.length, 1, 'once, however often kept');
  t.equal(list[0]!.name, undefined);
  t.equal(list[0]!.id, a.id);
  t.equal(list[0]!.created, '2024-02-01T00:00:00Z');
  t.ok(list[0]!.size > 0);
  await store.tag(a.desc, 'localhost/named:1');
  list = await listLocalImages(root);
  t.same(list.map((x) => x.name), ['localhost/named:1'], 'named: no longer listed unnamed');
  const removed = await removeLocalImage(root, ['localhost/named:1'], [a.desc.digest]);
  t.same(removed.sort(), ['<none>', 'localhost/named:1']);
  t.same(await listLocalImages(root), []);
});
