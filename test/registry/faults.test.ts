// Faults between the client and the real registry (through the fault proxy on a real socket): cut
// downloads and uploads finish by resuming, 429 and 500 are retried, unreachable registries fail cleanly.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });
const opener = (data: Buffer, offsets?: number[]) => (offset: number) => {
  offsets?.push(offset);
  return Readable.from((function* () {
    for (let i = offset; i < data.length; i += 65536) yield data.subarray(i, Math.min(i + 65536, data.length));
  })(), { objectMode: false });
};
async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

t.test('faults through the proxy', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const proxy = await startFaultProxy(reg.host);
  t.teardown(() => proxy.stop());
  const CHUNK = 256 * 1024;
  const client = new RegistryClient({ chunkSize: CHUNK, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  t.teardown(() => client.close());
  const repo = client.repository(proxy.host, 'faults/app');
  t.beforeEach(() => {
    proxy.stats.reset();
    proxy.setFault(null);
  });

  t.test('download cut in the middle resumes with Range', async (t) => {
    const data = randomBytes(2 * 1024 * 1024);
    const d = blob(data);
    await repo.pushBlob(d, opener(data));
    proxy.stats.reset();
    proxy.setFault({ kind: 'cut-response', method: 'GET', path: '/blobs/sha256:', afterBytes: 1_500_000 });
    const got = await readAll(await repo.fetchBlob(d));
    t.ok(got.equals(data), 'the bytes are right');
    t.equal(proxy.pending(), 0, 'the cut happened');
    t.equal(proxy.stats.count('GET', '/blobs/sha256:'), 2, 'one resumed request');
    const resent = proxy.stats.responseBytes('GET', '/blobs/sha256:') - data.length;
    t.ok(resent < data.length / 10, `resent ${resent} bytes, far fewer than the blob`);
  });

  t.test('upload cut in the middle resumes from what the registry has', async (t) => {
    const data = randomBytes(2 * 1024 * 1024 + 5);
    const d = blob(data);
    const offsets: number[] = [];
    // The 5th chunk is cut 100 KiB in; the registry never sees it (a buffering front proxy).
    proxy.setFault({ kind: 'cut-request', method: 'PATCH', afterBytes: 100 * 1024, skip: 4 });
    await repo.pushBlob(d, opener(data, offsets));
    t.equal(proxy.pending(), 0, 'the cut happened');
    t.same(offsets, [0, 4 * CHUNK], 'the source was reopened at the registry offset');
    t.equal(proxy.stats.count('GET', '/blobs/uploads/'), 1, 'asked the registry how much it has');
    const sent = proxy.stats.requestBytes('PATCH');
    t.ok(sent - data.length <= CHUNK, `resent ${sent - data.length} bytes, at most one chunk`);
    t.ok((await readAll(await repo.fetchBlob(d))).equals(data), 'the registry holds the right bytes');
  });

  t.test('upload cut after the registry kept a partial chunk starts a new session', async (t) => {
    const data = randomBytes(600 * 1024);
    const d = blob(data);
    const offsets: number[] = [];
    proxy.setFault({ kind: 'cut-request', method: 'PATCH', afterBytes: 100 * 1024, skip: 1, forwardPartial: true });
    await repo.pushBlob(d, opener(data, offsets));
    t.same(offsets, [0, 0], 'restarted from 0 after distribution invalidated the session');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), 2);
    t.equal(await repo.blobExists(d), true);
  });

  t.test('one streaming PATCH cut: restarts and completes', async (t) => {
    const one = new RegistryClient({ chunkSize: 0, retry: { baseDelayMs: 1 } });
    t.teardown(() => one.close());
    const data = randomBytes(500 * 1024);
    proxy.setFault({ kind: 'cut-request', method: 'PATCH', afterBytes: 300 * 1024 });
    await one.repository(proxy.host, 'faults/one').pushBlob(blob(data), opener(data));
    t.equal(await one.repository(proxy.host, 'faults/one').blobExists(blob(data)), true);
  });

  t.test('a small blob goes up as POST + one PUT with its body; a failed PUT is retried with a new session', async (t) => {
    const data = randomBytes(3000);
    await repo.pushBlob(blob(data), opener(data));
    t.same(proxy.stats.requests.map((r) => `${r.method} ${r.status}`), ['POST 202', 'PUT 201'], 'two requests, no PATCH, no HEAD');
    t.equal(proxy.stats.requestBytes('PUT', '/blobs/uploads/'), data.length);
    proxy.stats.reset();
    const other = randomBytes(3000);
    proxy.setFault({ kind: 'status', status: 500, method: 'PUT', path: '/blobs/uploads/' });
    await repo.pushBlob(blob(other), opener(other));
    t.equal(proxy.pending(), 0, 'the fault fired');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), 2, 'a new session after the failed PUT');
    t.equal(proxy.stats.count('PUT', '/blobs/uploads/'), 2);
    t.ok((await readAll(await repo.fetchBlob(blob(other)))).equals(other), 'the registry holds the right bytes');
    // Bigger than a chunk: PATCH chunks, resumable.
    proxy.stats.reset();
    const big = randomBytes(CHUNK + 1);
    await repo.pushBlob(blob(big), opener(big));
    t.equal(proxy.stats.count('PATCH'), 2);
  });

  t.test('a blob within one chunk is streamed in one PUT; a cut PUT starts over; a wrong-sized source fails', async (t) => {
    const mid = new RegistryClient({ chunkSize: 1024 * 1024, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    t.teardown(() => mid.close());
    const r = mid.repository(proxy.host, 'faults/mid');
    const data = randomBytes(600 * 1024);
    proxy.setFault({ kind: 'cut-request', method: 'PUT', path: '/blobs/uploads/', afterBytes: 100 * 1024 });
    const offsets: number[] = [];
    await r.pushBlob(blob(data), opener(data, offsets));
    t.equal(proxy.pending(), 0, 'the cut happened');
    t.same(offsets, [0, 0], 'the content was opened again from the start');
    t.equal(proxy.stats.count('PATCH'), 0, 'no PATCH');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), 2, 'a new session after the cut');
    t.ok((await readAll(await r.fetchBlob(blob(data)))).equals(data), 'the registry holds the right bytes');
    const other = randomBytes(400 * 1024);
    await t.rejects(r.pushBlob({ ...blob(other), size: other.length + 10 }, opener(other)), { code: 'ERR_SIZE_MISMATCH' });
    await t.rejects(r.pushBlob({ ...blob(other.subarray(0, other.length - 10)), size: other.length - 10 }, opener(other)), { code: 'ERR_SIZE_MISMATCH' });
  });

  t.test('429 with Retry-After, then success', async (t) => {
    const data = randomBytes(100);
    await repo.pushBlob(blob(data), opener(data));
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: blob(data), layers: [] }));
    await repo.pushManifest('rl', m, MediaType.ociManifest);
    proxy.stats.reset();
    proxy.setFault([
      { kind: 'status', status: 429, method: 'GET', path: '/manifests/', retryAfter: '1' },
      { kind: 'status', status: 429, method: 'HEAD', path: '/blobs/', retryAfter: 'Thu, 01 Jan 1970 00:00:00 GMT' },
    ]);
    const started = Date.now();
    t.equal((await repo.resolve('rl')).descriptor.digest, sha(m));
    t.ok(Date.now() - started >= 900, 'waited as Retry-After said');
    t.equal(await repo.blobExists(blob(data)), true);
    t.equal(proxy.stats.count('GET', '/manifests/'), 2);
    t.equal(proxy.stats.count('HEAD'), 2);
  });

  t.test('429 asking for too long a wait fails with ERR_TOO_MANY_REQUESTS', async (t) => {
    proxy.setFault({ kind: 'status', status: 429, method: 'GET', retryAfter: '3600' });
    await t.rejects(repo.resolve('rl'), { code: 'ERR_TOO_MANY_REQUESTS' });
  });

  t.test('500 once then success: manifest PUT and a PATCH', async (t) => {
    const data = randomBytes(700 * 1024);
    proxy.setFault([
      { kind: 'status', status: 500, method: 'PATCH', skip: 1 },
      { kind: 'status', status: 503, method: 'PUT', path: '/manifests/' },
    ]);
    await repo.pushBlob(blob(data), opener(data));
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: blob(data), layers: [] }));
    t.equal(await repo.pushManifest('five', m, MediaType.ociManifest), sha(m));
    t.equal(proxy.pending(), 0);
    t.equal(proxy.stats.count('PUT', '/manifests/'), 2);
    t.equal(await repo.blobExists(blob(data)), true);
  });

  t.test('500 forever gives up after the retry budget; 4xx is never retried', async (t) => {
    proxy.setFault({ kind: 'status', status: 500, method: 'GET', path: '/manifests/', times: 100, body: '<html>garbage' });
    await t.rejects(exitOf(repo.resolve('rl')), { code: 'ERR_REGISTRY_ERROR', status: 500, exitCode: 2 });
    t.equal(proxy.stats.count('GET', '/manifests/'), 4, 'default 4 attempts');
    proxy.stats.reset();
    proxy.setFault({ kind: 'status', status: 400, method: 'GET', path: '/manifests/', times: 100 });
    await t.rejects(repo.resolve('rl'), { code: 'ERR_REGISTRY_ERROR', status: 400 });
    t.equal(proxy.stats.count('GET', '/manifests/'), 1);
  });

  t.test('registry Warning headers are reported once', async (t) => {
    const events: { type: string; level?: string; message?: string }[] = [];
    const c = new RegistryClient({ onProgress: (e) => events.push(e) });
    t.teardown(() => c.close());
    const h = { warning: '299 - "this repository is deprecated"' };
    proxy.setFault({ kind: 'status', status: 404, path: '/manifests/', times: 2, headers: h, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}' });
    await t.rejects(c.repository(proxy.host, 'faults/app').resolve('a'), { code: 'ERR_MANIFEST_UNKNOWN' });
    await t.rejects(c.repository(proxy.host, 'faults/app').resolve('b'), { code: 'ERR_MANIFEST_UNKNOWN' });
    const warns = events.filter((e) => e.type === 'log' && e.level === 'warn');
    t.equal(warns.length, 1);
    t.match(warns[0]?.message, /deprecated/);
  });
});

t.test('unreachable registry', async (t) => {
  const port = await freePort();
  const client = new RegistryClient();
  t.teardown(() => client.close());
  await t.rejects(exitOf(client.repository(`127.0.0.1:${port}`, 'x/y').resolve('latest')), {
    code: 'ERR_REGISTRY_UNREACHABLE',
    exitCode: 2,
    message: new RegExp(`127\\.0\\.0\\.1:${port}.*check the address.*--tls-verify`),
  });
  await t.rejects(exitOf(client.repository(`127.0.0.1:${port}`, 'x/y').blobExists(blob(Buffer.from('a')))), { code: 'ERR_REGISTRY_UNREACHABLE', exitCode: 1 });
});
