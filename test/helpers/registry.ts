// Starts the real distribution registry (Debian's docker-registry) on a free loopback port.
// Every test that starts one must call stop() (use t.teardown), also when it fails.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { diesWithParent } from '../../src/sys/child-lifetime.js';

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Require basic auth with this user/password (htpasswd, bcrypt). */
  htpasswd?: { user: string; password: string };
  /** Extra YAML appended under `auth:` (e.g. a token config). Mutually exclusive with htpasswd. */
  authYaml?: string;
  /** Serve HTTPS with this certificate and key (PEM files); `clientCas` makes the registry require client certificates signed by them. */
  tls?: { certificate: string; key: string; clientCas?: string[] };
}

export interface TestCertificates {
  dir: string;
  /** The CA that signed the server and client certificates. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * A throw-away CA, a server certificate for 127.0.0.1/localhost (and `altNames` in openssl's syntax, e.g.
 * `DNS:registry.test` for a name a test proxy resolves) and a client certificate, made with openssl (EC P-256, fast).
 */
export function makeTestCertificates(dir: string, opts: { altNames?: string[] } = {}): TestCertificates {
  const f = (n: string): string => path.join(dir, n);
  const ossl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=oci-s2i test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const sign = (name: string, subject: string, ext: string): void => {
    ossl(['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject]);
    writeFileSync(f(`${name}.ext`), ext);
    ossl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`)]);
  };
  const names = ['IP:127.0.0.1', 'DNS:localhost', ...(opts.altNames ?? [])].join(',');
  sign('server', '/CN=127.0.0.1', `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
  sign('client', '/CN=oci-s2i test client', 'extendedKeyUsage=clientAuth\n');
  return { dir, caCert: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Status of GET /v2/ over HTTPS without verifying the certificate (the test CA is not trusted here). */
function httpsStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${url}/v2/`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

async function waitReady(url: string, proc: ChildProcess, deadlineMs: number): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited with ${proc.exitCode}`);
    try {
      let status: number;
      if (url.startsWith('https:')) {
        // With client CAs configured the handshake fails without a client certificate: a TLS answer is enough.
        status = await httpsStatus(url).catch((e: { code?: string }) => (/CERT|SSL|ECONNRESET/.test(String(e.code)) ? 200 : Promise.reject(e)));
      } else {
        const res = await fetch(`${url}/v2/`);
        await res.arrayBuffer();
        status = res.status;
      }
      if (status === 200 || status === 401) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() - start > deadlineMs) throw new Error('docker-registry did not start within ' + deadlineMs + 'ms');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-registry-'));
  let auth = '';
  if (opts.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', file, opts.htpasswd.user, opts.htpasswd.password], { stdio: 'ignore' });
    auth = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${file}\n`;
  } else if (opts.authYaml) {
    auth = `auth:\n${opts.authYaml}`;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'config.yml');
    const tls = opts.tls
      ? `  tls:\n    certificate: ${opts.tls.certificate}\n    key: ${opts.tls.key}\n${
          opts.tls.clientCas?.length ? `    clientcas:\n${opts.tls.clientCas.map((c) => `      - ${c}\n`).join('')}` : ''
        }`
      : '';
    writeFileSync(
      config,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: test-secret\n${tls}${auth}`,
    );
    // Dies with this process however it ends (SIGKILL included: a parent-death signal), and stays in its
    // process group (no `detached`), which the test runner kills when the file ends.
    const wrapper = diesWithParent();
    const proc = spawn(wrapper[0]!, [...wrapper.slice(1), 'docker-registry', 'serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    try {
      await waitReady(url, proc, 10_000);
    } catch (e) {
      proc.kill('SIGKILL');
      if (/address already in use/.test(stderr)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${(e as Error).message}: ${stderr}`);
    }
    return {
      host: `127.0.0.1:${port}`,
      url,
      dataDir: `${dir}/data`,
      async stop() {
        // Idempotent: a registry a test stopped itself (a stopped upstream) is stopped again by its teardown.
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise((r) => proc.once('exit', r));
          proc.kill('SIGTERM');
          const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('could not find a free port for docker-registry');
}
