// Distribution-spec flows against the real docker-registry: push (monolithic/streamed/chunked), HEAD, mount,
// manifests in both formats, resolve, tags, delete; and bad input next to each good one.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { RegistryClient, type Repository } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer, mediaType: string = MediaType.ociLayerGzip): Descriptor => ({ mediaType, digest: sha(data), size: data.length });
/** A source that hands out the data from an offset in small pieces, like a file stream would. */
const opener = (data: Buffer) => (offset: number) => Readable.from((function* () {
  for (let i = offset; i < data.length; i += 65536) yield data.subarray(i, Math.min(i + 65536, data.length));
})(), { objectMode: false });

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function pushImage(repo: Repository, format: 'docker' | 'oci', tag: string): Promise<{ manifest: Buffer; layer: Buffer; config: Buffer }> {
  const layer = randomBytes(3000);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const cfgType = format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
  const layerType = format === 'docker' ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const mType = format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest;
  await repo.pushBlob(blob(layer, layerType), opener(layer));
  await repo.pushBlob(blob(config, cfgType), opener(config));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: mType, config: blob(config, cfgType), layers: [blob(layer, layerType)] }),
  );
  await repo.pushManifest(tag, manifest, mType);
  return { manifest, layer, config };
}

t.test('against the real registry', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const events: unknown[] = [];
  const client = new RegistryClient({ onProgress: (e) => events.push(e), chunkSize: 64 * 1024 });
  t.teardown(() => client.close());
  const repo = client.repository(reg.host, 'team/app');

  t.test('push a blob in chunks, HEAD it, read it back verified', async (t) => {
    const data = randomBytes(300 * 1024 + 17);
    const d = blob(data);
    t.equal(await repo.blobExists(d), false);
    await repo.pushBlob(d, opener(data));
    t.equal(await repo.blobExists(d), true);
    t.same(await readAll(await repo.fetchBlob(d)), data);
    t.ok(events.some((e) => (e as { op?: string; state?: string }).op === 'push' && (e as { state: string }).state === 'end'));
    t.ok(events.some((e) => (e as { op?: string; state?: string }).op === 'pull' && (e as { state: string }).state === 'end'));
  });

  t.test('push in one streaming PATCH and the empty blob', async (t) => {
    const one = new RegistryClient({ chunkSize: 0 });
    t.teardown(() => one.close());
    const r = one.repository(reg.host, 'team/one');
    const data = randomBytes(200 * 1024);
    await r.pushBlob(blob(data), opener(data));
    t.same(await r.fetchBlobBytes(blob(data), 1 << 20), data);
    const empty = Buffer.alloc(0);
    await r.pushBlob(blob(empty), opener(empty));
    t.equal(await r.blobExists(blob(empty)), true);
  });

  t.test('a source that fails to open (a missing file) fails the push with its error, whatever the upload path', async (t) => {
    for (const size of [100, 300 * 1024 + 1, 2 * 64 * 1024 + 5]) {
      const d = { ...blob(randomBytes(size)) };
      await t.rejects(
        repo.pushBlob(d, () => createReadStream(`/nonexistent/oci-s2i-${size}`)),
        { code: 'ERR_UPLOAD_SOURCE', message: /cannot read the content to upload: ENOENT: no such file or directory, open '\/nonexistent\/oci-s2i-/ },
        `${size} bytes`,
      );
    }
  });

  t.test('a source shorter or longer than the descriptor fails the push', async (t) => {
    const data = randomBytes(1000);
    const d = blob(data);
    await t.rejects(repo.pushBlob({ ...d, size: 1200 }, opener(data)), { code: 'ERR_SIZE_MISMATCH' });
    await t.rejects(repo.pushBlob({ ...d, size: 800 }, opener(data)), { code: 'ERR_SIZE_MISMATCH' });
    await t.rejects(repo.pushBlob({ ...d, digest: sha('other') }, opener(data)), { code: 'ERR_REGISTRY_ERROR' });
    t.equal(await repo.blobExists(d), false);
  });

  t.test('mount across repositories', async (t) => {
    const data = randomBytes(5000);
    const d = blob(data);
    await repo.pushBlob(d, opener(data));
    const other = client.repository(reg.host, 'team/other');
    t.equal(await other.mountBlob(d, 'team/app'), true);
    t.equal(await other.blobExists(d), true);
    const missing = blob(randomBytes(10));
    t.equal(await other.mountBlob(missing, 'team/app'), false, '202 is cancelled and reported as not mounted');
    await t.rejects(other.mountBlob(d, 'Bad Name'), { code: 'ERR_INVALID_REFERENCE' });
  });

  for (const format of ['docker', 'oci'] as const) {
    t.test(`manifest put/resolve/fetch in ${format} format`, async (t) => {
      const { manifest } = await pushImage(repo, format, `v-${format}`);
      const { descriptor, bytes } = await repo.resolve(`v-${format}`);
      t.same(bytes, manifest);
      t.equal(descriptor.digest, sha(manifest));
      t.equal(descriptor.mediaType, format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest);
      t.same(await repo.fetchManifest(descriptor), manifest);
      const byDigest = await repo.resolve(descriptor.digest);
      t.equal(byDigest.descriptor.digest, descriptor.digest);
      await t.rejects(repo.fetchManifest({ ...descriptor, size: descriptor.size - 1 }), { code: 'ERR_SIZE_MISMATCH' });
    });
  }

  t.test('unknown manifest, bad references', async (t) => {
    await t.rejects(exitOf(repo.resolve('nope')), { code: 'ERR_MANIFEST_UNKNOWN', exitCode: 2, message: /team\/app:nope/ });
    await t.rejects(exitOf(client.repository(reg.host, 'no/such').resolve('latest')), { code: 'ERR_MANIFEST_UNKNOWN', exitCode: 2 });
    await t.rejects(repo.resolve('sha256:../../etc'), { code: 'ERR_INVALID_DIGEST' });
    await t.rejects(repo.resolve('-bad'), { code: 'ERR_INVALID_REFERENCE' });
    t.throws(() => client.repository(reg.host, '../x'), { code: 'ERR_INVALID_REFERENCE' });
    t.throws(() => client.repository('bad host/x', 'x'), { code: 'ERR_INVALID_REFERENCE' });
    await t.rejects(exitOf(repo.fetchBlob({ mediaType: 'x', digest: 'sha256:' + 'a'.repeat(64), size: 3 })), { code: 'ERR_BLOB_UNKNOWN', exitCode: 2 });
  });

  t.test('tags and delete', async (t) => {
    const r = client.repository(reg.host, 'team/tags');
    await pushImage(r, 'oci', 'a');
    const { manifest } = await pushImage(r, 'oci', 'b');
    t.same((await r.tags()).sort(), ['a', 'b']);
    await r.deleteManifest(sha(manifest));
    await t.rejects(r.resolve('b'), { code: 'ERR_MANIFEST_UNKNOWN' });
    t.same(await r.tags(), ['a']);
    await t.rejects(client.repository(reg.host, 'no/tags').tags(), { code: 'ERR_NAME_UNKNOWN' });
  });

  t.test('skopeo reads what we pushed', async (t) => {
    const { manifest } = await pushImage(repo, 'docker', 'skopeo');
    const out = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/app:skopeo`]);
    t.same(out, manifest);
    const info = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/team/app:skopeo`]).toString()) as { Digest: string };
    t.equal(info.Digest, sha(manifest));
  });

  t.test('we read what skopeo pushed', async (t) => {
    // skopeo copies our docker image to a new name as OCI; we resolve and verify every blob of it.
    execFileSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--format', 'oci',
      `docker://${reg.host}/team/app:v-docker`, `docker://${reg.host}/team/copied:oci`]);
    const r = client.repository(reg.host, 'team/copied');
    const { descriptor, bytes } = await r.resolve('oci');
    t.equal(descriptor.mediaType, MediaType.ociManifest);
    const m = JSON.parse(bytes.toString()) as { config: Descriptor; layers: Descriptor[] };
    await r.fetchBlobBytes(m.config, 1 << 22);
    for (const l of m.layers) await readAll(await r.fetchBlob(l));
  });

  t.test('oci-registry-client reads what we pushed', async (t) => {
    const { manifest, layer } = await pushImage(repo, 'oci', 'npm');
    const { RegistryClientV2 } = (await import('oci-registry-client')) as unknown as {
      RegistryClientV2: new (o: object) => {
        getManifest(o: { ref: string }): Promise<{ manifest: unknown; resp: { headers: { get(n: string): string | null } } }>;
        createBlobReadStream(o: { digest: string }): Promise<{ stream: NodeJS.ReadableStream }>;
      };
    };
    const other = new RegistryClientV2({ name: `http://${reg.host}/team/app`, insecure: true, acceptOCIManifests: true });
    const got = await other.getManifest({ ref: 'npm' });
    t.same(got.manifest, JSON.parse(manifest.toString()));
    const { stream } = await other.createBlobReadStream({ digest: sha(layer) });
    t.same(await readAll(stream as unknown as Readable), layer);
  });

  t.test('upload sessions opened ahead: the uploads start with their PUT; unused ones are cancelled on close; a lost one is replaced', async (t) => {
    const proxy = await startFaultProxy(reg.host);
    t.teardown(() => proxy.stop());
    const c = new RegistryClient();
    c.openUploadsAhead(proxy.host, 'team/ahead', 3);
    for (let i = 0; i < 200 && proxy.stats.count('POST') < 3; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(proxy.stats.count('POST'), 3, 'three sessions opened ahead');
    const r = c.repository(proxy.host, 'team/ahead');
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    await Promise.all([r.pushBlob(blob(a), opener(a)), r.pushBlob(blob(b), opener(b))]);
    t.equal(proxy.stats.count('POST'), 3, 'no new session for the two uploads');
    t.equal(proxy.stats.count('PUT'), 2, 'one PUT each');
    await c.close();
    t.equal(proxy.stats.count('DELETE'), 1, 'the unused session was cancelled');
    const check = client.repository(reg.host, 'team/ahead');
    t.ok((await check.blobExists(blob(a))) && (await check.blobExists(blob(b))), 'both blobs landed');

    // The registry forgot a session opened ahead (404 BLOB_UPLOAD_UNKNOWN on its PUT): a new session, once.
    const c2 = new RegistryClient();
    t.teardown(() => c2.close());
    proxy.stats.reset();
    c2.openUploadsAhead(proxy.host, 'team/ahead', 1);
    for (let i = 0; i < 200 && proxy.stats.count('POST') < 1; i++) await new Promise((r) => setTimeout(r, 10));
    proxy.setFault({ kind: 'status', status: 404, method: 'PUT', body: '{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}' });
    const d = randomBytes(3000);
    await c2.repository(proxy.host, 'team/ahead').pushBlob(blob(d), opener(d));
    t.equal(proxy.stats.count('PUT'), 2, 'the PUT was made again');
    t.equal(proxy.stats.count('POST'), 2, 'on a new session');
    t.ok(await check.blobExists(blob(d)));
    // Anything that is not a registry: nothing happens, nothing throws.
    c2.openUploadsAhead('not a host!', 'x', 2);
  });
});
