// referrers(): the real registry (distribution 2.8 has no referrers API, so the tag-schema fallback
// `sha256-<hex>` is read), and a fake registry with the API (filtering, pagination, bad answers).
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryClient, type Repository } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { startRegistry } from '../helpers/registry.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const desc = (mediaType: string, b: Buffer, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: sha(b), size: b.length, ...extra });

async function pushManifest(repo: Repository, ref: string, doc: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = json(doc);
  await repo.pushManifest(ref, bytes, mediaType);
  return desc(mediaType, bytes);
}

t.test('referrers on distribution 2.8: the tag-schema fallback', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const c = new RegistryClient();
  t.teardown(() => c.close());
  const repo = c.repository(reg.host, 'ref/app');
  const empty = Buffer.from('{}');
  await repo.pushBlob(desc(MediaType.ociEmpty, empty), () => Readable.from([empty]));
  const configDesc = desc(MediaType.ociEmpty, empty);
  const subject = await pushManifest(repo, 'v1', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [] }, MediaType.ociManifest);

  t.same(await repo.referrers(subject.digest), [], 'no referrers yet: an empty list, not an error');

  const artifact = (type: string) => ({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: type, config: configDesc, layers: [], subject });
  const sbom = await pushManifest(repo, 'sbom', artifact('application/spdx+json'), MediaType.ociManifest);
  const sig = await pushManifest(repo, 'sig', artifact('application/vnd.dev.cosign.signature'), MediaType.ociManifest);
  const entries = [
    { ...sbom, artifactType: 'application/spdx+json' },
    { ...sig, artifactType: 'application/vnd.dev.cosign.signature', annotations: { 'org.example': 'yes' } },
  ];
  // What a pushing client does on a registry without the API: maintain the index under the fallback tag.
  const fallbackTag = subject.digest.replace(':', '-');
  await pushManifest(repo, fallbackTag, { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries }, MediaType.ociIndex);

  t.same(await repo.referrers(subject.digest), entries);
  t.same(await repo.referrers(subject.digest, { artifactType: 'application/spdx+json' }), [entries[0]], 'filtered on the client');
  t.same(await repo.referrers(subject.digest, { artifactType: 'none/such' }), []);
  t.same(await c.repository(reg.host, 'no/such').referrers(subject.digest), [], 'unknown repository: none');
  t.same(await repo.referrers(subject.digest, { tagSchema: false }), [], 'tagSchema false: the fallback tag is not read (the caller knows it is not there)');

  // Bad input: an invalid digest never reaches a URL; a fallback tag holding a manifest is refused.
  await t.rejects(repo.referrers('sha256:../../x'), { code: 'ERR_INVALID_DIGEST' });
  const other = await pushManifest(repo, 'v2', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [], annotations: { a: 'b' } }, MediaType.ociManifest);
  await pushManifest(repo, other.digest.replace(':', '-'), { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [] }, MediaType.ociManifest);
  await t.rejects(repo.referrers(other.digest), { code: 'ERR_REGISTRY_ERROR', message: /expected an OCI image index/ });
});

async function fakeRegistry(t: Test, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('referrers API: filters, pages, bad answers', async (t) => {
  const subject = sha('subject');
  const a: Descriptor = { mediaType: MediaType.ociManifest, digest: sha('a'), size: 10, artifactType: 'x/a' };
  const b: Descriptor = { mediaType: MediaType.ociManifest, digest: sha('b'), size: 11, artifactType: 'x/b' };
  const seen: string[] = [];
  let mode: 'pages' | 'filtered' | 'manifest' | 'garbage' | 'bad-descriptor' = 'pages';
  const index = (manifests: unknown[]) => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });
  const host = await fakeRegistry(t, (req, res) => {
    seen.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== `/v2/ref/app/referrers/${subject}`) return void res.writeHead(404).end();
    const ct = { 'content-type': MediaType.ociIndex };
    switch (mode) {
      case 'garbage':
        return void res.writeHead(200, ct).end('<html>');
      case 'manifest':
        return void res.writeHead(200, { 'content-type': MediaType.ociManifest }).end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: a, layers: [] }));
      case 'bad-descriptor':
        return void res.writeHead(200, ct).end(index([{ ...a, digest: 'sha256:../../etc/passwd' }]));
      case 'filtered':
        return void res.writeHead(200, { ...ct, 'oci-filters-applied': 'artifactType' }).end(index([a, b]));
      default:
        if (url.searchParams.get('page') === '2') return void res.writeHead(200, ct).end(index([b]));
        return void res.writeHead(200, { ...ct, link: `</v2/ref/app/referrers/${subject}?page=2>; rel="next"` }).end(index([a]));
    }
  });
  const c = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(() => c.close());
  const repo = c.repository(host, 'ref/app');

  t.same(await repo.referrers(subject), [a, b], 'both pages');
  t.notOk(seen.some((u) => u.includes('/manifests/')), 'the API answered: no fallback tag read');
  t.same(await repo.referrers(subject, { artifactType: 'x/b' }), [b], 'filtered on the client when the registry did not');
  t.match(seen.at(-2), /artifactType=x%2Fb/, 'the filter is sent to the registry');
  mode = 'filtered';
  t.same(await repo.referrers(subject, { artifactType: 'x/a' }), [a, b], 'OCI-Filters-Applied: the registry filtered, nothing is dropped');
  mode = 'manifest';
  await t.rejects(repo.referrers(subject), { code: 'ERR_REGISTRY_ERROR', message: /expected an OCI image index/ });
  mode = 'garbage';
  await t.rejects(repo.referrers(subject), { code: 'ERR_MANIFEST_INVALID' });
  mode = 'bad-descriptor';
  await t.rejects(repo.referrers(subject), { code: 'ERR_MANIFEST_INVALID' });
});
