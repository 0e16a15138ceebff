// TLS against the real registry serving HTTPS on loopback with a CA made in the test: without the CA the
// error is an x509 one that says where the CA goes; --cert-dir, a certs.d HOST:PORT directory and
// --tls-verify=false all work; client certificates (*.cert + *.key) satisfy a registry that requires them;
// unusable certificate files fail clearly.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { HttpClient } from '../../src/registry/http.js';
import { retryPolicy } from '../../src/registry/retry.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { makeTestCertificates, startRegistry } from '../helpers/registry.js';
import { exitCodeFor } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });

t.test('HTTPS registry on loopback', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeTestCertificates(dir);
  const reg = await startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey } });
  t.teardown(() => reg.stop());
  t.match(reg.url, /^https:/);
  // An empty certs.d root so the machine's own /etc/containers/certs.d plays no part.
  const emptyRoot = path.join(dir, 'empty', 'certs.d');
  mkdirSync(emptyRoot, { recursive: true });
  const data = randomBytes(40_000);

  async function roundTrip(t: Test, opts: RegistryClientOptions, repoName: string): Promise<void> {
    const c = new RegistryClient({ certsDirs: [emptyRoot], ...opts });
    t.teardown(() => c.close());
    const repo = c.repository(reg.host, repoName);
    await repo.pushBlob(blob(data), () => Readable.from([data]));
    t.same(await repo.fetchBlobBytes(blob(data), 1 << 20), data, `${repoName}: bytes read back over HTTPS`);
  }

  t.test('without the CA: an x509 error naming --cert-dir and certs.d, never a downgrade to HTTP', async (t) => {
    const c = new RegistryClient({ certsDirs: [emptyRoot] });
    t.teardown(() => c.close());
    const err = (await c.repository(reg.host, 'tls/app').resolve('latest').catch((e: unknown) => e)) as Error & { code: string; url: string };
    t.equal(err.code, 'ERR_REGISTRY_TLS');
    t.equal(exitCodeFor(err), 2);
    t.match(err.message, /^x509: cannot verify the TLS certificate of registry 127\.0\.0\.1:\d+/);
    t.match(err.message, new RegExp(`--cert-dir DIR or .*certs\\.d/${reg.host.replace(/\./g, '\\.')}/ca\\.crt.*--tls-verify=false`));
    t.equal(err.message.split('\n').length, 1, 'one line');
    t.match(err.url, /^https:/);
    t.comment(err.message);
  });

  t.test('--cert-dir with the CA as ca.crt', async (t) => {
    const certDir = path.join(dir, 'cert-dir');
    mkdirSync(certDir);
    copyFileSync(certs.caCert, path.join(certDir, 'ca.crt'));
    await roundTrip(t, { certDir }, 'tls/cert-dir');
  });

  t.test('certs.d/HOST:PORT with any *.crt name', async (t) => {
    const root = path.join(dir, 'etc', 'certs.d');
    mkdirSync(path.join(root, reg.host), { recursive: true });
    copyFileSync(certs.caCert, path.join(root, reg.host, 'my-company-root.crt'));
    await roundTrip(t, { certsDirs: [emptyRoot, root] }, 'tls/certs-d');
  });

  t.test('certs.d root from OCI_S2I_CERTS_D', async (t) => {
    const root = path.join(dir, 'env', 'certs.d');
    mkdirSync(path.join(root, reg.host), { recursive: true });
    copyFileSync(certs.caCert, path.join(root, reg.host, 'ca.crt'));
    const c = new RegistryClient({ env: { HOME: dir, OCI_S2I_CERTS_D: root } });
    t.teardown(() => c.close());
    t.same(await c.repository(reg.host, 'tls/cert-dir').fetchBlobBytes(blob(data), 1 << 20), data);
  });

  t.test('--tls-verify=false needs no CA and stays on HTTPS', async (t) => {
    await roundTrip(t, { tlsVerify: false }, 'tls/insecure');
  });

  t.test('unusable certificate files: ERR_TLS_CONFIG naming the file', async (t) => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'ca.crt'), 'not a certificate');
    const c1 = new RegistryClient({ certDir: bad });
    t.teardown(() => c1.close());
    await t.rejects(c1.repository(reg.host, 'tls/app').resolve('latest'), { code: 'ERR_TLS_CONFIG', message: /bad\/ca\.crt is not a PEM certificate/ });

    const lonely = path.join(dir, 'lonely');
    mkdirSync(lonely);
    copyFileSync(certs.clientCert, path.join(lonely, 'client.cert'));
    const c2 = new RegistryClient({ certDir: lonely });
    t.teardown(() => c2.close());
    await t.rejects(c2.repository(reg.host, 'tls/app').resolve('latest'), { code: 'ERR_TLS_CONFIG', message: /client\.cert has no matching key client\.key/ });

    const c3 = new RegistryClient({ certDir: path.join(dir, 'no-such-dir') });
    t.teardown(() => c3.close());
    await t.rejects(c3.repository(reg.host, 'tls/app').resolve('latest'), { code: 'ERR_TLS_CONFIG', message: /--cert-dir .* is not a directory/ });
  });
});

t.test('client certificates: a registry that requires them', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-mtls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeTestCertificates(dir);
  const reg = await startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey, clientCas: [certs.caCert] } });
  t.teardown(() => reg.stop());
  const onlyCa = path.join(dir, 'only-ca');
  mkdirSync(onlyCa);
  copyFileSync(certs.caCert, path.join(onlyCa, 'ca.crt'));
  const c1 = new RegistryClient({ certDir: onlyCa, retry: { attempts: 1 } });
  t.teardown(() => c1.close());
  await t.rejects(c1.repository(reg.host, 'mtls/app').tags(), 'refused without a client certificate');

  const full = path.join(dir, 'full');
  mkdirSync(full);
  copyFileSync(certs.caCert, path.join(full, 'ca.crt'));
  copyFileSync(certs.clientCert, path.join(full, 'client.cert'));
  copyFileSync(certs.clientKey, path.join(full, 'client.key'));
  const c2 = new RegistryClient({ certDir: full });
  t.teardown(() => c2.close());
  const data = randomBytes(1000);
  const repo = c2.repository(reg.host, 'mtls/app');
  await repo.pushBlob(blob(data), () => Readable.from([data]));
  t.equal(await repo.blobExists(blob(data)), true, 'pushed with the client certificate');
});

t.test('plain HTTP is never chosen for a non-loopback registry unless asked', async (t) => {
  const h = new HttpClient({ tlsVerify: true, retry: retryPolicy(), userAgent: 't', credentials: async () => undefined, requestTimeoutMs: 1000 });
  t.teardown(() => h.close());
  t.equal(await h.originFor('registry.example.com', undefined), 'https://registry.example.com');
  t.equal(await h.originFor('docker.io', undefined), 'https://registry-1.docker.io');
  t.equal(await h.originFor('registry.example.com:5000', true), 'http://registry.example.com:5000');
  t.equal(await h.originFor('127.0.0.1:1', false), 'https://127.0.0.1:1');
});

t.test('NODE_EXTRA_CA_CERTS moved aside by the launcher (OCI_S2I_EXTRA_CA_CERTS) is trusted, read on the first TLS connection', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-tls-extra-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeTestCertificates(dir);
  const reg = await startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey } });
  t.teardown(() => reg.stop());
  const data = randomBytes(10_000);
  const insecure = new RegistryClient({ tlsVerify: false });
  await insecure.repository(reg.host, 'tls/extra').pushBlob(blob(data), () => Readable.from([data]));
  await insecure.close();
  // A Node process of its own: the relocated CAs are read from its environment once.
  const script = path.join(dir, 'fetch.mjs');
  const clientModule = new URL('../../src/registry/client.js', import.meta.url).href;
  writeFileSync(script, `import { RegistryClient } from ${JSON.stringify(clientModule)};
const c = new RegistryClient({ certsDirs: [${JSON.stringify(path.join(dir, 'none'))}] });
try {
  const got = await c.repository(${JSON.stringify(reg.host)}, 'tls/extra').fetchBlobBytes(${JSON.stringify(blob(data))}, 1 << 20);
  console.log('fetched', got.length);
} catch (e) { console.log('failed', e.code); } finally { await c.close(); }
`);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const run = (extra: NodeJS.ProcessEnv) => spawnSync(process.execPath, [script], { env: { ...env, ...extra }, encoding: 'utf8' });
  t.equal(run({ OCI_S2I_EXTRA_CA_CERTS: certs.caCert }).stdout.trim(), `fetched ${data.length}`, 'trusted through OCI_S2I_EXTRA_CA_CERTS');
  t.equal(run({}).stdout.trim(), 'failed ERR_REGISTRY_TLS', 'not trusted without it');
  const missing = run({ OCI_S2I_EXTRA_CA_CERTS: path.join(dir, 'missing.pem') });
  t.equal(missing.stdout.trim(), 'failed ERR_REGISTRY_TLS');
  t.match(missing.stderr, /Ignoring extra certs from `.*missing\.pem`, load failed/, 'an unreadable file warns, as Node does');
});
