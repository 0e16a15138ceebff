// Registry credentials from the files podman/skopeo and docker read, in their order, and from credential
// helpers (`docker-credential-<name> get`). Also writes podman-compatible auth files for login/logout.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { makeDirs } from '../sys/make-dirs.js';

export type Credentials = { username: string; password: string } | { identityToken: string };

export interface CredentialOptions {
  /** --authfile: when set, only this file is read. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** docker.io's key in auth files, kept for compatibility with `docker login`. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
/** Auth files and helper answers are small; anything larger is not an auth file. */
const MAX_AUTH_FILE = 4 * 1024 * 1024;
const HELPER_TIMEOUT_MS = 30_000;

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** The files searched, in order (containers-auth.json(5), then docker's config). */
export function authFileSearchPath(opts: CredentialOptions = {}): string[] {
  const env = opts.env ?? process.env;
  if (opts.authFile) return [opts.authFile];
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(path.join(home(env), '.config', 'containers', 'auth.json'));
  if (env.DOCKER_CONFIG) out.push(path.join(env.DOCKER_CONFIG, 'config.json'));
  out.push(path.join(home(env), '.docker', 'config.json'));
  return out;
}

/** Where `login` writes: --authfile, REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json. */
export function defaultAuthFile(opts: CredentialOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.authFile) return opts.authFile;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return path.join(home(env), '.config', 'containers', 'auth.json');
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

async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_AUTH_FILE) throw new S2IError('ERR_AUTH_FILE_INVALID', `auth file ${file} is over 4 MiB; it is not an auth file`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
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

/** Keys an entry for `registry` may be stored under, most specific first. */
function candidateKeys(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`];
  if (registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io') {
    keys.push(DOCKER_HUB_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io');
  }
  return keys;
}

/** Normalises an auths key (`https://host/v1/`, `host/path`) to its host for a loose match. */
function keyHost(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!.toLowerCase();
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

function lookupEntry(auths: Record<string, AuthEntry>, registry: string): AuthEntry | undefined {
  for (const k of candidateKeys(registry)) {
    const e = auths[k];
    if (e && typeof e === 'object') return e;
  }
  const host = registry.toLowerCase();
  for (const [k, e] of Object.entries(auths)) {
    if (keyHost(k) === host && e && typeof e === 'object') return e;
  }
  return undefined;
}

/**
 * Credentials for `registry` (host[:port] as written in the image reference), or undefined for anonymous
 * access. The first file that knows the registry wins; a credential helper named there is run.
 */
export async function findCredentials(registry: string, opts: CredentialOptions = {}): Promise<Credentials | undefined> {
  const env = opts.env ?? process.env;
  for (const file of authFileSearchPath(opts)) {
    const doc = await readAuthFile(file);
    if (!doc) continue;
    const helpers = doc.credHelpers && typeof doc.credHelpers === 'object' ? doc.credHelpers : {};
    for (const k of candidateKeys(registry)) {
      const helper = helpers[k];
      if (typeof helper === 'string' && helper) return await runCredentialHelper(helper, registry, env);
    }
    const entry = doc.auths && typeof doc.auths === 'object' ? lookupEntry(doc.auths, registry) : undefined;
    if (entry) {
      const c = decodeEntry(entry);
      if (c) return c;
    }
    if (typeof doc.credsStore === 'string' && doc.credsStore) {
      const c = await runCredentialHelper(doc.credsStore, registry, env);
      if (c) return c;
    }
  }
  return undefined;
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
  for (const k of candidateKeys(registry)) {
    if (k in doc.auths) {
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
