// HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read the way skopeo and podman read them: Go's net/http
// ProxyFromEnvironment (golang.org/x/net/http/httpproxy). The rules, all Go's:
// - the upper-case name wins over the lower-case one when both are set and non-empty;
// - HTTPS_PROXY is for https:// URLs only, HTTP_PROXY for http:// only (no fallback from one to the other);
// - a value without a scheme (`proxy:3128`) is `http://proxy:3128`; one that cannot be parsed is ignored;
// - `localhost` and loopback addresses (127.0.0.0/8, ::1) never go through a proxy, whatever NO_PROXY says;
// - NO_PROXY is a comma-separated list of `*` (nothing is proxied), IP addresses, CIDR ranges (10.0.0.0/8),
//   domain names (`example.com` matches it and its subdomains, `.example.com` and `*.example.com` only the
//   subdomains), each IP or name optionally with `:PORT` (then only that port matches).
// Pure: no I/O, the environment is passed in.
import { BlockList, isIP } from 'node:net';

export interface ProxyServer {
  /** The proxy's URL without credentials. */
  url: URL;
  /** `scheme://host:port` of the proxy, for messages (never the credentials). */
  display: string;
  /** The variable it came from, as set (`HTTPS_PROXY` or `https_proxy`, …), for messages. */
  variable: string;
  /** `Basic …` from the URL's user and password, when it has them. */
  authorization: string | undefined;
}

interface NoProxyEntry {
  /** `.example.com`: matches names ending in it; also `example.com` itself when `exact` is set. */
  domain?: string;
  exact?: boolean;
  /** An address or a CIDR range. */
  ips?: BlockList;
  /** Only this port (`host:port` entries). */
  port?: number;
}

export interface ProxyRules {
  http: ProxyServer | undefined;
  https: ProxyServer | undefined;
  /** NO_PROXY is `*`. */
  none: boolean;
  noProxy: NoProxyEntry[];
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

function firstSet(env: NodeJS.ProcessEnv, names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value) return { name, value };
  }
  return undefined;
}

/** The proxy a variable names, as Go's parseProxy reads it; undefined when unset or unusable. */
function proxyServer(found: { name: string; value: string } | undefined): ProxyServer | undefined {
  if (!found) return undefined;
  const parse = (s: string): URL | undefined => {
    try {
      return new URL(s);
    } catch {
      return undefined;
    }
  };
  let url = parse(found.value);
  // `proxy:3128` parses as scheme `proxy:`; a value that spells out `scheme://` is taken as written.
  const spelled = /^[a-z][a-z0-9+.-]*:\/\//i.test(found.value);
  if (!spelled && (!url || !['http:', 'https:', 'socks5:'].includes(url.protocol))) url = parse(`http://${found.value}`) ?? url;
  if (!url?.hostname) return undefined;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const authorization = user || pass ? `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` : undefined;
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  const port = bare.port || String(DEFAULT_PORTS[bare.protocol] ?? 1080);
  return { url: bare, display: `${bare.protocol}//${bare.hostname}:${port}`, variable: found.name, authorization };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function ipFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(host);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

function noProxyEntry(raw: string): NoProxyEntry | undefined {
  const p = raw.trim().toLowerCase();
  if (!p) return undefined;
  const cidr = /^(.+)\/(\d{1,3})$/.exec(p);
  if (cidr) {
    const family = ipFamily(cidr[1]!);
    const bits = Number(cidr[2]);
    if (!family || bits > (family === 'ipv4' ? 32 : 128)) return undefined;
    const ips = new BlockList();
    ips.addSubnet(cidr[1]!, bits, family);
    return { ips };
  }
  let host = p;
  let port: number | undefined;
  const hp = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(p);
  if (hp) {
    host = hp[1]!;
    port = Number(hp[2]);
  }
  host = stripBrackets(host);
  if (!host) return undefined;
  const family = ipFamily(host);
  if (family) {
    const ips = new BlockList();
    ips.addAddress(host, family);
    return { ips, ...(port !== undefined ? { port } : {}) };
  }
  if (host.startsWith('*.')) host = host.slice(1);
  const exact = !host.startsWith('.');
  return { domain: exact ? `.${host}` : host, exact, ...(port !== undefined ? { port } : {}) };
}

/** The proxy settings in `env` (read once per agent: the environment of a process does not change). */
export function proxyRules(env: NodeJS.ProcessEnv = process.env): ProxyRules {
  const noProxyValue = firstSet(env, ['NO_PROXY', 'no_proxy'])?.value ?? '';
  const items = noProxyValue.split(',');
  const none = items.some((i) => i.trim() === '*');
  return {
    http: proxyServer(firstSet(env, ['HTTP_PROXY', 'http_proxy'])),
    https: proxyServer(firstSet(env, ['HTTPS_PROXY', 'https_proxy'])),
    none,
    noProxy: none ? [] : items.map(noProxyEntry).filter((e): e is NoProxyEntry => e !== undefined),
  };
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * The proxy for a connection to `hostname:port` over `protocol` (`http:` or `https:`), or undefined to connect
 * directly. `port` may be empty (the scheme's default).
 */
export function proxyFor(rules: ProxyRules, protocol: string, hostname: string, port: number | string | undefined): ProxyServer | undefined {
  const server = protocol === 'https:' ? rules.https : protocol === 'http:' ? rules.http : undefined;
  if (!server || rules.none) return undefined;
  const host = stripBrackets(hostname).toLowerCase();
  if (host === 'localhost') return undefined;
  const family = ipFamily(host);
  if (family && loopback.check(host, family)) return undefined;
  const p = Number(port) || DEFAULT_PORTS[protocol] || 0;
  for (const e of rules.noProxy) {
    if (e.port !== undefined && e.port !== p) continue;
    if (e.ips) {
      if (family && e.ips.check(host, family)) return undefined;
    } else if (e.domain && (host.endsWith(e.domain) || (e.exact && host === e.domain.slice(1)))) {
      return undefined;
    }
  }
  return server;
}
