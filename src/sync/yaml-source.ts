// `--src yaml FILE`: skopeo sync's YAML source format (skopeo-sync(1) "YAML file content"), read strictly.
//
//   REGISTRY[:PORT]:
//     images:               {REPO: [TAG or DIGEST, …]}   an empty list (or nothing): every tag
//     images-by-tag-regex:  {REPO: REGEX}                tags the regular expression finds (unanchored, as Go's)
//     images-by-semver:     {REPO: CONSTRAINT}           tags that are versions the constraint allows (semver.ts)
//     credentials:          {username: U, password: P}
//     tls-verify:           true|false                   (default: the command line's)
//     cert-dir:             DIR
//
// Every scalar is read as the text written (the YAML failsafe schema), so a tag 1.10 stays "1.10" (skopeo's
// own example quotes "1.0" to get that). Anything else is an error naming FILE:LINE:COLUMN and what to write:
// an unknown key, a duplicate one, a value of the wrong shape, a name or tag the reference grammar refuses, a
// regular expression or constraint that does not compile, anchors and aliases, several documents.
import { S2IError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { isValidRegistryHost, isValidRepositoryPath, isValidTag, type Reference } from '../oci/reference.js';
import { openInputFile } from '../sys/input-file.js';
import { matchesConstraint, parseConstraint } from './semver.js';

/** What one registry's block says about connecting to it; unset fields keep the command line's. */
export interface RegistrySettings {
  tlsVerify?: boolean;
  certDir?: string;
  credentials?: { username: string; password: string };
}

/** One repository to take images from, and which. */
export interface RepositorySelection {
  /** The repository (no tag, no digest). */
  repository: Reference;
  settings: RegistrySettings;
  /** Tags and digests to take; undefined: every tag `filter` keeps (every tag when there is no filter). */
  refs?: string[];
  filter?: { describe: string; keep: (tag: string) => boolean };
  /** FILE:LINE, for messages. */
  where: string;
}

/** Larger than any hand-written list of images; a bigger file is refused before it is read. */
const MAX_FILE_BYTES = 1024 * 1024;

const registryKeys = ['images', 'images-by-tag-regex', 'images-by-semver', 'credentials', 'tls-verify', 'cert-dir'] as const;

// The few shapes of the yaml package's node API used here (the package is loaded only for --src yaml).
interface Node {
  range?: [number, number, number] | null;
}
interface ScalarNode extends Node {
  value: unknown;
}
interface PairNode {
  key: unknown;
  value: unknown;
}
interface YamlApi {
  isMap(n: unknown): n is Node & { items: PairNode[] };
  isSeq(n: unknown): n is Node & { items: unknown[] };
  isScalar(n: unknown): n is ScalarNode;
  isAlias(n: unknown): boolean;
}

class SyncFileError extends S2IError {
  constructor(message: string) {
    super('ERR_SYNC_FILE', message);
  }
}

/** Reads and checks the sync file `file`; the repositories it names, in the order written. */
export async function loadSyncFile(file: string): Promise<RepositorySelection[]> {
  let text: string;
  try {
    const fh = await openInputFile(file, { what: 'sync file', code: 'ERR_SYNC_FILE' });
    try {
      const { size } = await fh.stat();
      if (size > MAX_FILE_BYTES) throw new SyncFileError(`${file} is ${size} bytes; a sync file is at most ${MAX_FILE_BYTES} bytes`);
      text = (await fh.readFile()).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof S2IError) throw e;
    throw new SyncFileError(`cannot read the sync file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a YAML file`);
  }
  return await parseSyncFile(text, file);
}

/** Parses the text of a sync file named `file` (for messages). */
export async function parseSyncFile(text: string, file: string): Promise<RepositorySelection[]> {
  const yaml = await import('yaml');
  const lines = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter: lines, schema: 'failsafe', uniqueKeys: true });
  const at = (n: unknown): string => {
    const offset = (n as Node | null)?.range?.[0];
    if (offset === undefined) return file;
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const fail = (n: unknown, message: string): never => {
    throw new SyncFileError(`${at(n)}: ${message}`);
  };
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    throw new SyncFileError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}; the file is not valid YAML`);
  }
  const api: YamlApi = yaml;
  const contents = doc.contents;
  if (contents === null || (api.isScalar(contents) && contents.value === '')) fail(contents, 'the file names no registries; write REGISTRY: {images: {REPO: [TAG]}}');
  const out: RepositorySelection[] = [];
  for (const { key, value, name } of mapEntries(api, contents, 'the top level', fail)) {
    if (!isValidRegistryHost(name)) fail(key, `"${name}" is not a registry host[:port]`);
    out.push(...registryBlock(api, name.toLowerCase(), key, value, at, fail));
  }
  return out;
}

type Fail = (n: unknown, message: string) => never;

/** The entries of a mapping, keys as strings; anything else (a list, a scalar, an alias) fails at `n`. */
function mapEntries(api: YamlApi, n: unknown, what: string, fail: Fail): Array<{ key: unknown; value: unknown; name: string }> {
  if (api.isAlias(n)) fail(n, 'anchors and aliases are not supported here; write the value out');
  if (!api.isMap(n)) fail(n, `${what} must be a mapping (KEY: VALUE lines)`);
  return (n as { items: PairNode[] }).items.map(({ key, value }) => {
    if (!api.isScalar(key) || typeof key.value !== 'string') fail(key, `the keys of ${what} must be plain names`);
    return { key, value, name: (key as ScalarNode).value as string };
  });
}

function scalar(api: YamlApi, n: unknown, what: string, fail: Fail): string {
  if (api.isAlias(n)) fail(n, 'anchors and aliases are not supported here; write the value out');
  if (!api.isScalar(n) || typeof n.value !== 'string') fail(n, `${what} must be a single value`);
  return (n as ScalarNode).value as string;
}

function bool(api: YamlApi, n: unknown, what: string, fail: Fail): boolean {
  const v = scalar(api, n, what, fail).toLowerCase();
  if (['true', 'yes', 'on'].includes(v)) return true;
  if (['false', 'no', 'off'].includes(v)) return false;
  return fail(n, `${what} must be true or false`);
}

function registryBlock(api: YamlApi, registry: string, regKey: unknown, block: unknown, at: (n: unknown) => string, fail: Fail): RepositorySelection[] {
  const settings: RegistrySettings = {};
  const selections: RepositorySelection[] = [];
  const repository = (key: unknown, name: string): Reference => {
    if (!isValidRepositoryPath(name)) fail(key, `"${name}" is not a repository path (lowercase components separated by "/", no tag)`);
    return { registry, repository: name };
  };
  let images = 0;
  for (const { key, value, name } of mapEntries(api, block, `the block of ${registry}`, fail)) {
    switch (name as (typeof registryKeys)[number]) {
      case 'images':
        for (const e of mapEntries(api, value, 'images', fail)) {
          const repo = repository(e.key, e.name);
          images++;
          const empty = e.value === null || (api.isScalar(e.value) && e.value.value === '');
          if (empty) {
            selections.push({ repository: repo, settings, where: at(e.key) });
            continue;
          }
          if (!api.isSeq(e.value)) fail(e.value, `images.${e.name} must be a list of tags and digests ([] for every tag)`);
          const refs = (e.value as { items: unknown[] }).items.map((item) => {
            const ref = scalar(api, item, `a tag of ${e.name}`, fail);
            if (!isValidTag(ref) && !isValidDigest(ref)) fail(item, `"${ref}" is neither a tag ([A-Za-z0-9_.-], at most 128) nor a digest (sha256:<64 hex>)`);
            return ref;
          });
          selections.push({ repository: repo, settings, ...(refs.length > 0 ? { refs } : {}), where: at(e.key) });
        }
        break;
      case 'images-by-tag-regex':
        for (const e of mapEntries(api, value, 'images-by-tag-regex', fail)) {
          const repo = repository(e.key, e.name);
          images++;
          const source = scalar(api, e.value, `images-by-tag-regex.${e.name}`, fail);
          let re: RegExp;
          try {
            re = new RegExp(source, 'u');
          } catch (err) {
            return fail(e.value, `the regular expression for ${e.name} does not compile (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`);
          }
          selections.push({ repository: repo, settings, filter: { describe: `tags matching /${source}/`, keep: (t) => re.test(t) }, where: at(e.key) });
        }
        break;
      case 'images-by-semver':
        for (const e of mapEntries(api, value, 'images-by-semver', fail)) {
          const repo = repository(e.key, e.name);
          images++;
          const source = scalar(api, e.value, `images-by-semver.${e.name}`, fail);
          let constraint;
          try {
            constraint = parseConstraint(source);
          } catch (err) {
            return fail(e.value, (err as Error).message);
          }
          selections.push({ repository: repo, settings, filter: { describe: `versions ${source}`, keep: (t) => matchesConstraint(constraint, t) }, where: at(e.key) });
        }
        break;
      case 'credentials': {
        const c: Record<string, string> = {};
        for (const e of mapEntries(api, value, 'credentials', fail)) {
          if (e.name !== 'username' && e.name !== 'password') fail(e.key, `unknown key "${e.name}" in credentials; the keys are username and password`);
          c[e.name] = scalar(api, e.value, `credentials.${e.name}`, fail);
        }
        if (c.username === undefined || c.password === undefined) fail(value, 'credentials need both username and password');
        settings.credentials = { username: c.username!, password: c.password! };
        break;
      }
      case 'tls-verify':
        settings.tlsVerify = bool(api, value, 'tls-verify', fail);
        break;
      case 'cert-dir':
        settings.certDir = scalar(api, value, 'cert-dir', fail);
        if (settings.certDir === '') fail(value, 'cert-dir must name a directory');
        break;
      default:
        fail(key, `unknown key "${name}" for the registry ${registry}; the keys are ${registryKeys.join(', ')}`);
    }
  }
  if (images === 0) fail(regKey, `the registry ${registry} names no images; add images, images-by-tag-regex or images-by-semver`);
  return selections;
}
