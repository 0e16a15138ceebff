// One registry request with everything around it: Authorization (challenge → token → retry once, wider
// scope on insufficient_scope), retries (429/5xx/dropped connections, replayable bodies only), redirects
// (Authorization dropped when the host changes), Warning headers, and errors mapped to RegistryError.
// Every response that is not handed back is consumed or destroyed.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from '../sys/http-client.js';
import { lazyTlsConnector } from '../sys/extra-ca.js';
import type { ProgressSink } from '../events.js';
import { Authenticator, parseChallenges, readCapped } from './auth.js';
import type { Credentials } from './credentials.js';
import { MAX_ERROR_BODY, RegistryError, redactUrl, registryErrorFromResponse, tlsError, unreachableError } from './errors.js';
import { certHint, isCertificateError, loadRegistryTls, secureContextFor, type TlsLookupOptions } from './tls.js';
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
  readonly dispatcher: Agent;
  private probeDispatcher: Agent | undefined;
  private readonly agents = new Map<string, Promise<Agent>>();
  private readonly origins = new Map<string, Promise<string>>();
  private readonly auths = new Map<string, Promise<Authenticator>>();
  private readonly warned = new Set<string>();
  /** Registries registries.conf marks `insecure`: TLS not verified, plain HTTP allowed (as --tls-verify=false). */
  private readonly insecure = new Set<string>();
  private readonly retired: Promise<Agent>[] = [];

  constructor(private readonly opts: HttpClientOptions) {
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

  private newAgent(secureContext: import('node:tls').SecureContext | undefined, registry?: string): Agent {
    const connect = { rejectUnauthorized: this.verifies(registry), ...(secureContext ? { secureContext } : {}) };
    // A registry's own context already holds the relocated NODE_EXTRA_CA_CERTS (tls.ts systemRootCertificates).
    return this.agent((secureContext ? undefined : lazyTlsConnector(connect)) ?? connect);
  }

  private agent(connect: Agent.Options['connect']): Agent {
    return new Agent({
      connect,
      keepAliveTimeout: 10_000,
      // Both are inactivity timeouts: time to the response headers, and between body chunks.
      headersTimeout: this.opts.requestTimeoutMs,
      bodyTimeout: this.opts.requestTimeoutMs,
    });
  }

  /** The pool for `registry`: its own when certs.d/--cert-dir has files for it (also used for its token realm and redirects). */
  dispatcherFor(registry: string): Promise<Agent> {
    let a = this.agents.get(registry);
    if (!a) {
      a = loadRegistryTls(registry, this.opts.tls).then((files) => {
        const ctx = secureContextFor(files);
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
    try {
      const res = await dispatcher.request({ origin: `https://${host}`, path: '/v2/', method: 'GET', headers: { 'user-agent': this.opts.userAgent }, signal: signal ?? this.opts.signal });
      await discard(res.body);
      return `https://${host}`;
    } catch (e) {
      const s = signal ?? this.opts.signal;
      if (s?.aborted) throw s.reason ?? e;
      // Untrusted certificate: stay on HTTPS so the request reports it (a downgrade would hide it).
      if (isCertificateError(e)) return `https://${host}`;
      return `http://${host}`;
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
    const agents = new Set<Agent>([this.dispatcher, ...(this.probeDispatcher ? [this.probeDispatcher] : [])]);
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
        if (isCertificateError(e)) throw tlsError(req.registry, url, method, e, certHint(req.registry, this.opts.tls));
        if (isUnreachableError(e)) throw unreachableError(req.registry, url, method, e);
        if (isTransientNetworkError(e) && replayable && req.retry !== false && attempt < policy.attempts) {
          await sleep(backoffDelay(attempt, policy), signal);
          continue;
        }
        throw connectionLost(req, url, method, e, this.opts.requestTimeoutMs);
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
          await sleep(after ?? backoffDelay(attempt, policy), signal);
          continue;
        }
      }

      const body = await readCapped(res.body, MAX_ERROR_BODY).catch(() => Buffer.alloc(0));
      throw registryErrorFromResponse({ status, method, url, registry: req.registry, body, what: req.what });
    }
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

function connectionLost(req: HttpRequest, url: URL, method: string, cause: unknown, timeoutMs: number): RegistryError {
  const code = (cause as { code?: string } | undefined)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new RegistryError(
      'ERR_REGISTRY_ERROR',
      `no answer from ${req.registry} for ${timeoutMs / 1000} s during ${method} ${redactUrl(url)} (${code}): the registry or a proxy is stalled; retry later`,
      { method, url, cause },
    );
  }
  return new RegistryError(
    'ERR_REGISTRY_ERROR',
    `connection to ${req.registry} lost during ${method} ${redactUrl(url)}${code ? ` (${code})` : ''}: check the network and retry`,
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
