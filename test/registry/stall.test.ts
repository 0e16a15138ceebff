// A stalled registry (the fault proxy holds a response) against the client's request timeout: a response
// that never starts is retried, a download that stops mid-body resumes with Range, and an endless stall
// gives up after the retry budget with an error that names the timeout.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });
async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

// The stall is 100× the timeout: the outcome does not depend on scheduling.
const TIMEOUT = 300;
const STALL = 30_000;

t.test('stalls through the proxy', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const proxy = await startFaultProxy(reg.host);
  t.teardown(() => proxy.stop());
  const client = new RegistryClient({ requestTimeoutMs: TIMEOUT, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  t.teardown(() => client.close());
  const repo = client.repository(proxy.host, 'stall/app');
  const data = randomBytes(2 * 1024 * 1024);
  await repo.pushBlob(blob(data), () => Readable.from([data]));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: blob(data), layers: [] }));
  await repo.pushManifest('v1', manifest, MediaType.ociManifest);
  t.beforeEach(() => {
    proxy.stats.reset();
    proxy.setFault(null);
  });

  t.test('a response that never starts times out and is retried', async (t) => {
    proxy.setFault({ kind: 'stall', method: 'GET', path: '/manifests/', ms: STALL });
    const { descriptor } = await repo.resolve('v1');
    t.equal(descriptor.digest, sha(manifest));
    t.equal(proxy.pending(), 0, 'the stall happened');
    t.equal(proxy.stats.count('GET', '/manifests/'), 2, 'one retry');
    t.equal(proxy.stats.requests[0]?.fault, 'stall');
  });

  t.test('a download that stops mid-body resumes from where it stopped', async (t) => {
    proxy.setFault({ kind: 'stall', method: 'GET', path: '/blobs/sha256:', ms: STALL, afterBytes: 1_500_000 });
    const got = await readAll(await repo.fetchBlob(blob(data)));
    t.ok(got.equals(data), 'the bytes are right');
    t.equal(proxy.stats.count('GET', '/blobs/sha256:'), 2, 'one resumed request');
    const resent = proxy.stats.responseBytes('GET', '/blobs/sha256:') - data.length;
    t.ok(resent < data.length / 4, `resent ${resent} bytes, far fewer than the blob`);
  });

  t.test('an endless stall gives up after the retry budget', async (t) => {
    const two = new RegistryClient({ requestTimeoutMs: TIMEOUT, retry: { attempts: 2, baseDelayMs: 1 } });
    t.teardown(() => two.close());
    proxy.setFault([
      { kind: 'stall', method: 'GET', path: '/manifests/', ms: STALL },
      { kind: 'stall', method: 'GET', path: '/manifests/', ms: STALL },
    ]);
    await t.rejects(exitOf(two.repository(proxy.host, 'stall/app').resolve('v1')), {
      code: 'ERR_REGISTRY_ERROR',
      exitCode: 2,
      message: /no answer from 127\.0\.0\.1:\d+ for 0\.3 s .*GET .*manifests\/v1/,
    });
    t.equal(proxy.stats.count('GET', '/manifests/'), 2);
  });
});
