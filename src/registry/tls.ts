// Per-registry TLS material, found where podman/skopeo look (containers-certs.d(5)): `--cert-dir DIR`, else
// the first existing HOST[:PORT] directory under $HOME/.config/containers/certs.d, /etc/containers/certs.d and
// /etc/docker/certs.d. In it: `*.crt` are CA certificates (added to the system roots), `*.cert` + `*.key`
// with the same base name are a client certificate and its key.
import { X509Certificate } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TlsModule from 'node:tls';
import { S2IError } from '../errors.js';
import { relocatedCaPem } from '../sys/extra-ca.js';

const nodeRequire = createRequire(import.meta.url);
/** node:tls, loaded when first needed: only registries with CA or client files of their own use it here (its
 * loading was ~15 ms of every CLI start). */
const tls = (): typeof TlsModule => nodeRequire('node:tls') as typeof TlsModule;

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
}

/** A certificate or key file is small; anything larger is not one. */
const MAX_PEM_FILE = 1024 * 1024;
/** Debian/Ubuntu, Fedora/RHEL, Alpine/SUSE bundles of the system's trusted roots (update-ca-certificates). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem'];

export function defaultCertsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.OCI_S2I_CERTS_D) return env.OCI_S2I_CERTS_D.split(':').filter(Boolean);
  return [path.join(env.HOME || os.homedir(), '.config', 'containers', 'certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

/** Where a user should put the CA of `registry` (for messages). */
export function certHint(registry: string, opts: TlsLookupOptions = {}): string {
  if (opts.certDir) return `--cert-dir ${opts.certDir}`;
  const roots = opts.certsDirs ?? defaultCertsDirs(opts.env);
  const root = roots.find((r) => r.startsWith('/etc/containers')) ?? roots[0] ?? '/etc/containers/certs.d';
  return `--cert-dir DIR or ${path.join(root, registry, 'ca.crt')}`;
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
    if (registry.includes('/') || registry.startsWith('.')) return { dir: undefined, ca: [], cert: [], key: [] };
    for (const root of opts.certsDirs ?? defaultCertsDirs(opts.env)) {
      const d = path.join(root, registry);
      if (await isDir(d)) {
        dir = d;
        break;
      }
    }
  }
  const out: RegistryTls = { dir, ca: [], cert: [], key: [] };
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
      out.key.push(await readPem(path.join(dir, keyName)));
    } else if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`;
      if (!names.includes(certName)) throw badFile(file, `has no matching certificate ${certName}`);
    }
  }
  return out;
}

let systemRoots: string[] | undefined;

/** Node's bundled roots plus the system bundle and NODE_EXTRA_CA_CERTS, also relocated (an explicit `ca` replaces Node's defaults). */
export function systemRootCertificates(): string[] {
  if (systemRoots) return systemRoots;
  const out = [...tls().rootCertificates];
  // One system bundle is enough: the others are the same roots as other distributions lay them out.
  for (const f of SYSTEM_BUNDLES) {
    try {
      out.push(readFileSync(f, 'utf8'));
      break;
    } catch {
      /* not on this distribution */
    }
  }
  if (process.env.NODE_EXTRA_CA_CERTS) {
    try {
      out.push(readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8'));
    } catch {
      /* Node itself warns about an unreadable NODE_EXTRA_CA_CERTS */
    }
  }
  const relocated = relocatedCaPem(); // NODE_EXTRA_CA_CERTS as the launcher passed it on (sys/extra-ca.ts)
  if (relocated !== undefined) out.push(relocated);
  systemRoots = out;
  return out;
}

/** A secure context with the system roots plus the registry's CAs and client certificates; undefined when there are none. */
export function secureContextFor(files: RegistryTls): TlsModule.SecureContext | undefined {
  if (files.ca.length === 0 && files.cert.length === 0) return undefined;
  try {
    return tls().createSecureContext({
      ca: [...systemRootCertificates(), ...files.ca.map((b) => b.toString('utf8'))],
      ...(files.cert.length ? { cert: files.cert, key: files.key } : {}),
    });
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
