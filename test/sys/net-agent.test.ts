// NetAgent against real sockets on loopback: an HTTPS origin reached through a CONNECT tunnel (over a plain and
// over a TLS proxy) with the trust store of SSL_CERT_FILE inside it, one tunnel per kept-alive connection, an
// http:// origin sent to HTTP_PROXY with the whole URL, and each way a proxy fails as a ProxyError that names it
// without its credentials.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { NetAgent, ProxyError } from '../../src/sys/net-agent.js';
import { freePort, makeTestCertificates } from '../helpers/registry.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-net-agent-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(path.join(dir, 'certs'));
const certs = makeTestCertificates(path.join(dir, 'certs'), { altNames: ['DNS:origin.test'] });
// The CA is trusted only through SSL_CERT_FILE, read at this process's first verified TLS connection.
process.env.SSL_CERT_FILE = certs.caCert;
process.env.SSL_CERT_DIR = path.join(dir, 'no-such-dir');

const seen: http.IncomingHttpHeaders[] = [];
let originConnections = 0;
const answer: http.RequestListener = (req, res) => {
  seen.push(req.headers);
  res.end(`hello ${req.url}`);
};
async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  return (server.address() as AddressInfo).port;
}
const httpsServer = https.createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, answer);
httpsServer.on('secureConnection', () => originConnections++);
const httpsPort = await listen(httpsServer);
const httpPort = await listen(http.createServer(answer));
const hosts = { 'origin.test': httpsPort, 'plain.test': httpPort };

async function get(agent: NetAgent, url: string): Promise<string> {
  const u = new URL(url);
  const res = await agent.request({ origin: u.origin, path: u.pathname, method: 'GET' });
  return `${res.statusCode} ${await res.body.text()}`;
}
function agentFor(env: NodeJS.ProcessEnv): NetAgent {
  const a = new NetAgent({ env });
  t.teardown(() => a.close());
  return a;
}

t.test('HTTPS through a CONNECT tunnel, trusted by SSL_CERT_FILE inside it; one tunnel per connection', async (t) => {
  const proxy = await startConnectProxy({ hosts });
  t.teardown(() => proxy.stop());
  const agent = agentFor({ HTTPS_PROXY: `http://${proxy.host}` });
  originConnections = 0;
  for (const p of ['a', 'b', 'c', 'd', 'e']) t.equal(await get(agent, `https://origin.test:${httpsPort}/${p}`), `200 hello /${p}`);
  t.equal(proxy.tunnels, originConnections, 'a tunnel per TLS connection');
  t.ok(proxy.tunnels < 5, `${proxy.tunnels} tunnels for 5 requests: kept-alive connections reuse theirs`);
  t.same([...new Set(proxy.targets)], [`origin.test:${httpsPort}`]);
});

t.test('an https:// proxy: TLS to the proxy, the origin’s TLS inside', async (t) => {
  const proxy = await startConnectProxy({ hosts, tls: { certificate: certs.serverCert, key: certs.serverKey } });
  t.teardown(() => proxy.stop());
  const agent = agentFor({ HTTPS_PROXY: `https://localhost:${proxy.port}` });
  t.equal(await get(agent, `https://origin.test:${httpsPort}/tls`), '200 hello /tls');
  t.equal(proxy.tunnels, 1);
});

t.test('http:// to HTTP_PROXY with the whole URL; its credentials go to the proxy only', async (t) => {
  const proxy = await startConnectProxy({ hosts, credentials: { user: 'u', password: 'p w' } });
  t.teardown(() => proxy.stop());
  const agent = agentFor({ HTTP_PROXY: `http://u:p%20w@${proxy.host}` });
  seen.length = 0;
  t.equal(await get(agent, `http://plain.test:${httpPort}/fwd`), '200 hello /fwd');
  t.equal(proxy.forwarded, 1);
  t.equal(proxy.tunnels, 0);
  t.same(proxy.authorizations, [`Basic ${Buffer.from('u:p w').toString('base64')}`]);
  t.equal(seen[0]?.host, `plain.test:${httpPort}`, 'the origin sees its own Host');
  t.equal(seen[0]?.['proxy-authorization'], undefined, 'and no proxy credentials');
});

t.test('how a proxy fails: ProxyError naming it, never its credentials', async (t) => {
  const refusing = await startConnectProxy({ hosts, connectStatus: 403 });
  t.teardown(() => refusing.stop());
  const e1 = (await get(agentFor({ HTTPS_PROXY: `http://u:secret@${refusing.host}` }), `https://origin.test:${httpsPort}/`).catch((e: unknown) => e)) as ProxyError;
  t.ok(e1 instanceof ProxyError);
  t.equal(e1.code, 'PROXY_TUNNEL');
  t.equal(e1.status, 403);
  t.equal(e1.message, `proxy http://${refusing.host} (HTTPS_PROXY) answered 403 Refused by the rules to CONNECT origin.test:${httpsPort}`);

  const down = await freePort();
  const e2 = (await get(agentFor({ https_proxy: `u:secret@127.0.0.1:${down}` }), `https://origin.test:${httpsPort}/`).catch((e: unknown) => e)) as ProxyError;
  t.equal(e2.code, 'PROXY_UNREACHABLE');
  t.equal((e2.cause as { code?: string }).code, 'ECONNREFUSED');
  t.equal(e2.message, `cannot reach proxy http://127.0.0.1:${down} (https_proxy) (ECONNREFUSED)`);

  const e3 = (await get(agentFor({ HTTPS_PROXY: 'socks5://127.0.0.1:1' }), `https://origin.test:${httpsPort}/`).catch((e: unknown) => e)) as ProxyError;
  t.equal(e3.code, 'PROXY_UNSUPPORTED');
  const e4 = (await get(agentFor({ HTTP_PROXY: 'socks5://127.0.0.1:1' }), `http://plain.test:${httpPort}/`).catch((e: unknown) => e)) as ProxyError;
  t.equal(e4.code, 'PROXY_UNSUPPORTED');
  for (const e of [e1, e2, e3, e4]) t.notMatch(e.message, /secret|u:/);
});

t.test('loopback and NO_PROXY connect directly', async (t) => {
  const proxy = await startConnectProxy({ hosts });
  t.teardown(() => proxy.stop());
  const agent = agentFor({ HTTPS_PROXY: `http://${proxy.host}`, HTTP_PROXY: `http://${proxy.host}`, NO_PROXY: 'elsewhere.example' });
  t.equal(await get(agent, `https://localhost:${httpsPort}/l`), '200 hello /l');
  t.equal(await get(agent, `http://127.0.0.1:${httpPort}/p`), '200 hello /p');
  t.equal(proxy.targets.length + proxy.forwarded, 0);
});
