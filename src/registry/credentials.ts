// Registry credentials from the files podman/skopeo and docker read, in containers/image's order
// (containers-auth.json(5)), and from credential helpers (`docker-credential-<name> get`). Also writes
// podman-compatible auth files for login/logout, where podman writes them.
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, statSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { makeDirs } from '../sys/make-dirs.js';

export type Credentials = { username: string; password: string } | { identityToken: string };

/** Credentials and where they were found (a file, or a helper named in one): messages name the place, never the secret. */
export interface FoundCredentials {
  credentials: Credentials;
  from: string;
}

export interface CredentialOptions {
  /** --authfile: when set, only this file is read (and it must exist). */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
  /** The user whose /run/containers/UID/auth.json is read when XDG_RUNTIME_DIR is unset. Default: this process's. */
  uid?: number;
}

/** One auth file to search; `legacy` is ~/.dockercfg's format (the `auths` map at the top level). */
interface AuthPath {
  path: string;
  legacy?: boolean;
}

/** docker.io's key in auth files, kept for compatibility with `docker login`. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
/** Auth files and helper answers are small; anything larger is not an auth file. */
const MAX_AUTH_FILE = 4 * 1024 * 1024;
const HELPER_TIMEOUT_MS = 30_000;

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/**
 * The file the user named (--authfile, else REGISTRY_AUTH_FILE): podman reads only that one, and refuses it when
 * it does not exist (containers/common CheckAuthFile). `what` names where it came from, for messages.
 */
function namedAuthFile(opts: CredentialOptions = {}): { path: string; what: string } | undefined {
  if (opts.authFile) return { path: opts.authFile, what: '--authfile' };
  const env = opts.env ?? process.env;
  if (env.REGISTRY_AUTH_FILE) return { path: env.REGISTRY_AUTH_FILE, what: 'REGISTRY_AUTH_FILE' };
  return undefined;
}

/** ERR_AUTH_FILE_MISSING when the named auth file (namedAuthFile) does not exist; login creates it instead. */
export function checkNamedAuthFile(opts: CredentialOptions = {}): void {
  const named = namedAuthFile(opts);
  if (!named) return;
  let st: Stats;
  try {
    st = statSync(named.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new S2IError('ERR_AUTH_FILE_MISSING', `${named.what} ${named.path} cannot be read (${code}): give an auth file that exists, or run \`oci-s2i login --authfile ${named.path} HOST\` to create it`, { cause: e });
  }
  if (!st.isFile()) throw new S2IError('ERR_AUTH_FILE_MISSING', `${named.what} ${named.path} is not a file: give the path of an auth file`);
}

/**
 * The read/write file podman uses by default (containers/image getPathToAuth, Linux):
 * $XDG_RUNTIME_DIR/containers/auth.json, or /run/containers/$UID/auth.json when XDG_RUNTIME_DIR is unset (most pods).
 */
function primaryAuthFile(env: NodeJS.ProcessEnv, uid: number | undefined): string {
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return `/run/containers/${uid ?? process.getuid?.() ?? 0}/auth.json`;
}

/**
 * The files searched, in containers/image's order (containers-auth.json(5), pkg/docker/config getAuthFilePaths):
 * the named file alone (--authfile, REGISTRY_AUTH_FILE); else the primary file, $XDG_CONFIG_HOME/containers/auth.json
 * (~/.config when unset), $DOCKER_CONFIG/config.json or else ~/.docker/config.json, and ~/.dockercfg.
 */
export function authFileSearchPath(opts: CredentialOptions = {}): AuthPath[] {
  const named = namedAuthFile(opts);
  if (named) return [{ path: named.path }];
  const env = opts.env ?? process.env;
  const h = home(env);
  return [
    { path: primaryAuthFile(env, opts.uid) },
    { path: path.join(env.XDG_CONFIG_HOME || path.join(h, '.config'), 'containers', 'auth.json') },
    { path: env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : path.join(h, '.docker', 'config.json') },
    { path: path.join(h, '.dockercfg'), legacy: true },
  ];
}

/**
 * Where `login` writes and `logout` removes, as podman does (containers/common pkg/auth): --authfile,
 * REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, else the primary file. An XDG_RUNTIME_DIR that does not exist
 * is an error there, as in podman (a typo would otherwise put the login somewhere nothing reads).
 */
export function defaultAuthFile(opts: CredentialOptions = {}): string {
  const named = namedAuthFile(opts);
  if (named) return named.path;
  const env = opts.env ?? process.env;
  if (env.DOCKER_CONFIG) return path.join(env.DOCKER_CONFIG, 'config.json');
  if (env.XDG_RUNTIME_DIR && !existsSync(env.XDG_RUNTIME_DIR)) {
    throw new S2IError('ERR_AUTH_FILE_INVALID', `XDG_RUNTIME_DIR is ${env.XDG_RUNTIME_DIR}, which does not exist: create it, unset XDG_RUNTIME_DIR, or give --authfile`);
  }
  return primaryAuthFile(env, opts.uid);
}

interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  username?: string;
  password?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [extra: string]: unknown;
}

/**
 * The parsed file; undefined when it is not there. `unreadableIsAbsent`: a default file this user may not read
 * (/run/containers is root's 0700 dir on a host with podman, and a rootless user without XDG_RUNTIME_DIR looks
 * there) is not theirs, so it is skipped; a file the user named is read or fails.
 */
async function readAuthFile(file: string, unreadableIsAbsent = false): Promise<AuthFile | undefined> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_AUTH_FILE) throw new S2IError('ERR_AUTH_FILE_INVALID', `auth file ${file} is over 4 MiB; it is not an auth file`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || (unreadableIsAbsent && code === 'EACCES')) return undefined;
    throw e;
  }
  if (text.trim() === '') return {};
  try {
    const doc = JSON.parse(text) as unknown;
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as AuthFile;
  } catch (e) {
    // The message names the file only: its content may be a secret.
    throw new S2IError('ERR_AUTH_FILE_INVALID', `auth file ${file} is not valid JSON: fix or remove it`, { cause: undefined });
  }
}

/** containers/image normalizeRegistry: docker.io's hosts are one. */
function normalizeRegistry(registry: string): string {
  const r = registry.toLowerCase();
  return r === 'docker.io' || r === 'registry-1.docker.io' ? 'index.docker.io' : r;
}

/**
 * containers/image normalizeAuthFileKey: a URL key (`https://host/v1/`, what `docker login` wrote for years) and
 * any key of the legacy format is its host; other keys are kept whole, so a namespaced key (`quay.io/team`) is
 * never taken for the whole registry.
 */
function normalizeAuthKey(key: string, legacy: boolean): string {
  const stripped = key.replace(/^https?:\/\//, '');
  return normalizeRegistry(legacy || stripped !== key ? stripped.split('/')[0]! : stripped);
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\n$/, '') };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** The entry for `registry`: its exact key first, then any key that normalizes to it (findCredentialsInFile). */
function lookupEntry(auths: Record<string, AuthEntry>, registry: string, legacy: boolean): AuthEntry | undefined {
  const exact = auths[registry];
  if (exact && typeof exact === 'object') return exact;
  const want = normalizeRegistry(registry);
  for (const [k, e] of Object.entries(auths)) {
    if (e && typeof e === 'object' && normalizeAuthKey(k, legacy) === want) return e;
  }
  return undefined;
}

/** Keys a credential helper for `registry` may be named under in credHelpers. */
function helperKeys(registry: string): string[] {
  return normalizeRegistry(registry) === 'index.docker.io' ? [registry, 'docker.io', 'index.docker.io', 'registry-1.docker.io', DOCKER_HUB_KEY] : [registry];
}

/**
 * Credentials for `registry` (host[:port] as written in the image reference) and where they were found, or
 * undefined for anonymous access. The first file that knows the registry wins; a credential helper named there
 * is run. A file named by --authfile or REGISTRY_AUTH_FILE must exist (ERR_AUTH_FILE_MISSING).
 */
export async function findCredentials(registry: string, opts: CredentialOptions = {}): Promise<FoundCredentials | undefined> {
  const env = opts.env ?? process.env;
  checkNamedAuthFile(opts);
  const named = namedAuthFile(opts) !== undefined;
  for (const file of authFileSearchPath(opts)) {
    const raw = await readAuthFile(file.path, !named);
    if (!raw) continue;
    // A named file may be in ~/.dockercfg's format too (s2i's --dockercfg-path takes either).
    const legacy = file.legacy === true || (named && isLegacyDockercfg(raw));
    const doc: AuthFile = legacy ? { auths: raw as Record<string, AuthEntry> } : raw;
    const helpers = !legacy && doc.credHelpers && typeof doc.credHelpers === 'object' ? doc.credHelpers : {};
    for (const k of helperKeys(registry)) {
      const helper = helpers[k];
      if (typeof helper === 'string' && helper) {
        const c = await runCredentialHelper(helper, registry, env);
        return c ? { credentials: c, from: `credential helper docker-credential-${helper} (${file.path})` } : undefined;
      }
    }
    const entry = doc.auths && typeof doc.auths === 'object' ? lookupEntry(doc.auths, registry, legacy) : undefined;
    if (entry) {
      const c = decodeEntry(entry);
      if (c) return { credentials: c, from: file.path };
    }
    // docker's credsStore (containers/image does not read it): the store holds what the auths entries only mark.
    if (!legacy && typeof doc.credsStore === 'string' && doc.credsStore) {
      const c = await runCredentialHelper(doc.credsStore, registry, env);
      if (c) return { credentials: c, from: `credential helper docker-credential-${doc.credsStore} (${file.path})` };
    }
  }
  return undefined;
}

/** ~/.dockercfg's format: registries at the top level, each an entry with `auth` (no `auths`, no helpers). */
function isLegacyDockercfg(raw: AuthFile): boolean {
  const entries = Object.entries(raw as Record<string, unknown>);
  return entries.length > 0 && entries.every(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v) && 'auth' in v);
}

/** docker-credential-helpers protocol: `get` reads the server URL on stdin, prints {Username, Secret}. */
export async function runCredentialHelper(name: string, registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new S2IError('ERR_CREDENTIAL_HELPER', `credential helper name "${name.slice(0, 64)}" is not valid; fix credHelpers/credsStore in the auth file`);
  }
  const server = registry === 'docker.io' ? DOCKER_HUB_KEY : registry;
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr, spawnError } = await new Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: Error }>((resolve) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      if (out.length < MAX_AUTH_FILE) out += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4096) err += d.toString('utf8');
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', stderr: '', spawnError: e });
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out, stderr: err });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(server);
  });
  if (spawnError) {
    throw new S2IError('ERR_CREDENTIAL_HELPER', `cannot run credential helper ${program}: install it or remove it from the auth file`, { cause: spawnError });
  }
  if (code !== 0) {
    // "credentials not found in native keychain" is the protocol's way of saying "none".
    if (/not found/i.test(stdout + stderr)) return undefined;
    throw new S2IError('ERR_CREDENTIAL_HELPER', `credential helper ${program} failed (exit ${code}) for ${registry}`);
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw new S2IError('ERR_CREDENTIAL_HELPER', `credential helper ${program} printed something that is not JSON`);
  }
  if (typeof doc.Secret !== 'string' || doc.Secret === '') return undefined;
  // docker-credential-helpers convention: the username "<token>" marks an identity (refresh) token.
  if (doc.Username === '<token>') return { identityToken: doc.Secret };
  return { username: typeof doc.Username === 'string' ? doc.Username : '', password: doc.Secret };
}

async function writeJsonAtomic(file: string, doc: unknown): Promise<void> {
  // Bounded: with Node's recursive mkdir, --authfile /proc/1/x/auth.json spun forever.
  await makeDirs(path.dirname(file), 0o700).catch((e: NodeJS.ErrnoException) => {
    throw new S2IError('ERR_AUTH_FILE_INVALID', `cannot create the directory of the auth file ${file} (${e.code ?? e.message}); give --authfile a path you can write`, { cause: e });
  });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await fs.writeFile(tmp, `${JSON.stringify(doc, null, '\t')}\n`, { mode: 0o600 });
    await fs.chmod(tmp, 0o600);
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Stores credentials for `registry` under `auths` (podman format, mode 0600), keeping every other entry. */
export async function writeAuthFile(file: string, registry: string, creds: Credentials): Promise<void> {
  const doc = (await readAuthFile(file)) ?? {};
  const auths = doc.auths && typeof doc.auths === 'object' ? doc.auths : {};
  const key = registry === 'docker.io' ? DOCKER_HUB_KEY : registry;
  auths[key] =
    'identityToken' in creds
      ? { auth: '', identitytoken: creds.identityToken }
      : { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  doc.auths = auths;
  await writeJsonAtomic(file, doc);
}

/** Removes `registry` from the file; returns false when it had no entry. */
export async function removeAuth(file: string, registry: string): Promise<boolean> {
  const doc = await readAuthFile(file);
  if (!doc?.auths || typeof doc.auths !== 'object') return false;
  let removed = false;
  const want = normalizeRegistry(registry);
  for (const k of Object.keys(doc.auths)) {
    if (k === registry || normalizeAuthKey(k, false) === want) {
      delete doc.auths[k];
      removed = true;
    }
  }
  if (removed) await writeJsonAtomic(file, doc);
  return removed;
}

/** Empties `auths` (logout --all), keeping credHelpers/credsStore and other keys; returns how many entries went. */
export async function removeAllAuths(file: string): Promise<number> {
  const doc = await readAuthFile(file);
  if (!doc?.auths || typeof doc.auths !== 'object') return 0;
  const n = Object.keys(doc.auths).length;
  if (n === 0) return 0;
  doc.auths = {};
  await writeJsonAtomic(file, doc);
  return n;
}
