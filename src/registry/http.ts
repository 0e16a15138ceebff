// One registry request with everything around it: Authorization (challenge → token → retry once, wider
// scope on insufficient_scope), retries (429/5xx, dropped, refused and unresolved connections, replayable
// bodies only), redirects (Authorization dropped when the host changes), Warning headers, and errors mapped to
// RegistryError. Connections go through sys/net-agent.ts (system trust store, HTTPS_PROXY/NO_PROXY).
// Every response that is not handed back is consumed or destroyed.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from '../sys/http-client.js';
import { NetAgent, proxyErrorOf, type NetTlsOptions } from '../sys/net-agent.js';
import type { Warn } from '../sys/trust.js';
import type { ProgressSink } from '../events.js';
import { Authenticator, parseChallenges, readCapped } from './auth.js';
import type { Credentials } from './credentials.js';
import { MAX_ERROR_BODY, RegistryError, clientCertError, proxyError, redactUrl, registryErrorFromResponse, tlsError, unreachableError } from './errors.js';
import {
  certDirHint,
  certHint,
  clientCertificateRefusal,
  isCertificateError,
  loadRegistryTls,
  secureContextFor,
  tlsAlert,
  type RegistryTls,
  type TlsLookupOptions,
} from './tls.js';
import { isLoopbackHost, registryApiHost } from '../oci/reference.js';
import {
  backoffDelay,
  isRetryableStatus,
  isTransientNetworkError,
  isUnreachableError,
  maxRetryAfterMs,
  parseRetryAfter,
  sleep,
  type RetryPolicy,
} from './retry.js';
import { S2IError } from '../errors.js';

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  /** host[:port] as the user wrote it: keys credentials and the login hint. */
  registry: string;
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer/string body is replayable (retried, re-sent after a challenge); a stream is sent once. */
  body?: Buffer | string | Readable;
  scopes: string[];
  /** Statuses handed back to the caller; anything else becomes an error (after retries). */
  expect: number[];
  /** For messages, e.g. `manifest app:latest`. */
  what?: string;
  signal?: AbortSignal;
  /** Default: follow for GET and HEAD. */
  followRedirects?: boolean;
  /** Default true; false turns off status/network retries (auth retry still happens). */
  retry?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
  /** The URL that answered (after redirects): relative Locations resolve against it. */
  url: URL;
}

export interface HttpClientOptions {
  tlsVerify: boolean;
  retry: RetryPolicy;
  userAgent: string;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  credentials: (registry: string) => Promise<Credentials | undefined>;
  /** Where per-registry CA and client certificates are found (tls.ts). */
  tls?: TlsLookupOptions;
  /** A request whose answer (headers, or the next body bytes) takes longer than this fails and is retried. */
  requestTimeoutMs: number;
}

const MAX_REDIRECTS = 5;

export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export class HttpClient {
  /** The pool for registries without their own TLS files. */
  readonly dispatcher: NetAgent;
  private probeDispatcher: NetAgent | undefined;
  private readonly agents = new Map<string, Promise<NetAgent>>();
  /** The certs.d files of each registry whose pool was made (for messages about its client certificate). */
  private readonly tlsFiles = new Map<string, RegistryTls>();
  private readonly origins = new Map<string, Promise<string>>();
  private readonly auths = new Map<string, Promise<Authenticator>>();
  private readonly warned = new Set<string>();
  /** Registries registries.conf marks `insecure`: TLS not verified, plain HTTP allowed (as --tls-verify=false). */
  private readonly insecure = new Set<string>();
  private readonly retired: Promise<NetAgent>[] = [];

  /** Trust-store warnings (unreadable files, broken certificates) as warning events when there is a sink. */
  private readonly warn: Warn | undefined;

  constructor(private readonly opts: HttpClientOptions) {
    const sink = opts.onProgress;
    this.warn = sink ? (message) => sink({ type: 'log', level: 'warn', message }) : undefined;
    this.dispatcher = this.newAgent(undefined);
  }

  /**
   * Treats `registry` as --tls-verify=false does (registries.conf `insecure = true`). Called before its first
   * request; a pool or protocol choice made before is dropped.
   */
  allowInsecure(registry: string): void {
    if (this.opts.tlsVerify === false || this.insecure.has(registry)) return;
    this.insecure.add(registry);
    const old = this.agents.get(registry);
    if (old) this.retired.push(old);
    this.agents.delete(registry);
    this.origins.delete(registry);
    this.auths.delete(registry);
  }

  private verifies(registry: string | undefined): boolean {
    return this.opts.tlsVerify && (registry === undefined || !this.insecure.has(registry));
  }

  private newAgent(secureContext: SecureContext | undefined, registry?: string): NetAgent {
    // Without a context of its own, a verifying connection trusts sys/trust.ts's (built on the first one).
    return this.agent({ rejectUnauthorized: this.verifies(registry), ...(secureContext ? { secureContext } : {}) });
  }

  private agent(connection: NetTlsOptions): NetAgent {
    return new NetAgent({
      connection,
      onWarning: this.warn,
      keepAliveTimeout: 10_000,
      // Both are inactivity timeouts: time to the response headers, and between body chunks.
      headersTimeout: this.opts.requestTimeoutMs,
      bodyTimeout: this.opts.requestTimeoutMs,
    });
  }

  /** The pool for `registry`: its own when certs.d/--cert-dir has files for it (also used for its token realm and redirects). */
  dispatcherFor(registry: string): Promise<NetAgent> {
    let a = this.agents.get(registry);
    if (!a) {
      a = loadRegistryTls(registry, this.opts.tls).then((files) => {
        this.tlsFiles.set(registry, files);
        const ctx = secureContextFor(files, this.warn);
        if (!this.verifies(registry)) return this.newAgent(ctx, registry);
        return ctx ? this.newAgent(ctx) : this.dispatcher;
      });
      // A failed lookup (unreadable cert files) is reported on every request, not cached as a rejection forever.
      a.catch(() => this.agents.delete(registry));
      this.agents.set(registry, a);
    }
    return a;
  }

  /**
   * `https://host` or `http://host` for the registry API. Plain HTTP only when asked (`plainHttp: true`), or
   * for loopback registries and with --tls-verify=false, where HTTPS is tried first and plain HTTP used when
   * the server does not speak TLS (docker's rule for insecure registries). A certificate error never
   * downgrades to HTTP.
   */
  originFor(registry: string, plainHttp: boolean | undefined, signal?: AbortSignal): Promise<string> {
    const host = registryApiHost(registry);
    if (plainHttp === true) return Promise.resolve(`http://${host}`);
    if (plainHttp === false || (this.verifies(registry) && !isLoopbackHost(registry))) return Promise.resolve(`https://${host}`);
    let o = this.origins.get(registry);
    if (!o) {
      o = this.probe(registry, host, signal);
      o.catch(() => this.origins.delete(registry));
      this.origins.set(registry, o);
    }
    return o;
  }

  private async probe(registry: string, host: string, signal?: AbortSignal): Promise<string> {
    // The question is only whether the server speaks TLS. Without TLS files of its own (client certificates
    // could be required), ask without verifying and without any root certificate: loading Node's ~140 roots
    // into a context took ~30 ms of every build against a loopback registry, and trust is checked by the real
    // requests, which a certificate problem fails with its own message (a downgrade to HTTP never happens for
    // a server that speaks TLS).
    let dispatcher = await this.dispatcherFor(registry);
    if (dispatcher === this.dispatcher) dispatcher = this.probeDispatcher ??= this.agent({ rejectUnauthorized: false, ca: [] });
    const s = signal ?? this.opts.signal;
    const url = new URL(`https://${host}/v2/`);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await dispatcher.request({ origin: url.origin, path: url.pathname, method: 'GET', headers: { 'user-agent': this.opts.userAgent }, signal: s });
        await discard(res.body);
        return url.origin;
      } catch (e) {
        if (s?.aborted) throw s.reason ?? e;
        // Untrusted certificate, or a TLS alert (a client certificate refused): the server speaks TLS; stay on
        // HTTPS so the request reports it (a downgrade would turn it into a 400 from a TLS port).
        if (isCertificateError(e) || tlsAlert(e) !== undefined) return url.origin;
        // Nobody there (yet), or a proxy that failed: not an answer about TLS. A proxy that will not tunnel to
        // this port (squid allows CONNECT to 443 only, by default) may still forward plain HTTP: skopeo tries
        // plain HTTP after any failed HTTPS ping of an insecure registry.
        const proxy = proxyErrorOf(e);
        const tunnelRefused = proxy?.code === 'PROXY_TUNNEL' && proxy.status !== 407;
        if (!tunnelRefused && (isUnreachableError(e) || proxy)) {
          if (attempt < this.opts.retry.attempts && this.isRetryable(e)) {
            await this.retryDelay(registry, 'GET', url, e, attempt, s);
            continue;
          }
          throw this.failure(registry, url, 'GET', e, attempt);
        }
        return `http://${host}`;
      }
    }
  }

  get retryPolicy(): RetryPolicy {
    return this.opts.retry;
  }

  authenticator(registry: string): Promise<Authenticator> {
    let a = this.auths.get(registry);
    if (!a) {
      let cached: Promise<Credentials | undefined> | undefined;
      a = this.dispatcherFor(registry).then(
        (dispatcher) =>
          new Authenticator(registry, () => (cached ??= this.opts.credentials(registry)), {
            dispatcher,
            userAgent: this.opts.userAgent,
            ...(this.opts.signal ? { signal: this.opts.signal } : {}),
          }),
      );
      a.catch(() => this.auths.delete(registry));
      this.auths.set(registry, a);
    }
    return a;
  }

  async close(): Promise<void> {
    const agents = new Set<NetAgent>([this.dispatcher, ...(this.probeDispatcher ? [this.probeDispatcher] : [])]);
    for (const p of [...this.agents.values(), ...this.retired]) {
      const a = await p.catch(() => undefined);
      if (a) agents.add(a);
    }
    await Promise.all([...agents].map((a) => a.close()));
  }

  /** Sends `req`; resolves with a response whose status is in `req.expect` (the caller owns its body). */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const replayable = req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body);
    const signal = req.signal ?? this.opts.signal;
    const auth = await this.authenticator(req.registry);
    const dispatcher = await this.dispatcherFor(req.registry);
    const apiHost = req.url.host;
    const follow = req.followRedirects ?? (req.method === 'GET' || req.method === 'HEAD');
    const policy = this.opts.retry;
    let url = req.url;
    let method = req.method;
    let attempt = 0;
    let redirects = 0;
    let authTried = false;
    let scopeRetried = false;
    let forcedAuth: string | undefined;

    for (;;) {
      attempt++;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      // Credentials go only to the registry's own host, never to a redirect target (storage, CDN).
      if (url.host === apiHost) {
        const a = forcedAuth ?? (await auth.headerFor(req.scopes));
        if (a) headers.authorization = a;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await dispatcher.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: method as Dispatcher.HttpMethod,
          headers,
          body: method === req.method ? req.body : undefined,
          signal,
        });
      } catch (e) {
        if (signal?.aborted) throw signal.reason ?? e;
        // Our own request-body stream failed (e.g. the upload source had the wrong size): that error, unwrapped.
        if (e instanceof S2IError) throw e;
        if (replayable && req.retry !== false && attempt < policy.attempts && this.isRetryable(e)) {
          await this.retryDelay(req.registry, method, url, e, attempt, signal);
          continue;
        }
        throw this.failure(req.registry, url, method, e, attempt);
      }
      this.reportWarnings(res.headers);
      const status = res.statusCode;

      if (req.expect.includes(status)) return { status, headers: res.headers, body: res.body, url };

      const location = header(res.headers, 'location');
      if (follow && location && [301, 302, 303, 307, 308].includes(status) && redirects < MAX_REDIRECTS) {
        await discard(res.body);
        redirects++;
        attempt--;
        url = new URL(location, url);
        if (status === 303) method = 'GET';
        continue;
      }

      if ((status === 401 || status === 403) && url.host === apiHost && replayable) {
        const www = res.headers['www-authenticate'];
        const challenges = parseChallenges(www);
        const insufficient = challenges.some((c) => c.params.error === 'insufficient_scope');
        if ((status === 401 && !authTried) || (insufficient && !scopeRetried)) {
          await discard(res.body);
          if (status === 401 && !authTried) authTried = true;
          else scopeRetried = true;
          if (insufficient) scopeRetried = true;
          const h = await auth.authenticate(www, req.scopes, signal);
          if (h) {
            forcedAuth = h;
            attempt--;
            continue;
          }
          throw registryErrorFromResponse({ status, method, url, registry: req.registry, body: Buffer.alloc(0), what: req.what });
        }
      }

      if (isRetryableStatus(status) && replayable && req.retry !== false && attempt < policy.attempts) {
        const after = parseRetryAfter(res.headers['retry-after']);
        if (after === undefined || after <= maxRetryAfterMs) {
          await discard(res.body);
          await this.retryDelay(req.registry, method, url, status, attempt, signal, after);
          continue;
        }
      }

      // An http:// request sent to HTTP_PROXY (net-agent.ts): the proxy wants other credentials.
      const viaProxy = status === 407 ? dispatcher.proxyFor(url) : undefined;
      if (viaProxy) {
        await discard(res.body);
        throw proxyError(req.registry, url, method, { code: 'PROXY_TUNNEL', proxy: viaProxy, status }, undefined);
      }

      const body = await readCapped(res.body, MAX_ERROR_BODY).catch(() => Buffer.alloc(0));
      throw registryErrorFromResponse({ status, method, url, registry: req.registry, body, what: req.what });
    }
  }

  /** Whether a request that got no answer may get one by waiting (refused, unresolved, dropped, a proxy's 5xx). */
  private isRetryable(e: unknown): boolean {
    if (isCertificateError(e) || tlsAlert(e) !== undefined) return false;
    const proxy = proxyErrorOf(e);
    if (proxy) return proxy.code === 'PROXY_UNREACHABLE' || (proxy.status !== undefined && isRetryableStatus(proxy.status));
    return isTransientNetworkError(e) || isUnreachableError(e);
  }

  /** Waits before try `attempt + 1` (Retry-After when given), saying so as a warning, as skopeo's retry does. */
  private async retryDelay(registry: string, method: string, url: URL, why: unknown, attempt: number, signal: AbortSignal | undefined, after?: number): Promise<void> {
    const ms = after ?? backoffDelay(attempt, this.opts.retry);
    const reason = typeof why === 'number' ? `answered ${why}` : failureReason(why);
    this.opts.onProgress?.({
      type: 'log',
      level: 'warn',
      message: `registry ${registry}: ${method} ${redactUrl(url)} ${reason}; retrying in ${(ms / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${this.opts.retry.attempts})`,
    });
    await sleep(ms, signal);
  }

  /** The error for a request that got no answer after `attempts` tries. */
  private failure(registry: string, url: URL, method: string, e: unknown, attempts: number): RegistryError {
    if (isCertificateError(e)) return tlsError(registry, url, method, e, certHint(registry, this.opts.tls));
    const refusal = clientCertificateRefusal(e);
    if (refusal !== undefined) {
      const files = this.tlsFiles.get(registry) ?? { certFiles: [], dir: undefined };
      return clientCertError(registry, url, method, refusal, { certFiles: files.certFiles, dir: files.dir, where: certDirHint(registry, this.opts.tls) }, e);
    }
    const proxy = proxyErrorOf(e);
    if (proxy) {
      const reason = (proxy.cause as { code?: string } | undefined)?.code;
      return proxyError(registry, url, method, { code: proxy.code, proxy: proxy.proxy, ...(proxy.status !== undefined ? { status: proxy.status } : {}), ...(reason ? { reason } : {}) }, e, attempts);
    }
    if (isUnreachableError(e)) return unreachableError(registry, url, method, e, attempts);
    return connectionLost(registry, url, method, e, this.opts.requestTimeoutMs);
  }

  /** Registry `Warning: 299 - "text"` headers (distribution-spec "Warnings"), each text reported once. */
  private reportWarnings(h: IncomingHttpHeaders): void {
    const raw = h.warning;
    if (!raw || !this.opts.onProgress) return;
    for (const w of Array.isArray(raw) ? raw : [raw]) {
      const m = /^\s*299\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(w);
      if (!m) continue;
      const text = m[1]!.replace(/\\(.)/g, '$1').replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 500);
      if (this.warned.has(text)) continue;
      this.warned.add(text);
      this.opts.onProgress({ type: 'log', level: 'warn', message: `registry warning: ${text}` });
    }
  }
}

/** The low-level reason of a failure, for the retry line: an error code, or the first line of the message. */
function failureReason(e: unknown): string {
  const proxy = proxyErrorOf(e);
  if (proxy) return `failed: ${proxy.message}`;
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return `failed (${code})`;
  }
  const code = (e as { code?: unknown } | undefined)?.code;
  return `failed (${typeof code === 'string' ? code : String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 100)})`;
}

function connectionLost(registry: string, url: URL, method: string, cause: unknown, timeoutMs: number): RegistryError {
  const code = (cause as { code?: string } | undefined)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new RegistryError(
      'ERR_REGISTRY_ERROR',
      `no answer from ${registry} for ${timeoutMs / 1000} s during ${method} ${redactUrl(url)} (${code}): the registry or a proxy is stalled; retry later`,
      { method, url, cause },
    );
  }
  return new RegistryError(
    'ERR_REGISTRY_ERROR',
    `connection to ${registry} lost during ${method} ${redactUrl(url)}${code ? ` (${code})` : ''}: check the network and retry`,
    { method, url, cause },
  );
}

/** Drains a body we do not need so the connection can be reused; destroys it if that fails. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    await body.dump({ limit: 256 * 1024 });
  } catch {
    dispose(body);
  }
}

/** Destroys a body we abandon; undici reports that as an 'error' event, which nobody needs to hear. */
export function dispose(body: { destroy(e?: Error): unknown; on(ev: 'error', f: () => void): unknown }): void {
  body.on('error', () => {});
  body.destroy();
}
