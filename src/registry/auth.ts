// Registry authentication (distribution "Token Authentication Specification", RFC 7235 challenges):
// challenge parsing, bearer tokens from the realm (anonymous, Basic-authenticated, or OAuth2 refresh-token
// POST with GET fallback), a token cache keyed by scope set with expiry, and Basic.
import { Buffer } from 'node:buffer';
import type { Dispatcher } from '../sys/http-client.js';
import type { Credentials } from './credentials.js';
import { MAX_ERROR_BODY, RegistryError, redactUrl } from './errors.js';

export interface Challenge {
  /** Lowercased scheme: 'bearer', 'basic', … */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses WWW-Authenticate (RFC 7235 §4.1): one or more challenges, params as token or quoted-string with
 * backslash escapes. Commas inside quoted strings (scope="repository:a:pull,push") do not split.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  while (i < n) {
    skipWs();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    // auth-params: `name = value` separated by commas, until something that is not `name =` (the next challenge).
    for (;;) {
      skipWs();
      const save = i;
      const name = token();
      skipWs();
      if (!name || text[i] !== '=') {
        i = save;
        break;
      }
      i++;
      skipWs();
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++;
        value = text.slice(start, i);
      }
      ch.params[name.toLowerCase()] = value;
      skipWs();
      if (text[i] !== ',') break;
      i++;
    }
  }
  return out;
}

/** `repository:NAME:ACTIONS`; NAME may contain `host:port`, so type is before the first ':' and actions after the last. */
export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(s: string): Scope | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) };
}

export function repositoryScope(name: string, ...actions: string[]): string {
  return `repository:${name}:${actions.join(',')}`;
}

/** Union of scopes: actions merged per resource, sorted, so equal sets give equal cache keys. */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, { type: string; name: string; actions: Set<string> }>();
  const raw = new Set<string>();
  for (const s of scopes) {
    for (const part of s.split(' ')) {
      if (!part) continue;
      const p = parseScope(part);
      if (!p) {
        raw.add(part);
        continue;
      }
      const key = `${p.type}:${p.name}`;
      const cur = byResource.get(key) ?? { type: p.type, name: p.name, actions: new Set<string>() };
      p.actions.forEach((a) => cur.actions.add(a));
      byResource.set(key, cur);
    }
  }
  const out = [...byResource.values()].map((r) => `${r.type}:${r.name}:${[...r.actions].sort().join(',')}`);
  return [...out, ...raw].sort();
}

export interface TokenFetcherDeps {
  dispatcher: Dispatcher;
  userAgent: string;
  signal?: AbortSignal;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** Token endpoints may say a token lives less than this; the spec says to assume 60 s. */
const MIN_TOKEN_LIFETIME_S = 60;

/**
 * Per-registry authenticator: remembers the last challenge and caches tokens per scope set, so a second
 * request for the same scopes reuses the token until shortly before it expires.
 */
export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private refreshToken: string | undefined;

  constructor(
    private readonly registry: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
    private readonly deps: TokenFetcherDeps,
  ) {}

  /** The Authorization header to send up front, if a challenge is known and a token is cached (or Basic). */
  async headerFor(scopes: string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return await this.basicHeader();
    const hit = this.tokens.get(mergeScopes(scopes).join(' '));
    if (hit && hit.expiresAt > Date.now()) return hit.header;
    return undefined;
  }

  /** Whether this registry has ever challenged us (a 401 after that means our credentials are refused). */
  get challenged(): boolean {
    return this.challenge !== undefined;
  }

  /**
   * Answers a challenge for `scopes`. Returns the header to retry with, or undefined when there is nothing
   * to try (unsupported scheme, Basic without credentials).
   */
  async authenticate(wwwAuthenticate: string | string[] | undefined, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate);
    const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!ch) return undefined;
    this.challenge = ch;
    if (ch.scheme === 'basic') return await this.basicHeader();
    let wanted = mergeScopes(scopes);
    if (ch.params.error === 'insufficient_scope' && ch.params.scope) wanted = mergeScopes([...wanted, ch.params.scope]);
    const key = wanted.join(' ');
    this.tokens.delete(key);
    const { token, expiresIn } = await this.fetchToken(ch, wanted, signal);
    const header = `Bearer ${token}`;
    // Renew 10 s before expiry so a request in flight does not carry a just-expired token.
    this.tokens.set(key, { header, expiresAt: Date.now() + Math.max(MIN_TOKEN_LIFETIME_S, expiresIn) * 1000 - 10_000 });
    return header;
  }

  private async basicHeader(): Promise<string | undefined> {
    const c = await this.credentials();
    if (!c || !('username' in c)) return undefined;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
  }

  private async fetchToken(ch: Challenge, scopes: string[], signal?: AbortSignal): Promise<{ token: string; expiresIn: number }> {
    const realmText = ch.params.realm;
    let realm: URL;
    try {
      realm = new URL(realmText ?? '');
    } catch {
      throw new RegistryError('ERR_REGISTRY_ERROR', `${this.registry} sent a bearer challenge without a usable realm URL; the registry is misconfigured`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new RegistryError('ERR_REGISTRY_ERROR', `${this.registry} sent a token realm that is not http(s); refusing to use it`);
    }
    const creds = await this.credentials();
    const service = ch.params.service;
    const identity = this.refreshToken ?? (creds && 'identityToken' in creds ? creds.identityToken : undefined);
    if (identity) {
      // OAuth2 refresh-token grant (distribution "Token Authentication Implementation using OAuth2").
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: identity, client_id: 'oci-s2i' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      const res = await this.tokenRequest(realm, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, form.toString(), signal);
      if (res.status !== 404) return this.tokenFrom(res, realm);
    }
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds && 'username' in creds) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
    }
    const res = await this.tokenRequest(url, 'GET', headers, undefined, signal);
    return this.tokenFrom(res, realm);
  }

  private async tokenRequest(
    url: URL,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: Buffer }> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.deps.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers: { 'user-agent': this.deps.userAgent, ...headers },
        body,
        signal: signal ?? this.deps.signal,
      });
    } catch (e) {
      throw new RegistryError('ERR_REGISTRY_UNREACHABLE', `cannot reach the token service of ${this.registry} at ${url.host}: check the address and --tls-verify`, {
        method,
        url,
        cause: e,
      });
    }
    const data = await readCapped(res.body, MAX_ERROR_BODY);
    return { status: res.statusCode, body: data };
  }

  private tokenFrom(res: { status: number; body: Buffer }, realm: URL): { token: string; expiresIn: number } {
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'ERR_UNAUTHORIZED',
        `unauthorized: the token service refused the credentials for ${this.registry}; run \`oci-s2i login ${this.registry}\`, give --creds USER[:PASS], or set REGISTRY_AUTH_FILE`,
        { status: res.status, url: realm },
      );
    }
    if (res.status !== 200) {
      throw new RegistryError('ERR_REGISTRY_ERROR', `token service ${redactUrl(realm)} answered ${res.status} for ${this.registry}`, { status: res.status, url: realm });
    }
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new RegistryError('ERR_REGISTRY_ERROR', `token service ${redactUrl(realm)} answered with something that is not JSON`, { url: realm });
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (!token || /[\r\n]/.test(token)) {
      throw new RegistryError('ERR_REGISTRY_ERROR', `token service ${redactUrl(realm)} answered without a token`, { url: realm });
    }
    if (typeof doc.refresh_token === 'string' && doc.refresh_token) this.refreshToken = doc.refresh_token;
    const expiresIn = typeof doc.expires_in === 'number' && Number.isFinite(doc.expires_in) ? doc.expires_in : MIN_TOKEN_LIFETIME_S;
    return { token, expiresIn };
  }
}

/** Reads a body up to `cap` bytes and discards the rest (never sized from Content-Length). */
export async function readCapped(body: AsyncIterable<Buffer> & { destroy?: (e?: Error) => void; on?: (ev: 'error', f: () => void) => unknown }, cap: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    if (n < cap) {
      const take = chunk.subarray(0, cap - n);
      parts.push(take);
      n += take.length;
    }
    if (n >= cap) {
      body.on?.('error', () => {});
      body.destroy?.();
      break;
    }
  }
  return Buffer.concat(parts, n);
}
