// Per-registry TLS material, found where podman/skopeo look (containers-certs.d(5)): `--cert-dir DIR`, else
// the first existing HOST[:PORT] directory under $HOME/.config/containers/certs.d, /etc/containers/certs.d and
// /etc/docker/certs.d. In it: `*.crt` are CA certificates (added to the system roots), `*.cert` + `*.key`
// with the same base name are a client certificate and its key.
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SecureContext } from 'node:tls';
import { S2IError } from '../errors.js';
import { trustedSecureContext, type Warn } from '../sys/trust.js';

export interface TlsLookupOptions {
  /** --cert-dir: when set, only this directory is read (as containers/image does). */
  certDir?: string;
  /**
   * Roots holding one HOST[:PORT] directory per registry. Default: $OCI_S2I_CERTS_D (colon-separated) when
   * set, else ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d.
   */
  certsDirs?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface RegistryTls {
  /** The directory the files came from, or undefined when none exists. */
  dir: string | undefined;
  /** Extra CA certificates (PEM), in addition to the system roots. */
  ca: Buffer[];
  cert: Buffer[];
  key: Buffer[];
  /** The client certificate files (`*.cert`), for messages. */
  certFiles: string[];
}

/** A certificate or key file is small; anything larger is not one. */
const MAX_PEM_FILE = 1024 * 1024;

export function defaultCertsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.OCI_S2I_CERTS_D) return env.OCI_S2I_CERTS_D.split(':').filter(Boolean);
  return [path.join(env.HOME || os.homedir(), '.config', 'containers', 'certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

/** Where a user should put the TLS files of `registry` (for messages): `--cert-dir DIR or /etc/containers/certs.d/HOST`. */
export function certDirHint(registry: string, opts: TlsLookupOptions = {}): string {
  if (opts.certDir) return `--cert-dir ${opts.certDir}`;
  const roots = opts.certsDirs ?? defaultCertsDirs(opts.env);
  const root = roots.find((r) => r.startsWith('/etc/containers')) ?? roots[0] ?? '/etc/containers/certs.d';
  return `--cert-dir DIR or ${path.join(root, registry)}`;
}

/** Where a user should put the CA of `registry` (for messages). */
export function certHint(registry: string, opts: TlsLookupOptions = {}): string {
  const dir = certDirHint(registry, opts);
  return opts.certDir ? dir : `${dir}/ca.crt`;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function readPem(file: string): Promise<Buffer> {
  const st = await fs.stat(file);
  if (!st.isFile() || st.size > MAX_PEM_FILE) throw badFile(file, 'is not a regular file under 1 MiB');
  return await fs.readFile(file);
}

function badFile(file: string, why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_TLS_CONFIG', `TLS file ${file} ${why}; fix or remove it`, cause === undefined ? {} : { cause });
}

/** The TLS files for `registry` (host[:port] as written). Throws ERR_TLS_CONFIG for unusable files. */
export async function loadRegistryTls(registry: string, opts: TlsLookupOptions = {}): Promise<RegistryTls> {
  let dir: string | undefined;
  if (opts.certDir) {
    if (!(await isDir(opts.certDir))) {
      throw new S2IError('ERR_TLS_CONFIG', `--cert-dir ${opts.certDir} is not a directory; give the directory holding ca.crt (and client *.cert/*.key)`);
    }
    dir = opts.certDir;
  } else {
    // A registry name never contains '/' or '..' here (validated by the client), so it is one path component.
    if (registry.includes('/') || registry.startsWith('.')) return { dir: undefined, ca: [], cert: [], key: [], certFiles: [] };
    for (const root of opts.certsDirs ?? defaultCertsDirs(opts.env)) {
      const d = path.join(root, registry);
      if (await isDir(d)) {
        dir = d;
        break;
      }
    }
  }
  const out: RegistryTls = { dir, ca: [], cert: [], key: [], certFiles: [] };
  if (!dir) return out;
  const names = (await fs.readdir(dir)).sort();
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith('.crt')) {
      const pem = await readPem(file);
      try {
        new X509Certificate(pem);
      } catch (e) {
        throw badFile(file, 'is not a PEM certificate', e);
      }
      out.ca.push(pem);
    } else if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) throw badFile(file, `has no matching key ${keyName}`);
      out.cert.push(await readPem(file));
      out.certFiles.push(file);
      out.key.push(await readPem(path.join(dir, keyName)));
    } else if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`;
      if (!names.includes(certName)) throw badFile(file, `has no matching certificate ${certName}`);
    }
  }
  return out;
}

/** A secure context with Node's roots, the system store, the registry's CAs and its client certificates; undefined when it has none of its own. */
export function secureContextFor(files: RegistryTls, warn?: Warn): SecureContext | undefined {
  if (files.ca.length === 0 && files.cert.length === 0) return undefined;
  try {
    return trustedSecureContext({ ca: files.ca, cert: files.cert, key: files.key }, warn);
  } catch (e) {
    throw new S2IError('ERR_TLS_CONFIG', `the TLS files in ${files.dir} cannot be used (${(e as Error).message.split('\n')[0]}); check that each .cert matches its .key`, {
      cause: e,
    });
  }
}

/** Certificate verification failures (as opposed to a server that does not speak TLS at all). */
export function isCertificateError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/.test(code)) return true;
  }
  return false;
}

/**
 * The TLS alert a server sent, as OpenSSL names it in Node's error code (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED
 * → `certificate required`); undefined for any other error. A server that sends one speaks TLS.
 */
export function tlsAlert(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const m = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)$/.exec(String((cur as { code?: unknown }).code));
    if (m) return m[1]!.toLowerCase().replace(/_/g, ' ');
  }
  return undefined;
}

/** Alerts by which a server refuses the client's certificate, or its absence (RFC 8446 §6.2). */
const CLIENT_CERT_ALERTS = new Set([
  'certificate required',
  'bad certificate',
  'unsupported certificate',
  'certificate revoked',
  'certificate expired',
  'certificate unknown',
  'unknown ca',
  'access denied',
]);

/** The alert, when `e` is the server refusing our client certificate (or asking for one we did not send). */
export function clientCertificateRefusal(e: unknown): string | undefined {
  const alert = tlsAlert(e);
  return alert !== undefined && CLIENT_CERT_ALERTS.has(alert) ? alert : undefined;
}
