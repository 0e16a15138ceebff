// A forward proxy on a real loopback socket, as a corporate proxy would be: HTTP CONNECT tunnels (for https://
// origins) and absolute-URL requests (for http:// origins), optional Basic credentials (407 without them), and
// a `hosts` table that stands for the proxy's DNS: a client behind a proxy never resolves the origin's name
// itself, so names only the proxy knows (registry.test) reach loopback registries through it. Everything it
// connects to is on 127.0.0.1; any other target is refused with 403. Every tunnel and request is counted, and
// the Proxy-Authorization values it received are kept for the test to check.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectProxyOptions {
  /** Name → port on 127.0.0.1 (names not listed, and IP targets other than 127.0.0.1, are refused). */
  hosts?: Record<string, number>;
  /** Require `Proxy-Authorization: Basic base64(user:password)`. */
  credentials?: { user: string; password: string };
  /** Speak TLS to clients (an https:// proxy) with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string };
  /** Answer every CONNECT with this status instead of a tunnel (a proxy whose rules refuse the target). */
  connectStatus?: number;
}

export interface ConnectProxy {
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  /** CONNECT requests that got a tunnel. */
  tunnels: number;
  /** Absolute-URL requests forwarded (http:// origins). */
  forwarded: number;
  /** Requests answered 407 (no or wrong credentials). */
  refused: number;
  /** Every Proxy-Authorization header received. */
  authorizations: string[];
  /** CONNECT targets as asked (`host:port`). */
  targets: string[];
  stop(): Promise<void>;
}

export async function startConnectProxy(opts: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const sockets = new Set<net.Socket>();
  const expected = opts.credentials ? `Basic ${Buffer.from(`${opts.credentials.user}:${opts.credentials.password}`).toString('base64')}` : undefined;
  const resolve = (host: string, port: number): number | undefined => {
    const h = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (h === '127.0.0.1') return port;
    const mapped = opts.hosts?.[h];
    return mapped;
  };
  const authorized = (h: http.IncomingHttpHeaders): boolean => {
    const got = h['proxy-authorization'];
    if (got !== undefined) state.authorizations.push(got);
    return expected === undefined || got === expected;
  };
  const handler: http.RequestListener = (req, res) => {
    // An absolute-URL request for an http:// origin.
    if (!authorized(req.headers)) {
      state.refused++;
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', connection: 'close' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const port = resolve(target.hostname, Number(target.port) || 80);
    if (port === undefined || target.protocol !== 'http:') {
      res.writeHead(403).end();
      return;
    }
    state.forwarded++;
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: `${target.pathname}${target.search}`, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  };
  const server = opts.tls ? https.createServer({ cert: readFileSync(opts.tls.certificate), key: readFileSync(opts.tls.key) }, handler) : http.createServer(handler);
  server.on(opts.tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    state.targets.push(target);
    client.on('error', () => {});
    if (!authorized(req.headers)) {
      state.refused++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (opts.connectStatus !== undefined) {
      client.end(`HTTP/1.1 ${opts.connectStatus} Refused by the rules\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
    const port = m ? resolve(m[1]!, Number(m[2])) : undefined;
    if (port === undefined) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const up = net.connect({ host: '127.0.0.1', port });
    sockets.add(up);
    up.once('close', () => sockets.delete(up));
    up.once('connect', () => {
      state.tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => {
      if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const state: ConnectProxy = {
    host: `127.0.0.1:${port}`,
    port,
    tunnels: 0,
    forwarded: 0,
    refused: 0,
    authorizations: [],
    targets: [],
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
  return state;
}
