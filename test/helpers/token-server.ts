// A token server for distribution's `auth: token` mode: issues RS256 JWTs signed with a test key made at
// test time (openssl CLI, self-signed cert put in the registry's rootcertbundle and sent as x5c), so the
// real registry verifies real tokens. Records every token request (scopes, credentials used).
import { execFileSync } from 'node:child_process';
import { createSign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TokenRequest {
  method: string;
  service: string | null;
  scopes: string[];
  /** Username that authenticated, or undefined for anonymous. */
  user?: string;
}

export interface TokenServerOptions {
  /** Users allowed to authenticate (user → password). Anonymous callers get pull only. */
  users?: Record<string, string>;
  /** expires_in of issued tokens, seconds. Default 300. */
  expiresIn?: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  /** YAML for startRegistry({authYaml}). */
  authYaml: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-token-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=oci-s2i-test-token-issuer'], { stdio: 'ignore' });
  const key = readFileSync(keyFile);
  const certDer = new X509Certificate(readFileSync(certFile)).raw;
  const service = 'oci-s2i-test-registry';
  const issuer = 'oci-s2i-test-issuer';
  const requests: TokenRequest[] = [];

  const sign = (sub: string, access: { type: string; name: string; actions: string[] }[], expiresIn: number): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub, aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: `${now}-${Math.random()}`, access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(key);
    return `${input}.${b64url(sig)}`;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    req.on('end', () => {
      if (url.pathname !== '/token' || req.method !== 'GET') return void res.writeHead(404).end();
      let user: string | undefined;
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        if (!u || opts.users?.[u] !== rest.join(':')) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        user = u;
      }
      const scopes = url.searchParams.getAll('scope');
      requests.push({ method: req.method, service: url.searchParams.get('service'), scopes, ...(user ? { user } : {}) });
      const access = scopes.flatMap((s) => {
        // repository:NAME:ACTIONS, NAME may hold host:port
        const first = s.indexOf(':');
        const last = s.lastIndexOf(':');
        if (first < 0 || last === first) return [];
        const wanted = s.slice(last + 1).split(',');
        const actions = user ? wanted : wanted.filter((a) => a === 'pull');
        return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions }];
      });
      const expiresIn = opts.expiresIn ?? 300;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: sign(user ?? '', access, expiresIn), expires_in: expiresIn }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return {
    realm,
    service,
    authYaml: `  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${certFile}\n`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
