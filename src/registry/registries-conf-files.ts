// Which registries.conf files are read, and reading them (containers-registries.conf(5),
// containers-registries.conf.d(5)); parsing and merging are registries-conf.ts's.
//   CONTAINERS_REGISTRIES_CONF=FILE    only that file (it must exist)
//   $XDG_CONFIG_HOME/containers/registries.conf (default ~/.config/…) when it exists: it, then the user's
//                                      registries.conf.d/*.conf; the system file and drop-ins are not read
//   otherwise                          /etc/containers/registries.conf (when it exists), then
//                                      /etc/containers/registries.conf.d/*.conf, then the user's registries.conf.d/*.conf
// Drop-ins: `*.conf` regular files of each directory in lexical order, no subdirectories. Short-name aliases
// podman recorded (short-name-aliases.conf in $XDG_CACHE_HOME/containers, or /var/cache/containers for root) are
// read too, except with CONTAINERS_REGISTRIES_CONF.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { readInputFile } from '../sys/input-file.js';
import { mergeRegistriesConf, parseAliasCache, parseRegistriesConf, type Alias, type ConfFile, type RegistriesConf } from './registries-conf.js';

export interface RegistriesConfFilesOptions {
  env?: NodeJS.ProcessEnv;
  /** Where registries.conf and registries.conf.d are for the system. Default /etc/containers (tests change it). */
  systemDir?: string;
  /** Where root's short-name-aliases.conf is. Default /var/cache/containers. */
  systemCacheDir?: string;
}

/**
 * A file that is not there is no error (except the one CONTAINERS_REGISTRIES_CONF names). Nor, in the user's
 * directories, is one this process may not reach (`unreachable`): as containers/image, whose stat of the user's
 * file fails over to the system's (a random-UID pod whose $HOME/.config is another user's, say).
 */
function missing(e: unknown, unreachable = false): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || (unreachable && code === 'EACCES');
}

async function read(file: string, user = false): Promise<string | undefined> {
  try {
    return (await readInputFile(file, { what: 'registries configuration file', code: 'ERR_REGISTRIES_CONF' })).toString('utf8');
  } catch (e) {
    if (missing(e, user) || missing((e as { cause?: unknown }).cause, user)) return undefined;
    if (e instanceof S2IError) throw e;
    throw new S2IError('ERR_REGISTRIES_CONF', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function dropIns(dir: string, user: boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if (missing(e, user)) return [];
    throw new S2IError('ERR_REGISTRIES_CONF', `cannot list ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const out: string[] = [];
  for (const n of names.filter((n) => n.endsWith('.conf')).sort()) {
    const st = await fs.stat(path.join(dir, n)).catch(() => undefined);
    if (st?.isFile()) out.push(path.join(dir, n));
  }
  return out;
}

function configHome(env: NodeJS.ProcessEnv): string {
  const x = env.XDG_CONFIG_HOME;
  return x && path.isAbsolute(x) ? x : path.join(env.HOME || os.homedir(), '.config');
}

/** Root's aliases are in /var/cache; a rootless engine runs as uid 0 of its user namespace (sandbox/namespace.ts). */
function aliasCacheFile(env: NodeJS.ProcessEnv, systemCacheDir: string): string {
  const ns = env.OCI_S2I_NAMESPACE;
  const root = process.geteuid?.() === 0 && ns !== 'userns' && ns !== 'userns-single';
  if (root) return path.join(systemCacheDir, 'short-name-aliases.conf');
  const x = env.XDG_CACHE_HOME;
  const cache = x && path.isAbsolute(x) ? x : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'containers', 'short-name-aliases.conf');
}

/** The configuration in effect for this environment (no file at all: empty, and short names stay docker.io names). */
export async function loadRegistriesConf(opts: RegistriesConfFilesOptions = {}): Promise<RegistriesConf> {
  const env = opts.env ?? process.env;
  const systemDir = opts.systemDir ?? '/etc/containers';
  const files: ConfFile[] = [];
  const only = env.CONTAINERS_REGISTRIES_CONF;
  if (only) {
    const text = await read(only);
    if (text === undefined) throw new S2IError('ERR_REGISTRIES_CONF', `CONTAINERS_REGISTRIES_CONF names ${only}, which does not exist: create it or unset the variable`);
    return mergeRegistriesConf([parseRegistriesConf(text, only)]);
  }
  const userDir = path.join(configHome(env), 'containers');
  const userFile = path.join(userDir, 'registries.conf');
  const userText = await read(userFile, true);
  const dirs: Array<[string, boolean]> = [[path.join(userDir, 'registries.conf.d'), true]];
  if (userText !== undefined) files.push(parseRegistriesConf(userText, userFile));
  else {
    const systemFile = path.join(systemDir, 'registries.conf');
    const text = await read(systemFile);
    if (text !== undefined) files.push(parseRegistriesConf(text, systemFile));
    dirs.unshift([path.join(systemDir, 'registries.conf.d'), false]);
  }
  for (const [dir, user] of dirs) {
    for (const f of await dropIns(dir, user)) {
      const text = await read(f, user);
      if (text !== undefined) files.push(parseRegistriesConf(text, f, { dropIn: true }));
    }
  }
  const cacheFile = aliasCacheFile(env, opts.systemCacheDir ?? '/var/cache/containers');
  const cacheText = await read(cacheFile, true);
  const cache: Map<string, Alias> = cacheText === undefined ? new Map() : parseAliasCache(cacheText, cacheFile);
  return mergeRegistriesConf(files, cache);
}
