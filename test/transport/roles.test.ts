// The ORAS roles (roles.ts) and their implementations: type guards find exactly the capabilities each Target
// has; the registry Target routes blobs and manifests to their endpoints; each Target refuses bad input.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startRegistry } from '../helpers/registry.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { BlobStoreTarget } from '../../src/transport/blob-store-target.js';
import { DockerArchiveTarget } from '../../src/transport/docker-archive-target.js';
import { copy } from '../../src/transport/graph-copy.js';
import { OciLayoutTarget } from '../../src/transport/oci-layout-target.js';
import { RegistryTarget } from '../../src/transport/registry-target.js';
import * as roles from '../../src/transport/roles.js';
import { makeImage, pushFixture } from './fixtures.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const descOf = (b: Buffer, mediaType: string): Descriptor => ({ mediaType, digest: sha(b), size: b.length });
async function text(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

t.test('type guards', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-roles-'));
  const client = new RegistryClient();
  t.teardown(async () => {
    await client.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const reg = new RegistryTarget(client, '127.0.0.1:1', 'a/b');
  const layout = await OciLayoutTarget.open(path.join(dir, 'layout'));
  const store = new BlobStoreTarget(await BlobStore.open(path.join(dir, 'store')));
  const archive = await DockerArchiveTarget.open(path.join(dir, 'x.tar'));
  t.teardown(() => archive.close());

  for (const [name, x] of [['registry', reg], ['layout', layout], ['store', store], ['docker-archive', archive]] as const) {
    t.ok(roles.isTarget(x) && roles.isStorage(x) && roles.isReadOnlyTarget(x) && roles.isReadOnlyStorage(x), `${name} is a Target`);
    t.ok(roles.isFetcher(x) && roles.isPusher(x) && roles.isExister(x) && roles.isResolver(x) && roles.isTagger(x), `${name} has every role`);
  }
  t.ok(roles.isMounter(reg) && roles.isReferenceFetcher(reg) && roles.isReferencePusher(reg), 'registry: mount, fetchReference, pushReference');
  t.ok(roles.isReferrerLister(reg) && roles.isTagLister(reg) && roles.isDeleter(reg), 'registry: referrers, tags, delete');
  t.ok(roles.isMounter(reg.blobs()) && !roles.isMounter(reg.manifests()), 'only the blob store mounts');
  t.ok(roles.isReferenceFetcher(reg.manifests()) && roles.isStorage(reg.blobs()) && roles.isStorage(reg.manifests()));
  for (const x of [layout, store, archive]) t.notOk(roles.isMounter(x) || roles.isReferenceFetcher(x) || roles.isReferrerLister(x));
  t.ok(roles.isTagLister(layout));
  for (const bad of [null, undefined, 1, 'fetch', {}, { fetch: 1, exists: 'x' }, [], { mount: true }]) {
    t.notOk(roles.isTarget(bad) || roles.isFetcher(bad) || roles.isMounter(bad) || roles.isTagLister(bad), `not a role: ${JSON.stringify(bad)}`);
  }
  t.ok(roles.isReadOnlyTarget({ fetch() {}, exists() {}, resolve() {} }) && !roles.isTarget({ fetch() {}, exists() {}, resolve() {} }));
});

t.test('a one-shot stream cannot be reopened for a resume', async (t) => {
  const open = roles.openerOf(Readable.from([Buffer.from('x')]), 'push x');
  t.ok(await open(0));
  t.throws(() => open(0), { code: 'ERR_PUSH_NOT_RESUMABLE' });
  t.throws(() => roles.openerOf(Readable.from([]), 'push y')(5), { code: 'ERR_PUSH_NOT_RESUMABLE' });
});

t.test('registry Target', async (t) => {
  const reg = await startRegistry();
  const client = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(async () => {
    await client.close();
    await reg.stop();
  });
  const target = new RegistryTarget(client, reg.host, 'roles/app');
  const layer = randomBytes(4096);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const ld = descOf(layer, MediaType.ociLayerGzip);
  const cd = descOf(config, MediaType.ociConfig);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: cd, layers: [ld] }));
  const md = descOf(manifest, MediaType.ociManifest);

  t.test('push routes blobs and manifests to their endpoints', async (t) => {
    t.notOk(await target.exists(ld));
    await target.push(ld, (offset) => Readable.from([layer.subarray(offset)]));
    await target.push(cd, Readable.from([config]));
    await target.push(md, Readable.from([manifest]));
    t.ok(await target.blobs().exists(ld));
    t.ok(await target.manifests().exists(md), 'the manifest is under /manifests/');
    t.notOk(await target.blobs().exists(md), 'and not a blob');
    t.same(await text(await target.fetch(md)), manifest);
    t.same(await text(await target.fetch(ld)), layer);
    await target.tag(md, 'v1');
    t.same(await target.resolve('v1'), md);
    const got = await target.fetchReference('v1');
    t.same(got.descriptor, md);
    t.same(await text(got.content), manifest);
    await target.pushReference(md, Readable.from([manifest]), 'v2');
    t.same((await target.tags()).sort(), ['v1', 'v2']);
    t.same(await target.referrers(md), [], 'no referrers');
  });

  t.test('mount: falls back to getContent, else to the sibling repository', async (t) => {
    const other = new RegistryTarget(client, reg.host, 'roles/other');
    t.equal(await other.mount(ld, 'roles/app'), true, 'mounted');
    const fresh = randomBytes(100);
    const fd = descOf(fresh, MediaType.ociLayerGzip);
    t.equal(await other.mount(fd, 'roles/app', async () => Readable.from([fresh])), false, 'pushed from getContent');
    t.ok(await other.exists(fd));
    const third = new RegistryTarget(client, reg.host, 'roles/third');
    t.equal(await third.mount(fd, 'roles/nowhere').catch(() => 'failed'), 'failed', 'no content anywhere: fails');
    t.notOk(await third.exists(fd));
  });

  t.test('bad input', async (t) => {
    const wrong = descOf(Buffer.from('other bytes'), MediaType.ociLayerGzip);
    await t.rejects(target.push(wrong, Readable.from([Buffer.from('not the same')])));
    t.notOk(await target.exists(wrong), 'nothing stored under a wrong digest');
    await t.rejects(target.push({ ...md, digest: sha(Buffer.from('x')) }, Readable.from([manifest])), { code: 'ERR_DIGEST_MISMATCH' });
    await t.rejects(target.resolve('no-such-tag'), { code: 'ERR_MANIFEST_UNKNOWN' });
    await t.rejects(target.resolve('bad/tag'), { code: 'ERR_INVALID_REFERENCE' });
    await t.rejects(target.fetch({ ...ld, digest: 'sha256:../../etc/passwd' }), { code: 'ERR_INVALID_DIGEST' });
    await t.rejects(target.mount(ld, '../x'), { code: 'ERR_INVALID_REFERENCE' });
    await t.rejects(target.delete(ld), { code: 'ERR_UNSUPPORTED' });
    const ac = new AbortController();
    ac.abort();
    await t.rejects(target.push(ld, Readable.from([layer]), { signal: ac.signal }), { code: 'ERR_ABORTED' });
    await target.delete(md);
    await t.rejects(target.resolve('v1'), { code: 'ERR_MANIFEST_UNKNOWN' }, 'deleted');
  });
});

t.test('OCI layout and blob store Targets', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-roles-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const layout = await OciLayoutTarget.open(path.join(dir, 'layout'));
  const store = new BlobStoreTarget(await BlobStore.open(path.join(dir, 'store')));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
  const md = descOf(manifest, MediaType.ociIndex);
  for (const [name, x] of [['layout', layout], ['store', store]] as const) {
    t.test(name, async (t) => {
      await x.push(md, Readable.from([manifest]));
      t.ok(await x.exists(md));
      t.notOk(await x.exists({ ...md, size: md.size + 1 }), 'a different size is not the same content');
      t.same(await x.resolve(md.digest), md, 'by digest, typed by parsing');
      await x.tag(md, 'v1');
      t.same(await x.resolve('v1'), md, 'by tag, without the ref.name annotation');
      t.same(await text(await x.fetch(md)), manifest);

      await t.rejects(x.resolve('nope'), { code: 'ERR_TAG_NOT_FOUND' });
      await t.rejects(x.resolve(sha(Buffer.from('absent'))), { code: 'ERR_MANIFEST_UNKNOWN' });
      await t.rejects(x.resolve(''), { code: 'ERR_INVALID_REFERENCE' });
      await t.rejects(x.tag(md, 'bad\nname'), { code: 'ERR_INVALID_REFERENCE' });
      await t.rejects(x.tag(descOf(Buffer.from('absent'), MediaType.ociManifest), 'v2'), { code: 'ERR_MANIFEST_UNKNOWN' });
      await t.rejects(x.fetch(descOf(Buffer.from('absent'), MediaType.ociLayer)), { code: 'ERR_BLOB_UNKNOWN' });
      await t.rejects(x.fetch({ ...md, digest: 'sha256:../../../etc/passwd' }), { code: 'ERR_INVALID_DIGEST' });
      const bad = descOf(Buffer.from('good'), MediaType.ociLayer);
      await t.rejects(x.push(bad, Readable.from([Buffer.from('evil')])), { code: 'ERR_DIGEST_MISMATCH' });
      t.notOk(await x.exists(bad), 'nothing stored on a mismatch');

      // Corrupt on disk, same size: fetch's stream fails before its end.
      const blob = Buffer.from('four');
      const bd = descOf(blob, MediaType.ociLayer);
      await x.push(bd, Readable.from([blob]));
      const file = x === layout ? layout.layout.blobPath(bd.digest) : path.join(dir, 'store', 'oci', 'blobs', 'sha256', bd.digest.slice(7));
      await fs.chmod(file, 0o644);
      await fs.writeFile(file, 'FOUR');
      await t.rejects(text(await x.fetch(bd)), { code: 'ERR_DIGEST_MISMATCH' });
    });
  }
});

t.test('docker-archive Target: write-only, one named image, read back by skopeo', async (t) => {
  const reg = await startRegistry();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-roles-'));
  const client = new RegistryClient();
  t.teardown(async () => {
    await client.close();
    await reg.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const f = await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'docker' });
  await pushFixture(reg.host, 'src/docker', 'v1', f);
  const file = path.join(dir, 'out.tar');
  const archive = await DockerArchiveTarget.open(file, 'example.com/app:v1');
  t.teardown(() => archive.close());
  const root = await copy(new RegistryTarget(client, reg.host, 'src/docker'), 'v1', archive, 'example.com/app:v1');
  t.equal(root.digest, f.manifest.digest);
  t.same(await archive.resolve('example.com/app:v1'), root);
  await t.rejects(archive.fetch(f.configDescriptor), { code: 'ERR_UNSUPPORTED' }, 'blobs cannot be read back');
  await t.rejects(archive.tag(root, 'other.example/x:y'), { code: 'ERR_UNSUPPORTED' }, 'only its own name');
  await t.rejects(archive.push(descOf(Buffer.from('{}'), MediaType.ociIndex), Readable.from([Buffer.from('{}')])), { code: 'ERR_FORMAT_UNSUPPORTED' });
  await archive.commit();
  const r = spawnSync('skopeo', ['inspect', '--config', `docker-archive:${file}`], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, f.diffIDs, 'skopeo sees the same layers');
});
