// The CA certificates the engine's TLS connections trust: Node's bundled roots, plus the system trust store read
// the way skopeo and podman read it (Go's crypto/x509 on Linux, root_unix.go and root_linux.go), plus
// NODE_EXTRA_CA_CERTS:
// - the first readable file of /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, … (Go's
//   list), or only $SSL_CERT_FILE when it is set;
// - every file in /etc/ssl/certs and /etc/pki/tls/certs, or only in the colon-separated $SSL_CERT_DIR when it is
//   set (symlinks to a name in the same directory, the c_rehash links, are skipped: they repeat a file there);
// - CERTIFICATE blocks only; anything else in those files (keys, CRLs, text) is ignored, as Go ignores it.
// Read once per process and only when a TLS connection needs it (`trustedSecureContext`): the Debian bundle is
// 220 KB and ~290 directory entries, and OpenSSL 3 parses a certificate in ~0.4 ms, so certificates Node already
// bundles (122 of Debian's 144) are dropped before parsing. NODE_EXTRA_CA_CERTS: Node's default store holds it
// when it is set in this process; the launchers move it to OCI_S2I_EXTRA_CA_CERTS (Node parses it at every
// start, ~70 ms with a system bundle: extra-ca-env.ts) and it is read here with the rest.
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TlsModule from 'node:tls';
import { RELOCATED_CA_ENV } from './extra-ca-env.js';

const nodeRequire = createRequire(import.meta.url);
/** node:tls, loaded when first needed (its loading is ~15 ms of a CLI start that may never open TLS). */
const tls = (): typeof TlsModule => nodeRequire('node:tls') as typeof TlsModule;

/** Go's certFiles (crypto/x509/root_linux.go): the first one that can be read is used. */
const CERT_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // OpenSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];
/** Go's certDirectories: all are read. */
const CERT_DIRS = ['/etc/ssl/certs', '/etc/pki/tls/certs'];
/** A file larger than this is no certificate file (the biggest system bundles are ~300 KB). */
const MAX_CERT_FILE = 16 * 1024 * 1024;

export type Warn = (message: string) => void;

const defaultWarn: Warn = (message) => process.emitWarning(message);

/** Where the system certificates are read from, given the environment (SSL_CERT_FILE and SSL_CERT_DIR replace the defaults). */
export function systemCertSources(env: NodeJS.ProcessEnv = process.env): { files: string[]; dirs: string[] } {
  return {
    files: env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : CERT_FILES,
    dirs: env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(':').filter(Boolean) : CERT_DIRS,
  };
}

/** The CAs moved out of NODE_EXTRA_CA_CERTS (PEM text), when a launcher moved any and the file is readable. */
function relocatedCaPem(env: NodeJS.ProcessEnv, warn: Warn): string | undefined {
  const file = env[RELOCATED_CA_ENV];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    // What Node itself does with an unreadable NODE_EXTRA_CA_CERTS: warn and go on with its own roots.
    warn(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * A regular file's text; undefined for anything else. Opened with O_NONBLOCK and checked on the descriptor: a
 * FIFO among the certificates would block a plain read forever. (One open, fstat and read per file: the ~150
 * files of a Debian /etc/ssl/certs take ~3 ms so, ~10 ms with stat + readFile.)
 */
function readRegular(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_CERT_FILE) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    for (let n = 1; got < buf.length && n > 0; got += n) n = readSync(fd, buf, got, buf.length - got, got);
    return buf.toString('latin1', 0, got);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Go's readUniqueDirectoryEntries: the entries of `dir` but symlinks whose target has no slash. */
function dirFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((d) => {
      if (!d.isSymbolicLink()) return true;
      try {
        return readlinkSync(path.join(dir, d.name)).includes('/');
      } catch {
        return false;
      }
    }).map((d) => d.name);
  } catch {
    return [];
  }
  return names.sort().map((n) => path.join(dir, n));
}

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/** The base64 bodies of the CERTIFICATE blocks in PEM text. */
function* pemBodies(text: string): Generator<string> {
  for (let at = text.indexOf(BEGIN); at >= 0; at = text.indexOf(BEGIN, at)) {
    const end = text.indexOf(END, at + BEGIN.length);
    if (end < 0) return;
    yield text.slice(at + BEGIN.length, end);
    at = end + END.length;
  }
}

/** True when `der` is one whole DER SEQUENCE (a certificate's outer shape): catches truncated or garbled blocks. */
function isDerSequence(der: Buffer): boolean {
  if (der.length < 64 || der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const n = first & 0x7f;
  if (n < 1 || n > 4 || der.length < 2 + n) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
  return 2 + n + len === der.length;
}

/** PEM of a DER certificate, 64 columns. */
function pemOf(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * What identifies a certificate here: the last 64 base64 characters of its body (whitespace skipped), the end of
 * its signature. The same certificate always gives the same key whatever the line length; two certificates
 * sharing 48 bytes of signature do not occur (a signature is over the rest of the certificate). Decoding every
 * certificate to compare whole DER took ~60 µs each, and a Debian system has ~430 copies of its ~170 roots.
 */
function identity(body: string): string {
  let key = '';
  for (let i = body.length - 1; i >= 0 && key.length < 64; i--) if (body.charCodeAt(i) > 32) key += body[i];
  return key;
}

/** Collects the certificates of PEM text, each once. */
class CertificateSet {
  private readonly seen = new Set<string>();
  readonly added: string[] = [];
  readonly badFiles: string[] = [];
  badBlocks = 0;

  constructor(known: readonly string[]) {
    for (const pem of known) for (const body of pemBodies(pem)) this.seen.add(identity(body));
  }

  /** Adds the certificates in `text` (of `file`, for the warning) not seen yet; returns how many blocks it held. */
  collect(text: string, file: string | undefined): number {
    let blocks = 0;
    let bad = 0;
    for (const body of pemBodies(text)) {
      blocks++;
      const key = identity(body);
      if (this.seen.has(key)) continue;
      const der = Buffer.from(body, 'base64');
      if (!isDerSequence(der)) {
        bad++;
        continue;
      }
      this.seen.add(key);
      this.added.push(pemOf(der));
    }
    if (bad > 0 && file !== undefined) {
      this.badBlocks += bad;
      this.badFiles.push(file);
    }
    return blocks;
  }
}

interface SystemCertificates {
  /** PEM certificates that Node's bundled roots do not hold. */
  pems: string[];
}

let loaded: SystemCertificates | undefined;

/**
 * The system's CA certificates (and the relocated NODE_EXTRA_CA_CERTS) that Node's bundled roots lack, read
 * once per process. Unreadable files and broken certificates are skipped, with one warning for all of them.
 */
export function systemCertificates(warn: Warn = defaultWarn, env: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (loaded) return loaded.pems;
  const set = new CertificateSet(tls().rootCertificates);
  const { files, dirs } = systemCertSources(env);
  const notes: string[] = [];
  let bundle: string | undefined;
  for (const f of files) {
    bundle = readRegular(f);
    if (bundle !== undefined) {
      if (set.collect(bundle, f) === 0 && env.SSL_CERT_FILE) notes.push(`SSL_CERT_FILE ${f} holds no PEM certificate`);
      break;
    }
  }
  if (bundle === undefined && env.SSL_CERT_FILE) notes.push(`SSL_CERT_FILE ${env.SSL_CERT_FILE} cannot be read as a file`);
  for (const d of dirs) for (const f of dirFiles(d)) {
    const text = readRegular(f);
    if (text !== undefined) set.collect(text, f);
  }
  const relocated = relocatedCaPem(env, warn);
  if (relocated !== undefined) set.collect(relocated, env[RELOCATED_CA_ENV]);
  if (set.badBlocks > 0) {
    const shown = set.badFiles.slice(0, 3).join(', ') + (set.badFiles.length > 3 ? ` and ${set.badFiles.length - 3} more` : '');
    notes.push(`skipped ${set.badBlocks} broken certificate block${set.badBlocks === 1 ? '' : 's'} in ${shown}`);
  }
  if (notes.length > 0) warn(`trust store: ${notes.join('; ')} (the other certificates are trusted)`);
  loaded = { pems: set.added };
  return loaded.pems;
}

/** What a connection adds to the trusted roots and presents as its client certificate. */
export interface TlsMaterial {
  /** More CA certificates (PEM), e.g. a registry's certs.d `*.crt`. */
  ca?: Array<string | Buffer>;
  cert?: Buffer[];
  key?: Buffer[];
}

/**
 * A secure context that trusts Node's roots, the system store and `material.ca`, with `material`'s client
 * certificates. Node's roots are shared (a context without `ca` starts from Node's parsed root store; adding to
 * it copies only the references), so only the certificates Node lacks are parsed. Throws Node's error for a
 * certificate that does not match its key.
 */
export function trustedSecureContext(material: TlsMaterial = {}, warn: Warn = defaultWarn): TlsModule.SecureContext {
  const ctx = tls().createSecureContext(material.cert?.length ? { cert: material.cert, key: material.key } : {});
  // `context` is the native handle; addCACert is what createSecureContext itself calls for each `ca`.
  const native = (ctx as unknown as { context: { addCACert(pem: string | Buffer): void } }).context;
  for (const pem of systemCertificates(warn)) native.addCACert(pem);
  for (const pem of material.ca ?? []) native.addCACert(pem);
  return ctx;
}

let shared: TlsModule.SecureContext | undefined;

/** `trustedSecureContext()` with nothing of a registry's own, made once per process, on first use. */
export function defaultTrustedContext(warn: Warn = defaultWarn): TlsModule.SecureContext {
  return (shared ??= trustedSecureContext({}, warn));
}

let unverified: TlsModule.SecureContext | undefined;

/**
 * The context of a connection that verifies nothing (--tls-verify=false, an insecure registry): no CA at all. A
 * context made without `ca` parses Node's bundled roots first (30–60 ms in a fresh container), which such a
 * connection never looks at. Made once per process.
 */
export function unverifiedContext(): TlsModule.SecureContext {
  return (unverified ??= tls().createSecureContext({ ca: [] }));
}
