// The system trust store as Go reads it (SSL_CERT_FILE replaces the bundle list, SSL_CERT_DIR the directories),
// read once per process: each case runs in a Node process of its own with temporary files as the store.
// Certificates Node bundles are not added again; broken blocks, FIFOs, subdirectories and c_rehash links are
// skipped, broken blocks with one warning.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { makeTestCertificates } from '../helpers/registry.js';
import { systemCertSources } from '../../src/sys/trust.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-trust-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(path.join(dir, 'a-certs'));
mkdirSync(path.join(dir, 'b-certs'));
const a = makeTestCertificates(path.join(dir, 'a-certs'));
const b = makeTestCertificates(path.join(dir, 'b-certs'));
const caA = readFileSync(a.caCert, 'utf8');
const caB = readFileSync(b.caCert, 'utf8');
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

interface Loaded {
  fingerprints: string[];
  warnings: string[];
  ms: number;
}

/** systemCertificates() in a fresh process with `env` (and nothing of this machine's store unless asked). */
function load(env: NodeJS.ProcessEnv): Loaded {
  const module = new URL('../../src/sys/trust.js', import.meta.url).href;
  const script = `import { systemCertificates } from ${JSON.stringify(module)};
import { X509Certificate } from 'node:crypto';
const warnings = [];
const t0 = performance.now();
const pems = systemCertificates((m) => warnings.push(m));
const ms = performance.now() - t0;
systemCertificates((m) => warnings.push('again: ' + m));
console.log(JSON.stringify({ fingerprints: pems.map((p) => new X509Certificate(p).fingerprint256), warnings, ms }));`;
  const base = { ...process.env };
  for (const k of ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'OCI_S2I_EXTRA_CA_CERTS', 'NODE_EXTRA_CA_CERTS']) delete base[k];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Loaded;
}

t.test('where the certificates come from', async (t) => {
  t.same(systemCertSources({}).files[0], '/etc/ssl/certs/ca-certificates.crt');
  t.same(systemCertSources({}).dirs, ['/etc/ssl/certs', '/etc/pki/tls/certs']);
  t.same(systemCertSources({ SSL_CERT_FILE: '/x.pem' }).files, ['/x.pem'], 'SSL_CERT_FILE replaces the bundle list');
  t.same(systemCertSources({ SSL_CERT_DIR: '/a:/b::' }).dirs, ['/a', '/b'], 'SSL_CERT_DIR is a colon list replacing the directories');
});

t.test('SSL_CERT_FILE: its CAs, not the ones Node bundles, a broken block skipped with one warning', async (t) => {
  const empty = path.join(dir, 'empty-dir');
  mkdirSync(empty, { recursive: true });
  const bundle = path.join(dir, 'bundle.pem');
  const broken = '-----BEGIN CERTIFICATE-----\nMIIBbroken/notDER==\n-----END CERTIFICATE-----\n';
  const key = readFileSync(a.serverKey, 'utf8');
  // Node's first root in another line length (76 columns, CRLF) than Node keeps it: the same certificate.
  const nodeRoot = tls.rootCertificates[0]!;
  const body = nodeRoot.replace(/-----[^-]+-----|\s/g, '');
  const rewrapped = `-----BEGIN CERTIFICATE-----\r\n${body.match(/.{1,76}/g)!.join('\r\n')}\r\n-----END CERTIFICATE-----\r\n`;
  writeFileSync(bundle, `# corporate bundle\n${caA}${broken}${key}${rewrapped}${caA}`);
  const r = load({ SSL_CERT_FILE: bundle, SSL_CERT_DIR: empty });
  t.same(r.fingerprints, [fingerprint(caA)], 'the corporate CA once; the key ignored; Node’s own root not added again');
  t.equal(r.warnings.length, 1, 'one warning, and only at the first load');
  t.match(r.warnings[0], `trust store: skipped 1 broken certificate block in ${bundle}`);
  t.comment(`SSL_CERT_FILE with 4 certificates: ${r.ms.toFixed(1)} ms`);

  const missing = load({ SSL_CERT_FILE: path.join(dir, 'nope.pem'), SSL_CERT_DIR: empty });
  t.same(missing.fingerprints, []);
  t.match(missing.warnings, [/SSL_CERT_FILE .*nope\.pem cannot be read as a file/]);
  const keyOnly = path.join(dir, 'key-only.pem');
  writeFileSync(keyOnly, key);
  t.match(load({ SSL_CERT_FILE: keyOnly, SSL_CERT_DIR: empty }).warnings, [/SSL_CERT_FILE .*key-only\.pem holds no PEM certificate/]);
});

t.test('SSL_CERT_DIR: every file of every directory; c_rehash links, FIFOs and subdirectories skipped', async (t) => {
  const d1 = path.join(dir, 'd1');
  const d2 = path.join(dir, 'd2');
  mkdirSync(path.join(d1, 'sub'), { recursive: true });
  mkdirSync(d2, { recursive: true });
  writeFileSync(path.join(d1, 'a.pem'), caA);
  writeFileSync(path.join(d1, 'sub', 'ignored.pem'), caB);
  writeFileSync(path.join(d1, 'README'), 'not a certificate\n');
  writeFileSync(path.join(d2, 'any-name.crt'), caB);
  writeFileSync(path.join(d2, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  // A c_rehash link (target in the same directory) is skipped: only broken.pem is named in the warning.
  symlinkSync('broken.pem', path.join(d2, 'deadbeef.0'));
  t.equal(spawnSync('mkfifo', [path.join(d2, 'fifo.pem')]).status, 0, 'mkfifo');
  const bundle = path.join(dir, 'no-bundle.pem');
  writeFileSync(bundle, '');
  const r = load({ SSL_CERT_FILE: bundle, SSL_CERT_DIR: `${d1}:${d2}` });
  t.same(r.fingerprints.sort(), [fingerprint(caA), fingerprint(caB)].sort(), 'both directories; the subdirectory not descended');
  t.equal(r.warnings.length, 1);
  t.match(r.warnings[0], `skipped 1 broken certificate block in ${path.join(d2, 'broken.pem')} (`);
  t.notMatch(r.warnings[0], /deadbeef/);
});

t.test('this machine’s store, as a build reads it', async (t) => {
  const r = load({});
  t.same(r.warnings, []);
  t.comment(`system store (/etc/ssl/certs/ca-certificates.crt and /etc/ssl/certs): ${r.fingerprints.length} CAs beyond Node's, read in ${r.ms.toFixed(1)} ms`);
});
