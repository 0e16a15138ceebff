// Script resolution (S2I-CONTRACT.md "Scripts location"): per script, first hit wins:
// --scripts-url → source .s2i/bin/<name> → label io.openshift.s2i.scripts-url → io.s2i.scripts-url → env STI_SCRIPTS_URL.

import { constants } from 'node:fs';
import { access, stat, chmod, mkdir, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { interceptors, request, type Dispatcher } from '../sys/http-client.js';
import { NetAgent } from '../sys/net-agent.js';
import { S2IError } from '../errors.js';
import { Label, ScriptsUrlEnv } from './labels.js';

export type ScriptName = 'assemble' | 'run' | 'save-artifacts' | 'usage' | 'assemble-runtime';

export type ScriptSource =
  /** Already inside the image at this absolute path; nothing is uploaded. */
  | { kind: 'image'; path: string }
  /** A host file, uploaded to <dest>/scripts/<name>. */
  | { kind: 'file'; hostPath: string }
  /** Downloaded (200/201 only), then uploaded to <dest>/scripts/<name>. `data` holds the bytes fetched during resolution. */
  | { kind: 'http'; url: string; data?: Buffer };

export interface ParsedScriptsUrl {
  kind: 'image' | 'file' | 'http';
  /** image: absolute path in the image; file: absolute host path; http: the URL without trailing slash. */
  location: string;
}

/** Largest script accepted from an http(s) scripts URL. */
export const maxScriptBytes = 10 * 1024 * 1024;

/**
 * Parse a scripts URL. `file://` accepts relative paths (`file://rel/dir`, resolved against baseDir, default
 * the working directory) as s2i does. Any other scheme, or none, is ERR_SCRIPTS_URL_SCHEME (exit 12).
 */
export function parseScriptsUrl(url: string, baseDir: string = process.cwd()): ParsedScriptsUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url.trim());
  const bad = (why: string): S2IError =>
    new S2IError('ERR_SCRIPTS_URL_SCHEME', `scripts URL "${url}" ${why}; use image:///path, file://path or http(s)://host/path`);
  if (!m) throw bad('has no scheme');
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'image': {
      if (!rest.startsWith('/')) throw bad('must name an absolute path inside the image (image:///usr/libexec/s2i)');
      return { kind: 'image', location: stripSlash(path.posix.normalize(rest)) };
    }
    case 'file': {
      if (rest === '') throw bad('names no path');
      const p = decodeURIComponent(rest);
      return { kind: 'file', location: stripSlash(path.resolve(baseDir, p)) };
    }
    case 'http':
    case 'https': {
      let u: URL;
      try {
        u = new URL(url.trim());
      } catch {
        throw bad('is not a valid URL');
      }
      if (!u.host) throw bad('names no host');
      return { kind: 'http', location: u.toString().replace(/\/+$/, '') };
    }
    default:
      throw bad(`uses the unsupported scheme "${scheme}:"`);
  }
}

function stripSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/**
 * Default http fetcher: GET, 200/201 → body (capped at maxScriptBytes), 404/410 → undefined (not there, look
 * further), anything else → ERR_SCRIPT_DOWNLOAD (exit 8). Works against loopback servers (no proxy).
 */
export async function fetchHttpScript(url: string, opts: { timeoutMs?: number } = {}): Promise<Buffer | undefined> {
  const timeout = opts.timeoutMs ?? 30_000;
  let res;
  try {
    res = await request(url, { method: 'GET', headersTimeout: timeout, bodyTimeout: timeout, dispatcher: scriptDispatcher() });
  } catch (e) {
    throw new S2IError('ERR_SCRIPT_DOWNLOAD', `cannot download script ${url}: ${(e as Error).message}; check the scripts URL and network`, {
      cause: e,
    });
  }
  const status = res.statusCode;
  if (status !== 200 && status !== 201) {
    await res.body.dump().catch(() => {});
    if (status === 404 || status === 410) return undefined;
    throw new S2IError('ERR_SCRIPT_DOWNLOAD', `cannot download script ${url}: HTTP ${status} (only 200 and 201 are accepted)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxScriptBytes) {
        res.body.destroy();
        throw new S2IError('ERR_SCRIPT_DOWNLOAD', `script ${url} is larger than ${maxScriptBytes} bytes; refusing it`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof S2IError) throw e;
    throw new S2IError('ERR_SCRIPT_DOWNLOAD', `download of script ${url} broke off: ${(e as Error).message}`, { cause: e });
  }
  return Buffer.concat(chunks);
}

let dispatcher: Dispatcher | undefined;
/** One shared agent that follows a few redirects (s2i follows them too); the system trust store and
 *  HTTPS_PROXY/NO_PROXY as for registries (loopback is never proxied). */
function scriptDispatcher(): Dispatcher {
  dispatcher ??= new NetAgent().compose(interceptors.redirect({ maxRedirections: 5 }));
  return dispatcher;
}

export interface ResolveScriptsInput {
  /** --scripts-url */
  scriptsUrl?: string;
  /** --image-scripts-url: where the builder's own scripts are; replaces its label, deprecated label and env. */
  imageScriptsUrl?: string;
  /** Source directory (its .s2i/bin overrides the image). */
  sourceDir: string;
  imageLabels: Record<string, string>;
  /** Image config Env, "NAME=VALUE" strings (STI_SCRIPTS_URL). */
  imageEnv: string[];
  needed: ScriptName[];
  optional: ScriptName[];
  fetchHttp?: (url: string) => Promise<Buffer | undefined>;
  /** Whether an absolute path exists in the builder rootfs; absent → image:// scripts are assumed present. */
  probeImage?: (absPath: string) => Promise<boolean>;
  /** Base for relative file:// URLs (default: working directory). */
  baseDir?: string;
}

interface Place {
  /** How the error message names this place. */
  what: string;
  url?: ParsedScriptsUrl;
  sourceBin?: string;
}

/** Candidate places in precedence order; URLs are parsed up front so a bad scheme fails even when unused. */
function places(input: ResolveScriptsInput): Place[] {
  const out: Place[] = [];
  const base = input.baseDir ?? process.cwd();
  if (input.scriptsUrl) out.push({ what: `--scripts-url ${input.scriptsUrl}`, url: parseScriptsUrl(input.scriptsUrl, base) });
  out.push({ what: `source ${path.join(input.sourceDir, '.s2i', 'bin')}`, sourceBin: path.join(input.sourceDir, '.s2i', 'bin') });
  if (input.imageScriptsUrl) {
    out.push({ what: `--image-scripts-url ${input.imageScriptsUrl}`, url: parseScriptsUrl(input.imageScriptsUrl, base) });
    return out;
  }
  const lbl = input.imageLabels[Label.scriptsUrl];
  if (lbl) out.push({ what: `label ${Label.scriptsUrl}=${lbl}`, url: fromImage(lbl, `label ${Label.scriptsUrl}`) });
  const dep = input.imageLabels[Label.scriptsUrlDeprecated];
  if (dep) out.push({ what: `label ${Label.scriptsUrlDeprecated}=${dep}`, url: fromImage(dep, `label ${Label.scriptsUrlDeprecated}`) });
  const envLine = [...input.imageEnv].reverse().find((e) => e.startsWith(ScriptsUrlEnv + '='));
  const env = envLine?.slice(ScriptsUrlEnv.length + 1);
  if (env) out.push({ what: `env ${ScriptsUrlEnv}=${env}`, url: fromImage(env, `the image's env ${ScriptsUrlEnv}`) });
  return out;
}

/**
 * A scripts URL the image gives (label or env). `file://` is refused there: it would make the build copy files of
 * the build host, named by the image, into the image's layer. `image://` paths with `..` are refused too.
 */
function fromImage(url: string, what: string): ParsedScriptsUrl {
  const parsed = parseScriptsUrl(url, '/');
  const bad = (why: string) => new S2IError('ERR_SCRIPTS_URL_SCHEME', `${what} "${url}" ${why}; use image:///path or http(s)://, or give --scripts-url`);
  if (parsed.kind === 'file') throw bad('names files on the build host (file://), which an image may not do');
  if (parsed.kind === 'image' && /^image:\/\/.*(^|\/)\.\.(\/|$)/s.test(url.trim())) throw bad('contains ".."');
  return parsed;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function lookup(place: Place, name: ScriptName, input: ResolveScriptsInput): Promise<ScriptSource | undefined> {
  if (place.sourceBin !== undefined) {
    const p = path.join(place.sourceBin, name);
    return (await isFile(p)) ? { kind: 'file', hostPath: p } : undefined;
  }
  const u = place.url!;
  switch (u.kind) {
    case 'image': {
      const p = path.posix.join(u.location, name);
      if (input.probeImage && !(await input.probeImage(p))) return undefined;
      return { kind: 'image', path: p };
    }
    case 'file': {
      const p = path.join(u.location, name);
      return (await isFile(p)) ? { kind: 'file', hostPath: p } : undefined;
    }
    case 'http': {
      const url = `${u.location}/${name}`;
      const data = await (input.fetchHttp ?? fetchHttpScript)(url);
      return data === undefined ? undefined : { kind: 'http', url, data };
    }
  }
}

/**
 * Resolve where each needed and optional script comes from. A needed script found nowhere is
 * ERR_SCRIPT_MISSING (exit 11) naming every place searched; optional ones are simply left out of the map.
 * A 404 from an http place means "not there" (search goes on); other http failures are ERR_SCRIPT_DOWNLOAD (exit 8).
 */
export async function resolveScripts(input: ResolveScriptsInput): Promise<Map<ScriptName, ScriptSource>> {
  const where = places(input);
  const out = new Map<ScriptName, ScriptSource>();
  const all: Array<[ScriptName, boolean]> = [
    ...input.needed.map((n): [ScriptName, boolean] => [n, true]),
    ...input.optional.filter((n) => !input.needed.includes(n)).map((n): [ScriptName, boolean] => [n, false]),
  ];
  // Scripts the --scripts-url place provided (s2i fails a build whose --scripts-url provides none).
  let fromFlag = 0;
  for (const [name, required] of all) {
    let found: ScriptSource | undefined;
    for (const place of where) {
      found = await lookup(place, name, input);
      if (found) {
        if (input.scriptsUrl && place === where[0]) fromFlag++;
        break;
      }
    }
    if (found) out.set(name, found);
    else if (required) {
      const looked = where.length ? where.map((p) => p.what).join('; ') : 'nowhere';
      throw new S2IError(
        'ERR_SCRIPT_MISSING',
        `required script "${name}" not found: looked in ${looked}; add it to .s2i/bin, pass --scripts-url, or fix the builder's ${Label.scriptsUrl} label`,
      );
    }
  }
  // Builds only (assemble asked for): `usage` with a URL that lacks its script falls back per script, as before.
  if (input.scriptsUrl && fromFlag === 0 && all.some(([n]) => n === 'assemble')) {
    // s2i counts assemble, run and save-artifacts; the last is looked for at the URL only for this count.
    const extra = all.some(([n]) => n === 'save-artifacts') ? undefined : await lookup(where[0]!, 'save-artifacts', input);
    if (!extra) {
      throw new S2IError('ERR_SCRIPTS_URL_EMPTY', `could not download any scripts from URL ${input.scriptsUrl}: it has none of ${[...new Set([...all.map(([n]) => n), 'save-artifacts'])].join(', ')}; fix --scripts-url or leave it out to use the builder's scripts`);
    }
  }
  return out;
}

/** Path of a resolved script inside the build container: the image path, or <dest>/scripts/<name> for uploads. */
export function scriptPathInImage(name: ScriptName, src: ScriptSource, destination: string): string {
  return src.kind === 'image' ? src.path : path.posix.join(destination, 'scripts', name);
}

/**
 * Write every uploaded (file/http) script into dir/<name> with mode 0755, ready to appear at <dest>/scripts.
 * Returns the names written. http scripts without fetched data are downloaded now.
 */
export async function materializeScripts(
  scripts: Map<ScriptName, ScriptSource>,
  dir: string,
  fetchHttp: (url: string) => Promise<Buffer | undefined> = fetchHttpScript,
): Promise<ScriptName[]> {
  const written: ScriptName[] = [];
  for (const [name, src] of scripts) {
    if (src.kind === 'image') continue;
    await mkdir(dir, { recursive: true });
    const target = path.join(dir, name);
    if (src.kind === 'file') {
      await access(src.hostPath, constants.R_OK);
      await copyFile(src.hostPath, target);
    } else {
      const data = src.data ?? (await fetchHttp(src.url));
      if (data === undefined) {
        throw new S2IError('ERR_SCRIPT_DOWNLOAD', `script ${src.url} is no longer available (HTTP 404)`);
      }
      await writeFile(target, data);
    }
    await chmod(target, 0o755);
    written.push(name);
  }
  return written;
}
