// Trust and transport as a user meets them, through the CLI, against real registries on loopback:
// - a TLS registry whose CA is only in a system-style bundle named by SSL_CERT_FILE, or in SSL_CERT_DIR;
// - a forward proxy started here (HTTP CONNECT and absolute-URL requests, counted): HTTPS_PROXY used, NO_PROXY
//   and loopback bypassing it, credentials in the proxy URL sent and never shown, a proxy that is down;
// - --retry on a refused port, with a listener that comes up after the first attempts;
// - a registry requiring a client certificate: none, or a wrong one, is said to be refused (never a 400 from a
//   downgrade to HTTP).
// Names only the proxy resolves (registry.test) stand for registries behind it; `0.0.0.0` reaches loopback
// listeners without being loopback to Go's (and our) proxy rules, so NO_PROXY can be seen to work end to end.
// Every connection goes to 127.0.0.1.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, makeTestCertificates, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { cliPath, projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { writeTinyImage } from '../cli/tiny-image.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-network-'));
const stops: Array<() => Promise<void>> = [];
t.teardown(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});
async function started<T extends { stop(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const x = await p;
  stops.push(() => x.stop());
  return x;
}

const certDir = path.join(dir, 'certs');
mkdirSync(certDir);
const certs = makeTestCertificates(certDir, { altNames: ['DNS:registry.test', 'IP:0.0.0.0'] });
const otherDir = path.join(dir, 'other-certs');
mkdirSync(otherDir);
const other = makeTestCertificates(otherDir);

const tlsReg = await started(startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey } }));
const plainReg = await started(startRegistry());
const mtlsReg = await started(startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey, clientCas: [certs.caCert] } }));
const port = (r: TestRegistry): number => Number(r.host.split(':')[1]);

// The machine's trust store is not ours to rely on: every run names its own (an unrelated CA unless a case says).
const unrelated = path.join(dir, 'unrelated.pem');
copyFileSync(other.caCert, unrelated);
const emptyDir = path.join(dir, 'empty-dir');
mkdirSync(emptyDir);
const emptyCertsD = path.join(dir, 'certs.d-empty');
mkdirSync(emptyCertsD);
const baseEnv: NodeJS.ProcessEnv = {
  OCI_S2I_CERTS_D: emptyCertsD,
  SSL_CERT_FILE: unrelated,
  SSL_CERT_DIR: emptyDir,
  NODE_EXTRA_CA_CERTS: undefined,
  OCI_S2I_EXTRA_CA_CERTS: undefined,
  HTTPS_PROXY: undefined,
  https_proxy: undefined,
  HTTP_PROXY: undefined,
  http_proxy: undefined,
  NO_PROXY: undefined,
  no_proxy: undefined,
};
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli(args, { env: { ...baseEnv, ...env }, timeoutMs: 120_000 });

// A system-style bundle: what the system trusts (when it has a bundle) plus the corporate CA.
const bundle = path.join(dir, 'ca-certificates.crt');
const system = '/etc/ssl/certs/ca-certificates.crt';
writeFileSync(bundle, (existsSync(system) ? readFileSync(system, 'utf8') : '') + readFileSync(certs.caCert, 'utf8'));

// One tiny image in each registry.
const layout = path.join(dir, 'layout');
await writeTinyImage(layout, dir, { os: 'linux', architecture: 'amd64' }, 'v1');
const clientDir = path.join(dir, 'client-files');
mkdirSync(clientDir);
copyFileSync(certs.clientCert, path.join(clientDir, 'client.cert'));
copyFileSync(certs.clientKey, path.join(clientDir, 'client.key'));
for (const reg of [tlsReg, plainReg, mtlsReg]) {
  const r = await cli(['copy', `oci:${layout}:v1`, `docker://${reg.host}/net/app:v1`, '--tls-verify=false', '--cert-dir', clientDir, '-q']);
  if (r.code !== 0) throw new Error(`copy to ${reg.host}: ${r.stderr}`);
}

/** The `oci-s2i: …` error line of a failed run (and a check that it is the only one). */
function errorLine(t: Test, r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('oci-s2i: '));
  t.equal(lines.length, 1, 'one error line');
  t.comment(lines[0]);
  return lines[0] ?? '';
}

t.test('trust: a CA only in the system store named by SSL_CERT_FILE or SSL_CERT_DIR', async (t) => {
  const ref = `${tlsReg.host}/net/app:v1`;
  const withFile = await cli(['pull', ref, '--root', path.join(dir, 'root-file')], { SSL_CERT_FILE: bundle });
  t.equal(withFile.code, 0, `SSL_CERT_FILE: ${withFile.stderr}`);

  const caDir = path.join(dir, 'ssl-cert-dir');
  mkdirSync(caDir);
  copyFileSync(certs.caCert, path.join(caDir, 'corporate-root.pem'));
  const withDir = await cli(['pull', ref, '--root', path.join(dir, 'root-dir')], { SSL_CERT_DIR: `${emptyDir}:${caDir}` });
  t.equal(withDir.code, 0, `SSL_CERT_DIR: ${withDir.stderr}`);

  const without = await cli(['pull', ref, '--root', path.join(dir, 'root-none')]);
  t.equal(without.code, 2, 'a failed pull');
  t.match(errorLine(t, without), /x509: cannot verify the TLS certificate of registry 127\.0\.0\.1:\d+ .*put its CA certificate in/);

  // Lazily: a run that opens no TLS connection never reads the store (an unreadable SSL_CERT_FILE says nothing).
  const plain = await cli(['inspect', `${plainReg.host}/net/app:v1`], { SSL_CERT_FILE: path.join(dir, 'missing.pem') });
  t.equal(plain.code, 0, plain.stderr);
  t.notMatch(plain.stderr, /trust store/);
  const tls = await cli(['inspect', `${tlsReg.host}/net/app:v1`, '--retry', '1'], { SSL_CERT_FILE: path.join(dir, 'missing.pem') });
  t.match(tls.stderr, /warning: trust store: SSL_CERT_FILE .*missing\.pem cannot be read as a file/, 'read, and said, at the first TLS connection');
});

t.test('proxies', async (t) => {
  const hosts = { 'registry.test': port(tlsReg), 'plain.test': port(plainReg), '0.0.0.0': port(tlsReg) };
  const proxy = await started(startConnectProxy({ hosts }));
  const viaProxy = { SSL_CERT_FILE: bundle, HTTPS_PROXY: `http://${proxy.host}` };
  const reset = (p: ConnectProxy): void => {
    p.tunnels = 0;
    p.forwarded = 0;
    p.targets.length = 0;
    p.authorizations.length = 0;
  };

  t.test('HTTPS_PROXY: a name only the proxy resolves, trusted through the tunnel by SSL_CERT_FILE', async (t) => {
    reset(proxy);
    const r = await cli(['inspect', `registry.test:${port(tlsReg)}/net/app:v1`], viaProxy);
    t.equal(r.code, 0, r.stderr);
    t.ok(proxy.tunnels > 0, `${proxy.tunnels} tunnels through the proxy`);
    t.same([...new Set(proxy.targets)], [`registry.test:${port(tlsReg)}`]);
  });

  t.test('https_proxy, with the registry’s CA from certs.d inside the tunnel', async (t) => {
    reset(proxy);
    const certsD = path.join(dir, 'certs.d-proxy');
    mkdirSync(path.join(certsD, `registry.test:${port(tlsReg)}`), { recursive: true });
    copyFileSync(certs.caCert, path.join(certsD, `registry.test:${port(tlsReg)}`, 'ca.crt'));
    const r = await cli(['inspect', `registry.test:${port(tlsReg)}/net/app:v1`], { https_proxy: `http://${proxy.host}`, OCI_S2I_CERTS_D: certsD });
    t.equal(r.code, 0, r.stderr);
    t.ok(proxy.tunnels > 0);
  });

  t.test('NO_PROXY (address, CIDR, host:port) and loopback bypass it', async (t) => {
    const ref = `0.0.0.0:${port(tlsReg)}/net/app:v1`;
    reset(proxy);
    t.equal((await cli(['inspect', ref], viaProxy)).code, 0);
    t.ok(proxy.tunnels > 0, 'without NO_PROXY, 0.0.0.0 goes through the proxy');
    for (const noProxy of ['0.0.0.0', 'example.com, 0.0.0.0/8', `0.0.0.0:${port(tlsReg)}`, '*']) {
      reset(proxy);
      const r = await cli(['inspect', ref], { ...viaProxy, NO_PROXY: noProxy });
      t.equal(r.code, 0, r.stderr);
      t.equal(proxy.tunnels + proxy.targets.length, 0, `NO_PROXY=${noProxy}: not a single connection to the proxy`);
    }
    reset(proxy);
    t.equal((await cli(['inspect', ref], { ...viaProxy, no_proxy: '0.0.0.0:1' })).code, 0);
    t.ok(proxy.tunnels > 0, 'another port: proxied');
    reset(proxy);
    const loop = await cli(['inspect', `${tlsReg.host}/net/app:v1`], viaProxy);
    t.equal(loop.code, 0, loop.stderr);
    t.equal(proxy.targets.length, 0, '127.0.0.1 is never proxied (Go’s rule)');
  });

  t.test('HTTP_PROXY: an insecure plain-HTTP registry, sent as absolute-URL requests', async (t) => {
    reset(proxy);
    const r = await cli(['inspect', `plain.test:${port(plainReg)}/net/app:v1`, '--tls-verify=false'], { HTTP_PROXY: `http://${proxy.host}`, HTTPS_PROXY: `http://${proxy.host}` });
    t.equal(r.code, 0, r.stderr);
    t.ok(proxy.forwarded > 0, `${proxy.forwarded} requests forwarded`);
  });

  t.test('credentials in the proxy URL: sent to the proxy, shown nowhere', async (t) => {
    const password = 'pr0xy s3cr@t:x';
    const locked = await started(startConnectProxy({ hosts, credentials: { user: 'builder', password } }));
    const url = (pw: string): string => `http://builder:${encodeURIComponent(pw)}@${locked.host}`;
    const secrets = [password, encodeURIComponent(password), Buffer.from(`builder:${password}`).toString('base64'), 'builder:'];
    const ref = `registry.test:${port(tlsReg)}/net/app:v1`;

    const ok = await cli(['inspect', ref], { SSL_CERT_FILE: bundle, HTTPS_PROXY: url(password) });
    t.equal(ok.code, 0, ok.stderr);
    t.ok(locked.tunnels > 0);
    t.ok(locked.authorizations.length > 0 && locked.authorizations.every((a) => a === `Basic ${Buffer.from(`builder:${password}`).toString('base64')}`), 'Proxy-Authorization on every CONNECT');
    for (const s of secrets) t.notOk(ok.stdout.includes(s) || ok.stderr.includes(s), `output holds no ${s}`);

    const wrong = await cli(['inspect', ref, '--retry', '2', '--retry-delay', '1'], { SSL_CERT_FILE: bundle, HTTPS_PROXY: url('wrong password') });
    t.equal(wrong.code, 2);
    t.match(errorLine(t, wrong), new RegExp(`proxy http://127\\.0\\.0\\.1:${locked.port} \\(HTTPS_PROXY\\) refused its credentials for registry ${ref.split('/')[0]} \\(407 Proxy Authentication Required\\): put the right user and password in HTTPS_PROXY`));
    t.notMatch(wrong.stderr, /retrying/, 'a 407 is not retried');
    for (const s of ['wrong password', encodeURIComponent('wrong password'), 'builder:']) t.notOk(wrong.stderr.includes(s), `error holds no ${s}`);
  });

  t.test('a proxy that will not tunnel: retried when it may pass (503), at once when its rules refuse (403)', async (t) => {
    const ref = `registry.test:${port(tlsReg)}/net/app:v1`;
    for (const [status, attempts] of [[503, 2], [403, 1]] as const) {
      const refusing = await started(startConnectProxy({ hosts, connectStatus: status }));
      const r = await cli(['inspect', ref, '--retry', '2', '--retry-delay', '1'], { SSL_CERT_FILE: bundle, HTTPS_PROXY: `http://${refusing.host}` });
      t.equal(r.code, 2);
      t.equal((r.stderr.match(/retrying/g) ?? []).length, attempts - 1, `${status}: ${attempts} attempt(s)`);
      t.match(
        errorLine(t, r),
        `proxy http://${refusing.host} (HTTPS_PROXY) would not open a tunnel to registry.test:${port(tlsReg)} (CONNECT answered ${status})${attempts > 1 ? ` after ${attempts} attempts` : ''}: check that the proxy allows registry.test:${port(tlsReg)}, or add it to NO_PROXY`,
      );
    }
  });

  t.test('HTTP_PROXY that wants other credentials (407 to a forwarded request)', async (t) => {
    const locked = await started(startConnectProxy({ hosts, credentials: { user: 'builder', password: 'right' } }));
    const r = await cli(['inspect', `plain.test:${port(plainReg)}/net/app:v1`, '--tls-verify=false'], {
      HTTPS_PROXY: `http://${proxy.host}`,
      HTTP_PROXY: `http://builder:wrong@${locked.host}`,
    });
    t.equal(r.code, 2);
    t.ok(locked.refused > 0);
    t.match(errorLine(t, r), `proxy http://${locked.host} (HTTP_PROXY) refused its credentials for registry plain.test:${port(plainReg)} (407 Proxy Authentication Required)`);
    t.notMatch(r.stderr, /wrong|builder:/);
  });

  t.test('a proxy that is down: one line naming it and the variable', async (t) => {
    const down = await freePort();
    const r = await cli(['inspect', `registry.test:${port(tlsReg)}/net/app:v1`, '--retry', '2', '--retry-delay', '1'], { SSL_CERT_FILE: bundle, HTTPS_PROXY: `http://127.0.0.1:${down}` });
    t.equal(r.code, 2);
    t.match(
      errorLine(t, r),
      new RegExp(`^oci-s2i: cannot reach proxy http://127\\.0\\.0\\.1:${down} \\(HTTPS_PROXY\\) for registry registry\\.test:${port(tlsReg)} \\(ECONNREFUSED\\) after 2 attempts: check HTTPS_PROXY`),
    );
  });
});

t.test('--retry: refused connections are retried with the backoff', async (t) => {
  t.test('a registry that starts listening after the first attempts: success', async (t) => {
    const late = await freePort();
    let forwarded = 0;
    const server = net.createServer((c) => {
      forwarded++;
      const up = net.connect(port(plainReg), '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    stops.push(() => new Promise((ok) => server.close(() => ok())));
    const child = spawn(process.execPath, [cliPath, 'inspect', `127.0.0.1:${late}/net/app:v1`, '--retry', '10', '--retry-delay', '100'], {
      cwd: projectRoot,
      env: { ...process.env, ...baseEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let listening = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // After two refused attempts, the registry comes up.
      if (!listening && (stderr.match(/retrying/g) ?? []).length >= 2) {
        listening = true;
        server.listen(late, '127.0.0.1');
      }
    });
    child.stdout.resume();
    const code = await new Promise<number>((ok) => child.once('close', (c) => ok(c ?? -1)));
    t.equal(code, 0, stderr);
    const retries = stderr.match(/warning: registry 127\.0\.0\.1:\d+: GET https:\/\/127\.0\.0\.1:\d+\/v2\/ failed \(ECONNREFUSED\); retrying in \d+\.\d s \(attempt \d+ of 10\)/g) ?? [];
    t.ok(retries.length >= 2, `${retries.length} retries said`);
    t.ok(forwarded > 0, 'then served by the late listener');
  });

  t.test('never there: N attempts, then one line saying what failed and what to do', async (t) => {
    const never = await freePort();
    const r = await cli(['inspect', `127.0.0.1:${never}/net/app:v1`, '--retry', '3', '--retry-delay', '1']);
    t.equal(r.code, 2);
    t.equal((r.stderr.match(/retrying/g) ?? []).length, 2, 'tried 3 times');
    t.match(errorLine(t, r), `cannot reach registry 127.0.0.1:${never} at https://127.0.0.1:${never} (ECONNREFUSED) after 3 attempts: check the address, that it is running, and --tls-verify`);
  });
});

t.test('mTLS: a refused client certificate is said to be refused, never a 400 from plain HTTP', async (t) => {
  const host = mtlsReg.host;
  const certsD = (name: string, files: Record<string, string>): string => {
    const root = path.join(dir, `certs.d-${name}`);
    mkdirSync(path.join(root, host), { recursive: true });
    for (const [to, from] of Object.entries(files)) copyFileSync(from, path.join(root, host, to));
    return root;
  };
  const ref = `${host}/net/app:v1`;

  const none = await cli(['inspect', ref], { OCI_S2I_CERTS_D: certsD('ca-only', { 'ca.crt': certs.caCert }) });
  t.equal(none.code, 2);
  const noneLine = errorLine(t, none);
  // distribution 2.8 (Go) answers a missing certificate with `bad certificate`; OpenSSL servers with `certificate required`.
  t.match(noneLine, `registry ${host} requires a client certificate (TLS alert: `);
  t.match(noneLine, `) and none is configured: put NAME.cert and NAME.key in ${path.join(dir, 'certs.d-ca-only', host)}`);
  t.notMatch(noneLine, /400|http:\/\//);
  t.notMatch(none.stderr, /retrying/, 'not retried');

  const wrongRoot = certsD('wrong', { 'ca.crt': certs.caCert, 'client.cert': other.clientCert, 'client.key': other.clientKey });
  const wrong = await cli(['inspect', ref], { OCI_S2I_CERTS_D: wrongRoot });
  t.equal(wrong.code, 2);
  t.match(errorLine(t, wrong), new RegExp(`registry ${host} refused the client certificate ${path.join(wrongRoot, host, 'client.cert')} \\(TLS alert: [a-z ]+\\): check that it is issued by a CA the registry trusts`));

  // Also without any CA of its own (the CA in SSL_CERT_FILE): the client certificate alone gives the registry a pool.
  const right = await cli(['inspect', ref], { OCI_S2I_CERTS_D: certsD('right', { 'ca.crt': certs.caCert, 'client.cert': certs.clientCert, 'client.key': certs.clientKey }) });
  t.equal(right.code, 0, right.stderr);
});
