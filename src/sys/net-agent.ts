// The undici Agent every HTTP client of the engine uses (registry requests, script downloads, callbacks): an
// Agent whose connector
// - trusts Node's roots plus the system store (trust.ts), built on the first TLS connection that verifies;
// - reaches https:// origins through HTTPS_PROXY with an HTTP CONNECT tunnel, the origin's own TLS options (a
//   registry's certs.d CAs and client certificate, --tls-verify) applying inside the tunnel, as Go's transport
//   does; http:// origins go to HTTP_PROXY as absolute-URL requests (RFC 9112 §3.2.2), as Go sends them;
// - says, when a proxy is involved, that the proxy failed (`ProxyError`), not the origin.
// Which origin uses which proxy is proxy.ts (Go's rules). The proxy's credentials (the URL's user:password) go
// in Proxy-Authorization to the proxy only and appear in no message.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from './http-client.js';
import { proxyFor, proxyRules, type ProxyRules, type ProxyServer } from './proxy.js';
import { defaultTrustedContext, unverifiedContext, type Warn } from './trust.js';

/** How long a proxy may take to answer CONNECT (undici's own connect timeout is 10 s too). */
const TUNNEL_TIMEOUT_MS = 10_000;
/** A CONNECT answer's head larger than this is no answer. */
const MAX_TUNNEL_HEAD = 16 * 1024;

export type ProxyErrorCode =
  /** The proxy could not be reached (the cause says why: ECONNREFUSED, ENOTFOUND, …). */
  | 'PROXY_UNREACHABLE'
  /** The proxy answered CONNECT with another status than 2xx (`status`). */
  | 'PROXY_TUNNEL'
  /** The proxy's scheme is not one we speak (socks5). */
  | 'PROXY_UNSUPPORTED';

/** A failure of the proxy between us and an origin. Its message names the proxy without its credentials. */
export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    readonly proxy: Pick<ProxyServer, 'display' | 'variable'>,
    readonly status?: number,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts);
    this.name = 'ProxyError';
  }
}

/** The ProxyError in `e` or its causes. */
export function proxyErrorOf(e: unknown): ProxyError | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (cur instanceof ProxyError) return cur;
  }
  return undefined;
}

/** What the connections of an agent verify and trust. */
export interface NetTlsOptions {
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** Trust (and client certificates) of its own; without it or `ca`, `defaultTrustedContext()`. */
  secureContext?: SecureContext;
  /** Exactly these CA certificates (`[]`: none). */
  ca?: string[];
}

export interface NetAgentOptions extends Omit<Agent.Options, 'connect'> {
  /**
   * TLS options of the connections. Without `secureContext` or `ca`, a connection that verifies trusts
   * `defaultTrustedContext()` (Node's roots and the system store), built on the first one.
   */
  connection?: NetTlsOptions;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Warnings about the trust store (unreadable files, broken certificates), once per process. */
  onWarning?: Warn;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function endpoint(host: string, port: string | number): string {
  const h = unbracket(host).toLowerCase();
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

function proxyPort(p: ProxyServer): number {
  return Number(p.url.port) || defaultPort(p.url.protocol);
}

function unsupported(p: ProxyServer): ProxyError {
  return new ProxyError('PROXY_UNSUPPORTED', `proxy ${p.display} (${p.variable}): only http:// and https:// proxies are supported`, p);
}

function unreachable(p: ProxyServer, cause: Error): ProxyError {
  const code = (cause as { code?: string }).code;
  return new ProxyError('PROXY_UNREACHABLE', `cannot reach proxy ${p.display} (${p.variable})${code ? ` (${code})` : ''}`, p, undefined, { cause });
}

/**
 * Asks `proxy`, over `socket` (connected to it), for a tunnel to `target` (host:port); calls back with the same
 * socket once the proxy answered 2xx.
 */
function requestTunnel(socket: Socket, proxy: ProxyServer, target: string, cb: (err: Error | null, socket: Socket | null) => void): void {
  let head = Buffer.alloc(0);
  let done = false;
  const finish = (err: Error | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('end', onEnd);
    if (err) {
      socket.destroy();
      cb(err, null);
    } else cb(null, socket);
  };
  const onError = (e: Error): void => finish(unreachable(proxy, e));
  const onEnd = (): void => finish(unreachable(proxy, Object.assign(new Error('the proxy closed the connection'), { code: 'ECONNRESET' })));
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_TUNNEL_HEAD) finish(new ProxyError('PROXY_TUNNEL', `proxy ${proxy.display} (${proxy.variable}) sent no HTTP answer to CONNECT ${target}`, proxy));
      return;
    }
    const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(line);
    const status = m ? Number(m[1]) : 0;
    if (status < 200 || status > 299) {
      const reason = (m?.[2] ?? '').replace(/[^\x20-\x7e]/g, ' ').slice(0, 80);
      finish(new ProxyError('PROXY_TUNNEL', `proxy ${proxy.display} (${proxy.variable}) answered ${status || 'garbage'}${reason ? ` ${reason}` : ''} to CONNECT ${target}`, proxy, status));
      return;
    }
    const rest = head.subarray(end + 4);
    if (rest.length > 0) socket.unshift(rest);
    finish(null);
  };
  const timer = setTimeout(
    () => finish(unreachable(proxy, Object.assign(new Error(`no answer to CONNECT within ${TUNNEL_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }))),
    TUNNEL_TIMEOUT_MS,
  );
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('end', onEnd);
  const auth = proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : '';
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
}

/**
 * Keeps a TLS alert the server sent (a refused client certificate arrives so with TLS 1.3, after the handshake)
 * as the cause of the error undici then reports: undici answers the 'end' that follows the alert with its own
 * "other side closed", which would hide the alert. This listener is on the socket before undici's, so it sees
 * that error first.
 */
function keepTlsAlert(socket: Socket): void {
  let alert: Error | undefined;
  socket.on('error', (e: Error & { code?: string; cause?: unknown }) => {
    if (/^ERR_SSL_\w+_ALERT_/.test(e.code ?? '')) alert ??= e;
    else if (alert && e !== alert && e.cause === undefined) e.cause = alert;
  });
}

function netConnector(tlsOpts: NetTlsOptions, rules: ProxyRules, warn: Warn | undefined): buildConnector.connector {
  const direct = buildConnector(tlsOpts);
  const verifies = tlsOpts.rejectUnauthorized !== false && !tlsOpts.secureContext && !tlsOpts.ca;
  // A connection that checks no certificate and brings no context of its own needs no CA either.
  const bare = tlsOpts.rejectUnauthorized === false && !tlsOpts.secureContext && !tlsOpts.ca;
  let trusted: buildConnector.connector | undefined;
  let unchecked: buildConnector.connector | undefined;
  const forTls = (): buildConnector.connector => {
    if (bare) return (unchecked ??= buildConnector({ ...tlsOpts, secureContext: unverifiedContext() }));
    if (!verifies) return direct;
    return (trusted ??= buildConnector({ ...tlsOpts, secureContext: defaultTrustedContext(warn) }));
  };
  const servers = [rules.http, rules.https].filter((p): p is ProxyServer => p !== undefined);
  const proxyAt = (host: string, port: number): ProxyServer | undefined => servers.find((p) => endpoint(p.url.hostname, proxyPort(p)) === endpoint(host, port));

  return (o, done) => {
    let connect: buildConnector.connector;
    try {
      connect = o.protocol === 'https:' ? forTls() : direct;
    } catch (e) {
      done(e as Error, null);
      return;
    }
    const cb: buildConnector.Callback = (err, socket) => {
      if (socket && o.protocol === 'https:') keepTlsAlert(socket);
      (done as (e: Error | null, s: Socket | null) => void)(err, socket);
    };
    const port = Number(o.port) || defaultPort(o.protocol);
    // A connection to a proxy itself (an http:// request sent to HTTP_PROXY) is made directly.
    const toProxy = proxyAt(o.hostname, port);
    if (toProxy) {
      connect(o, (err, socket) => (err ? cb(unreachable(toProxy, err), null) : cb(null, socket!)));
      return;
    }
    const proxy = o.protocol === 'https:' && !o.httpSocket ? proxyFor(rules, 'https:', o.hostname, port) : undefined;
    if (!proxy) {
      connect(o, cb);
      return;
    }
    if (proxy.url.protocol !== 'http:' && proxy.url.protocol !== 'https:') {
      cb(unsupported(proxy), null);
      return;
    }
    // The proxy itself, over TLS for an https:// proxy (trusting what the origin would); then the tunnel; then
    // the origin's TLS inside it.
    const toProxyOpts = { hostname: proxy.url.hostname, host: proxy.url.host, protocol: proxy.url.protocol, port: String(proxyPort(proxy)) };
    const proxyConnect = proxy.url.protocol === 'https:' ? forTls() : direct;
    proxyConnect(toProxyOpts, (err, socket) => {
      if (err) return cb(unreachable(proxy, err), null);
      requestTunnel(socket!, proxy, endpoint(o.hostname, port), (terr, tunnel) => {
        if (terr) return cb(terr, null);
        connect({ ...o, httpSocket: tunnel! }, cb);
      });
    });
  };
}

/** Headers of a dispatch as a plain object (undici also takes flat arrays of name, value). */
function headerObject(h: Dispatcher.DispatchOptions['headers']): Record<string, string | string[] | undefined> {
  if (!h) return {};
  if (Array.isArray(h)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < h.length; i += 2) out[String(h[i])] = String(h[i + 1]);
    return out;
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') return Object.fromEntries(h as Iterable<[string, string]>);
  return { ...(h as Record<string, string | string[] | undefined>) };
}

/** An undici Agent that honours the proxy variables and the system trust store (see the top of this file). */
export class NetAgent extends Agent {
  private readonly rules: ProxyRules;

  constructor(opts: NetAgentOptions = {}) {
    const { connection = {}, env = process.env, onWarning, ...agentOpts } = opts;
    const rules = proxyRules(env);
    super({ ...agentOpts, connect: netConnector(connection, rules, onWarning) });
    this.rules = rules;
  }

  /** The proxy requests to `url` go through, or undefined (for messages). */
  proxyFor(url: URL): ProxyServer | undefined {
    return proxyFor(this.rules, url.protocol, url.hostname, url.port);
  }

  override dispatch(opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = opts.origin === undefined ? undefined : new URL(String(opts.origin));
    const proxy = origin?.protocol === 'http:' ? proxyFor(this.rules, 'http:', origin.hostname, origin.port) : undefined;
    if (!origin || !proxy) return super.dispatch(opts, handler);
    if (proxy.url.protocol !== 'http:' && proxy.url.protocol !== 'https:') throw unsupported(proxy);
    const headers = { ...headerObject(opts.headers), host: origin.host, ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}) };
    return super.dispatch({ ...opts, origin: proxy.url.origin, path: `${origin.origin}${opts.path}`, headers }, handler);
  }
}

