// Registry errors: the distribution error body ({"errors":[{code,message,detail}]}, distribution-spec
// "Error Codes") parsed into one typed error with the HTTP status, the method and a redacted URL.
// Messages say what to do and never carry credentials, tokens or query strings.
import { S2IError, type ErrorCode, type Step } from '../errors.js';
import type { ProxyErrorCode } from '../sys/net-agent.js';
import type { ProxyServer } from '../sys/proxy.js';

/** Error and token bodies are read up to this many bytes; the rest is discarded. */
export const MAX_ERROR_BODY = 1024 * 1024;

export interface DistributionError {
  code: string;
  message: string;
  detail?: unknown;
}

export interface RegistryErrorInit {
  status?: number;
  method?: string;
  url?: string | URL;
  errors?: DistributionError[];
  cause?: unknown;
  step?: Step;
}

export class RegistryError extends S2IError {
  readonly status: number | undefined;
  readonly method: string | undefined;
  /** Scheme, host and path only: no userinfo, no query (upload `_state`, signed storage URLs). */
  readonly url: string | undefined;
  readonly errors: DistributionError[];
  constructor(code: ErrorCode, message: string, init: RegistryErrorInit = {}) {
    super(code, message, { cause: init.cause, ...(init.step ? { step: init.step } : {}) });
    this.name = 'RegistryError';
    this.status = init.status;
    this.method = init.method;
    this.url = init.url === undefined ? undefined : redactUrl(init.url);
    this.errors = init.errors ?? [];
  }
}

/** Drops userinfo, query and fragment: presigned storage URLs and upload states carry secrets there. */
export function redactUrl(u: string | URL): string {
  try {
    const url = typeof u === 'string' ? new URL(u) : u;
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

/** Parses a distribution error body; anything else (HTML, garbage, wrong shapes) gives an empty list. */
export function parseErrorBody(body: Buffer | string): DistributionError[] {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return [];
  }
  if (!doc || typeof doc !== 'object') return [];
  const list = (doc as { errors?: unknown }).errors;
  if (!Array.isArray(list)) return [];
  const out: DistributionError[] = [];
  for (const e of list.slice(0, 32)) {
    if (!e || typeof e !== 'object') continue;
    const { code, message, detail } = e as Record<string, unknown>;
    if (typeof code !== 'string') continue;
    out.push({ code: clip(code, 64), message: typeof message === 'string' ? clip(message, 500) : '', ...(detail !== undefined ? { detail } : {}) });
  }
  return out;
}

function clip(s: string, n: number): string {
  // Strip control characters so a hostile body cannot rewrite the terminal.
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > n ? `${clean.slice(0, n)}…` : clean;
}

export interface ResponseFacts {
  status: number;
  method: string;
  url: URL;
  /** host[:port] as the user wrote it (for the login hint). */
  registry: string;
  body: Buffer;
  /** What was being done, e.g. `manifest app:latest`; goes into the message. */
  what?: string;
}

/** Maps an unexpected registry answer to a RegistryError with a stable code and an actionable message. */
export function registryErrorFromResponse(f: ResponseFacts): RegistryError {
  const errors = parseErrorBody(f.body);
  const codes = new Set(errors.map((e) => e.code));
  const what = f.what ? `${f.what}: ` : '';
  const detail = errors.length > 0 ? ` (${errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ')})` : '';
  const init: RegistryErrorInit = {
    status: f.status,
    method: f.method,
    url: f.url,
    errors,
  };
  const where = `${f.method} ${redactUrl(f.url)} answered ${f.status}`;
  if (f.status === 401 || codes.has('UNAUTHORIZED')) {
    return new RegistryError(
      'ERR_UNAUTHORIZED',
      `${what}unauthorized: run \`oci-s2i login ${f.registry}\`, give --creds USER[:PASS], or set REGISTRY_AUTH_FILE (${where})`,
      init,
    );
  }
  if (f.status === 403 || codes.has('DENIED')) {
    return new RegistryError(
      'ERR_DENIED',
      `${what}access denied by ${f.registry}: the credentials in use lack permission for this repository; check the account's rights or log in as another user${detail}`,
      init,
    );
  }
  // A missing repository is, to someone resolving an image, a missing manifest (distribution answers NAME_UNKNOWN).
  if (codes.has('MANIFEST_UNKNOWN') || (f.status === 404 && f.what?.startsWith('manifest'))) {
    return new RegistryError('ERR_MANIFEST_UNKNOWN', `${what}manifest unknown: check the tag or digest exists in ${f.registry}${detail}`, init);
  }
  if (codes.has('BLOB_UNKNOWN')) {
    return new RegistryError('ERR_BLOB_UNKNOWN', `${what}blob unknown to ${f.registry}: the image references a blob the registry does not have${detail}`, init);
  }
  if (codes.has('NAME_UNKNOWN')) {
    return new RegistryError('ERR_NAME_UNKNOWN', `${what}repository unknown to ${f.registry}: check the image name${detail}`, init);
  }
  if (f.status === 429 || codes.has('TOOMANYREQUESTS')) {
    return new RegistryError('ERR_TOO_MANY_REQUESTS', `${what}${f.registry} is rate-limiting requests: wait and retry, or log in for a higher limit${detail}`, init);
  }
  return new RegistryError('ERR_REGISTRY_ERROR', `${what}registry error: ${where}${detail}`, init);
}

/** Connection refused, DNS failure: the registry could not be reached at all (`attempts` tries). */
export function unreachableError(registry: string, url: URL, method: string, cause: unknown, attempts = 1): RegistryError {
  const code = (cause as { code?: string } | undefined)?.code ?? '';
  const why = code ? ` (${code})` : '';
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  return new RegistryError(
    'ERR_REGISTRY_UNREACHABLE',
    `cannot reach registry ${registry} at ${url.protocol}//${url.host}${why}${tries}: check the address, that it is running, and --tls-verify`,
    { method, url, cause },
  );
}

/** What went wrong with a proxy (sys/net-agent.ts ProxyError, or a 407 answer to a request sent to HTTP_PROXY). */
export interface ProxyFailure {
  code: ProxyErrorCode;
  proxy: Pick<ProxyServer, 'display' | 'variable'>;
  status?: number;
  /** The low-level reason (ECONNREFUSED, …) for an unreachable proxy. */
  reason?: string;
}

/** The proxy between us and the registry failed: say which proxy, from which variable, and what to do. */
export function proxyError(registry: string, url: URL, method: string, f: ProxyFailure, cause: unknown, attempts = 1): RegistryError {
  const variable = f.proxy.variable;
  const proxy = `proxy ${f.proxy.display} (${variable})`;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const host = url.host;
  const message =
    f.code === 'PROXY_UNREACHABLE'
      ? `cannot reach ${proxy} for registry ${registry}${f.reason ? ` (${f.reason})` : ''}${tries}: check ${variable} and that the proxy is running, or add ${host} to NO_PROXY`
      : f.status === 407
        ? `${proxy} refused its credentials for registry ${registry} (407 Proxy Authentication Required): put the right user and password in ${variable} (http://USER:PASSWORD@HOST:PORT)`
        : f.code === 'PROXY_UNSUPPORTED'
          ? `${proxy} for registry ${registry}: only http:// and https:// proxies are supported; set ${variable} to one, or add ${host} to NO_PROXY`
          : `${proxy} would not open a tunnel to ${host}${host === registry ? '' : ` (registry ${registry})`} (CONNECT answered ${f.status ?? 'garbage'})${tries}: check that the proxy allows ${host}, or add it to NO_PROXY if it is reachable directly`;
  return new RegistryError('ERR_PROXY', message, { method, url, cause });
}

/** The registry refused our client certificate (or wanted one we do not have): a TLS alert, never a reason for plain HTTP. */
export function clientCertError(registry: string, url: URL, method: string, alert: string, tls: { certFiles: string[]; dir: string | undefined; where: string }, cause: unknown): RegistryError {
  const message =
    tls.certFiles.length > 0
      ? `registry ${registry} refused the client certificate ${tls.certFiles.join(', ')} (TLS alert: ${alert}): check that it is issued by a CA the registry trusts, has not expired and is meant for client authentication`
      : `registry ${registry} requires a client certificate (TLS alert: ${alert}) and none is configured: put NAME.cert and NAME.key in ${tls.dir ?? tls.where}`;
  return new RegistryError('ERR_REGISTRY_CLIENT_CERT', message, { method, url, cause });
}

/** The registry's certificate could not be verified (x509): say where its CA goes. */
export function tlsError(registry: string, url: URL, method: string, cause: unknown, hint: string): RegistryError {
  const c = cause as { code?: string; message?: string } | undefined;
  const why = [c?.code, c?.message?.split('\n')[0]].filter(Boolean).join(': ');
  return new RegistryError(
    'ERR_REGISTRY_TLS',
    `x509: cannot verify the TLS certificate of registry ${registry}${why ? ` (${why})` : ''}: put its CA certificate in ${hint} or the system trust store (SSL_CERT_FILE, SSL_CERT_DIR), or use --tls-verify=false`,
    { method, url, cause },
  );
}
