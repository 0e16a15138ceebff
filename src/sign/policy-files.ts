// Which policy.json and which registries.d directory apply, as containers/image picks them
// (signature/policy_config.go defaultPolicyPath, docker/registries_d.go registriesDirPath): `--signature-policy`
// alone when given; else $HOME/.config/containers/policy.json when it exists, else /etc/containers/policy.json.
// `--registries.d` alone when given; else $HOME/.config/containers/registries.d when it exists, else
// /etc/containers/registries.d. Every `*.yaml` file of the directory is merged; `default-docker` or one `docker`
// namespace defined twice is an error, as there. Where containers/image fails with no policy file at all, an
// engine that never had one runs without a policy (what a build did before policies existed): said in one line.
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { S2IError } from '../errors.js';
import { parsePolicy, type Policy } from './policy.js';

export interface PolicyFileOptions {
  /** `--signature-policy FILE`: the only file read; it must exist. */
  policyFile?: string;
  /** `--registries.d DIR`: the only directory read. */
  registriesDir?: string;
  /** For tests: instead of os.homedir() and /etc. */
  home?: string;
  etc?: string;
}

/** One registries.d namespace entry: only what a sigstore reader needs. */
interface Namespace {
  useSigstoreAttachments?: boolean;
}

export interface RegistriesD {
  dir: string;
  defaultDocker?: Namespace;
  docker: Record<string, Namespace>;
}

export interface LoadedPolicy {
  policy: Policy;
  registriesD: RegistriesD;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The policy that applies (undefined when no file exists and none was named), with its registries.d. */
export async function loadPolicy(opts: PolicyFileOptions = {}): Promise<LoadedPolicy | undefined> {
  const home = opts.home ?? os.homedir();
  const etc = opts.etc ?? '/etc';
  let file = opts.policyFile;
  if (file === undefined) {
    const user = path.join(home, '.config/containers/policy.json');
    const system = path.join(etc, 'containers/policy.json');
    file = (await exists(user)) ? user : (await exists(system)) ? system : undefined;
    if (file === undefined) return undefined;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new S2IError('ERR_POLICY_INVALID', `signature policy ${file} ${why}; give an existing containers-policy.json(5) file`);
  }
  const policy = parsePolicy(text, file);
  let dir = opts.registriesDir;
  if (dir === undefined) {
    const user = path.join(home, '.config/containers/registries.d');
    dir = (await exists(user)) ? user : path.join(etc, 'containers/registries.d');
  }
  return { policy, registriesD: await loadRegistriesD(dir) };
}

async function loadRegistriesD(dir: string): Promise<RegistriesD> {
  const out: RegistriesD = { dir, docker: {} };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new S2IError('ERR_POLICY_INVALID', `registries.d directory ${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); give a readable directory`);
  }
  let defaultFrom = '';
  const from: Record<string, string> = {};
  for (const name of names.filter((n) => n.endsWith('.yaml')).sort()) {
    const file = path.join(dir, name);
    const bad = (why: string): S2IError => new S2IError('ERR_POLICY_INVALID', `registries.d file ${file}: ${why}; see containers-registries.d(5)`);
    let doc: unknown;
    try {
      doc = parseYaml(await readFile(file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw bad(`not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw bad('the top level is not a mapping');
    const d = doc as Record<string, unknown>;
    if (d['default-docker'] !== undefined && d['default-docker'] !== null) {
      if (out.defaultDocker) throw bad(`"default-docker" is defined both in ${defaultFrom} and here`);
      out.defaultDocker = namespace(d['default-docker'], (why) => bad(`default-docker: ${why}`));
      defaultFrom = file;
    }
    if (d.docker !== undefined && d.docker !== null) {
      if (typeof d.docker !== 'object' || Array.isArray(d.docker)) throw bad('"docker" is not a mapping');
      for (const [ns, v] of Object.entries(d.docker as Record<string, unknown>)) {
        if (out.docker[ns]) throw bad(`"docker" namespace ${JSON.stringify(ns)} is defined both in ${from[ns]} and here`);
        out.docker[ns] = namespace(v, (why) => bad(`docker[${JSON.stringify(ns)}]: ${why}`));
        from[ns] = file;
      }
    }
  }
  return out;
}

function namespace(v: unknown, bad: (why: string) => S2IError): Namespace {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('not a mapping');
  const u = (v as Record<string, unknown>)['use-sigstore-attachments'];
  if (u === undefined || u === null) return {};
  if (typeof u !== 'boolean') throw bad('use-sigstore-attachments is not true or false');
  return { useSigstoreAttachments: u };
}

/** registries_d.go useSigstoreAttachments: the identity's entry, its namespaces', then default-docker; else false. */
export function usesSigstoreAttachments(d: RegistriesD, identity: string, namespaces: readonly string[]): boolean {
  for (const key of [identity, ...namespaces]) {
    const v = d.docker[key]?.useSigstoreAttachments;
    if (v !== undefined) return v;
  }
  return d.defaultDocker?.useSigstoreAttachments ?? false;
}
