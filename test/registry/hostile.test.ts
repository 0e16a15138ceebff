// Bad and hostile registry answers, from a fake registry on a real socket: wrong bytes, lying digests,
// oversize and ambiguous manifests, garbage error bodies. Each gives a clean error and nothing usable.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function fakeRegistry(t: Test, handler: Handler): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const good = Buffer.from('the right bytes of a layer');
const desc: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: sha(good), size: good.length };
const ociManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: desc, layers: [] }));

t.test('wrong blob bytes: the stream errors with ERR_DIGEST_MISMATCH before it ends', async (t) => {
  const host = await fakeRegistry(t, (_req, res) => {
    const bad = Buffer.from('the wrong bytes of a layer');
    res.writeHead(200, { 'content-length': String(bad.length) }).end(bad);
  });
  const c = new RegistryClient();
  t.teardown(() => c.close());
  const stream: Readable = await c.repository(host, 'a/b').fetchBlob(desc);
  let ended = false;
  stream.on('end', () => (ended = true));
  await t.rejects(
    exitOf(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ),
    { code: 'ERR_DIGEST_MISMATCH', exitCode: 2 },
  );
  t.equal(ended, false, 'no clean end');
  await t.rejects(c.repository(host, 'a/b').fetchBlobBytes(desc, 1000), { code: 'ERR_DIGEST_MISMATCH' });
});

t.test('more or fewer bytes than the descriptor says', async (t) => {
  let body = Buffer.concat([good, Buffer.from('extra')]);
  let chunked = false;
  const host = await fakeRegistry(t, (_req, res) => {
    res.writeHead(200, chunked ? {} : { 'content-length': String(body.length) }).end(body);
  });
  const c = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(() => c.close());
  const repo = c.repository(host, 'a/b');
  await t.rejects(repo.fetchBlob(desc), { code: 'ERR_SIZE_MISMATCH' }, 'Content-Length disagrees: refused up front');
  chunked = true;
  await t.rejects(repo.fetchBlobBytes(desc, 1000), { code: 'ERR_SIZE_MISMATCH' }, 'too long without Content-Length');
  body = good.subarray(0, 5);
  await t.rejects(repo.fetchBlobBytes(desc, 1000), { code: 'ERR_SIZE_MISMATCH' }, 'short');
  await t.rejects(repo.fetchBlobBytes({ ...desc, size: 5000 }, 1000), { code: 'ERR_BLOB_TOO_LARGE' });
});

t.test('manifests: lying Docker-Content-Digest, wrong bytes for a digest, oversize, ambiguous', async (t) => {
  let mode = '';
  const host = await fakeRegistry(t, (_req, res) => {
    const ct = { 'content-type': MediaType.ociManifest };
    switch (mode) {
      case 'lying-header':
        return void res.writeHead(200, { ...ct, 'docker-content-digest': sha('something else') }).end(ociManifest);
      case 'invalid-header':
        return void res.writeHead(200, { ...ct, 'docker-content-digest': 'sha256:../../x' }).end(ociManifest);
      case 'oversize-declared':
        return void res.writeHead(200, { ...ct, 'content-length': String(5 * 1024 * 1024) }).end();
      case 'oversize-chunked': {
        res.writeHead(200, ct);
        const mb = Buffer.alloc(1024 * 1024, 0x20);
        for (let i = 0; i < 5; i++) res.write(mb);
        return void res.end();
      }
      case 'ambiguous':
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ schemaVersion: 2, manifests: [], config: desc, layers: [] }));
      case 'mismatched-type':
        return void res.writeHead(200, { 'content-type': MediaType.dockerManifest }).end(ociManifest);
      default:
        return void res.writeHead(200, ct).end(ociManifest);
    }
  });
  const c = new RegistryClient();
  t.teardown(() => c.close());
  const repo = c.repository(host, 'a/b');
  t.equal((await repo.resolve('ok')).descriptor.digest, sha(ociManifest));
  mode = 'lying-header';
  await t.rejects(exitOf(repo.resolve('x')), { code: 'ERR_DIGEST_MISMATCH', exitCode: 2 });
  mode = 'invalid-header';
  await t.rejects(repo.resolve('x'), { code: 'ERR_DIGEST_MISMATCH' });
  mode = '';
  await t.rejects(repo.resolve(sha('not this manifest')), { code: 'ERR_DIGEST_MISMATCH' });
  mode = 'oversize-declared';
  await t.rejects(repo.resolve('x'), { code: 'ERR_MANIFEST_TOO_LARGE' });
  mode = 'oversize-chunked';
  await t.rejects(repo.resolve('x'), { code: 'ERR_MANIFEST_TOO_LARGE' });
  mode = 'ambiguous';
  await t.rejects(exitOf(repo.resolve('x')), { code: 'ERR_MANIFEST_INVALID', exitCode: 2 });
  mode = 'mismatched-type';
  await t.rejects(repo.resolve('x'), { code: 'ERR_MANIFEST_INVALID' });
});

t.test('garbage and hostile error bodies', async (t) => {
  let body: string | Buffer = '';
  let status = 404;
  const host = await fakeRegistry(t, (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  const c = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(() => c.close());
  const repo = c.repository(host, 'a/b');
  body = '<html>nope</html>';
  await t.rejects(repo.blobExists({ ...desc }).then(() => repo.tags()), { code: 'ERR_REGISTRY_ERROR', status: 404, errors: [] });
  body = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known\u001b[31m' }] });
  const err = (await repo.tags().catch((e: unknown) => e)) as Error;
  t.match(err, { code: 'ERR_NAME_UNKNOWN' });
  t.notMatch(err.message, /\u001b/, 'control characters stripped');
  body = Buffer.alloc(3 * 1024 * 1024, 0x7b);
  status = 500;
  await t.rejects(repo.tags(), { code: 'ERR_REGISTRY_ERROR', status: 500 });
  body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'no' }] });
  status = 403;
  await t.rejects(repo.tags(), { code: 'ERR_DENIED' });
  body = JSON.stringify({ errors: 'not a list' });
  status = 400;
  await t.rejects(repo.tags(), { code: 'ERR_REGISTRY_ERROR', errors: [] });
});

t.test('upload Location is resolved relative to the request and keeps its query', async (t) => {
  const seen: string[] = [];
  const host = await fakeRegistry(t, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/a/b/blobs/uploads/u1?_state=abc%3D%3D' }).end();
      if (req.method === 'PATCH') return void res.writeHead(202, { location: 'u1?_state=def' }).end();
      if (req.method === 'PUT') return void res.writeHead(201, { 'docker-content-digest': desc.digest }).end();
      res.writeHead(500).end();
    });
  });
  const c = new RegistryClient({ chunkSize: 10 });
  t.teardown(() => c.close());
  const { Readable } = await import('node:stream');
  await c.repository(host, 'a/b').pushBlob(desc, () => Readable.from([good]));
  t.same(seen, [
    'POST /v2/a/b/blobs/uploads/',
    'PATCH /v2/a/b/blobs/uploads/u1?_state=abc%3D%3D',
    'PATCH /v2/a/b/blobs/uploads/u1?_state=def',
    'PATCH /v2/a/b/blobs/uploads/u1?_state=def',
    `PUT /v2/a/b/blobs/uploads/u1?_state=def&digest=${encodeURIComponent(desc.digest)}`,
  ]);
});

t.test('a registry that rejects PATCH gets one monolithic PUT', async (t) => {
  const seen: string[] = [];
  const host = await fakeRegistry(t, (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      seen.push(`${req.method} ${n}`);
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/a/b/blobs/uploads/u1' }).end();
      if (req.method === 'PATCH') return void res.writeHead(405).end();
      if (req.method === 'PUT') return void res.writeHead(201).end();
      res.writeHead(500).end();
    });
  });
  const c = new RegistryClient();
  t.teardown(() => c.close());
  const { Readable } = await import('node:stream');
  await c.repository(host, 'a/b').pushBlob(desc, () => Readable.from([good]));
  t.equal(seen.at(-1), `PUT ${good.length}`);
});
