// The store's images as `oci-s2i images|tag|rmi|push` and `local:NAME` see them (spec/store-format.md "Local
// images"): every entry of index.json, named (org.opencontainers.image.ref.name) or not (a build without a TAG),
// with its image ID (the config digest, as podman and docker show it), created time and size. A name or ID the
// user gives is looked up by one rule (`findLocalImage`); names are written and removed under index.json's lock.
import fs from 'node:fs/promises';
import path from 'node:path';
import { S2IError, withStepSync } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseImageConfig, parseManifestDocument } from '../oci/manifest.js';
import { hostPlatform, selectPlatform } from '../oci/platform.js';
import { formatReference, parseReference } from '../oci/reference.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import { refNameAnnotation } from './blob-store.js';
import { reachableFrom, readIndex } from './inventory.js';
import { acquireLock, lockPath } from './lock-file.js';
import { blobPath, layoutDir, lockDir, writeFileAtomic } from './store-paths.js';

/** The registry podman gives a name typed without one (`myapp` → `localhost/myapp:latest`). */
export const LOCAL_REGISTRY = 'localhost';

export interface LocalImage {
  /** The name in index.json; undefined: unnamed (a build without a TAG). */
  name?: string;
  /** The image ID: the config digest (of this host's platform for an index). */
  id: string;
  /** The top manifest (or index) descriptor. */
  descriptor: Descriptor;
  /** The config's `created`, when it has one. */
  created?: string;
  /** Compressed size: manifest(s), config(s) and layers, as the descriptors state them. */
  size: number;
}

/**
 * The name a tag given to `build`, `tag` or `copy … local:` is stored under: a name without a registry is a local
 * one, `localhost/NAME:TAG` (as podman names it); a qualified name is kept as it is; no tag means `latest`.
 * A digest is refused (a name is a tag), and so is anything that is not a reference (ERR_INVALID_REFERENCE, a
 * usage error: exit 64).
 */
export function localName(input: string): string {
  const ref = withStepSync('usage', () => parseReference(input));
  if (ref.digest !== undefined) throw new S2IError('ERR_INVALID_REFERENCE', `${input.slice(0, 200)} has a digest: a local image is named by NAME[:TAG]`, { step: 'usage' });
  if (ref.shortName !== undefined) return `${LOCAL_REGISTRY}/${ref.shortName}:${ref.tag ?? 'latest'}`;
  return formatReference(ref);
}

/** Every image of the store's index.json (unnamed ones only while their manifest is stored and has no name), names sorted. */
export async function listLocalImages(root: string): Promise<LocalImage[]> {
  const index = await readIndex(root);
  const out: LocalImage[] = [];
  const entries = (index?.manifests ?? []).filter((m) => m && typeof m.digest === 'string' && isValidDigest(m.digest));
  const named = new Set(entries.filter((m) => m.annotations?.[refNameAnnotation] !== undefined).map((m) => m.digest));
  for (const m of entries) {
    const name = m.annotations?.[refNameAnnotation];
    if (name === undefined && named.has(m.digest)) continue; // an unnamed build named later (`tag`)
    const top = await readBlob(root, m.digest, MAX_MANIFEST_BYTES);
    if (top === undefined && name === undefined) continue; // an unnamed image `cache prune` removed
    const { annotations: _a, ...descriptor } = m;
    const config = top ? await configOf(root, top, m.mediaType) : undefined;
    const { images } = await reachableFrom(root, [{ name: name ?? '', desc: m }]);
    out.push({
      ...(name !== undefined ? { name } : {}),
      id: config?.digest ?? m.digest,
      descriptor,
      ...(config?.created !== undefined ? { created: config.created } : {}),
      size: images[0]?.size ?? 0,
    });
  }
  return out.sort((a, b) => (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.id.localeCompare(b.id));
}

/** An image looked up by NAME|ID, with every name of its image ID and its unnamed entries (manifest digests). */
export interface FoundImage extends LocalImage {
  /** How the input matched: a name (or short name) of the image, or an image-ID prefix. */
  by: 'name' | 'id';
  names: string[];
  unnamed: string[];
}

/**
 * The image NAME|ID stands for: the name as stored; a reference (a short name: `localhost/NAME:TAG`, then the
 * Docker Hub name, then the one stored name whose repository ends in `/NAME` with that tag); else an image-ID
 * prefix (`sha256:` optional). Unknown: ERR_LOCAL_IMAGE_UNKNOWN; a short name or ID prefix that fits several
 * images: ERR_LOCAL_IMAGE_AMBIGUOUS. Every name of the image is returned (an ID may have several).
 */
export async function findLocalImage(root: string, input: string): Promise<FoundImage> {
  const all = await listLocalImages(root);
  let by: FoundImage['by'] = 'name';
  const withNames = (img: LocalImage): FoundImage => {
    const same = all.filter((x) => x.id === img.id);
    return { ...img, by, names: same.filter((x) => x.name !== undefined).map((x) => x.name!), unnamed: same.filter((x) => x.name === undefined).map((x) => x.descriptor.digest) };
  };
  const byName = (n: string): LocalImage | undefined => all.find((x) => x.name === n);
  const exact = byName(input);
  if (exact) return withNames(exact);
  let ref;
  try {
    ref = parseReference(input);
  } catch {
    ref = undefined;
  }
  if (ref && ref.digest === undefined) {
    const tag = ref.tag ?? 'latest';
    const short = ref.shortName;
    for (const n of short !== undefined ? [`${LOCAL_REGISTRY}/${short}:${tag}`, formatReference(ref)] : [formatReference(ref)]) {
      const hit = byName(n);
      if (hit) return withNames(hit);
    }
    if (short !== undefined) {
      const suffix = all.filter((x) => x.name !== undefined && endsWithRepository(x.name, short, tag));
      const ids = new Set(suffix.map((x) => x.id));
      if (ids.size === 1) return withNames(suffix[0]!);
      if (ids.size > 1) {
        throw new S2IError('ERR_LOCAL_IMAGE_AMBIGUOUS', `local image name ${input.slice(0, 200)} fits ${suffix.map((x) => x.name).join(', ')}: give the full name`);
      }
    }
  }
  const hex = /^(?:sha256:)?([0-9a-f]{1,64})$/.exec(input)?.[1];
  if (hex !== undefined) {
    by = 'id';
    const ids = [...new Set(all.filter((x) => x.id.startsWith(`sha256:${hex}`)).map((x) => x.id))];
    if (ids.length > 1) {
      throw new S2IError('ERR_LOCAL_IMAGE_AMBIGUOUS', `image ID ${input} is the start of ${ids.length} image IDs (${ids.map(shortId).join(', ')}): give more of it`);
    }
    if (ids.length === 1) return withNames(all.find((x) => x.id === ids[0])!);
  }
  throw new S2IError('ERR_LOCAL_IMAGE_UNKNOWN', `no local image ${JSON.stringify(input.slice(0, 200))}: see \`oci-s2i images\` for the names and IDs in the store`);
}

/** The first 12 hex digits of an image ID (as `images` shows it). */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** `name` (a stored name) is host/…/`short`:`tag` (or `short` is the whole repository path). */
function endsWithRepository(name: string, short: string, tag: string): boolean {
  let ref;
  try {
    ref = parseReference(name);
  } catch {
    return false;
  }
  return ref.tag === tag && ref.digest === undefined && (ref.repository === short || ref.repository.endsWith(`/${short}`));
}

/** Adds `desc` to index.json with no name (a build without a TAG), replacing an unnamed entry of the same digest. */
export async function keepUnnamed(root: string, desc: Descriptor): Promise<void> {
  await editIndex(root, (index) => {
    const named = index.manifests.some((m) => m.digest === desc.digest && m.annotations?.[refNameAnnotation] !== undefined);
    index.manifests = index.manifests.filter((m) => m.digest !== desc.digest || m.annotations?.[refNameAnnotation] !== undefined);
    if (!named) index.manifests.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    return [];
  });
}

/**
 * Removes these names, and the unnamed entries of these manifest digests, from index.json; what they kept alive is
 * left for `cache prune`. Returns the names removed (`<none>` for an unnamed entry).
 */
export async function removeLocalImage(root: string, names: readonly string[], unnamedDigests: readonly string[] = []): Promise<string[]> {
  return editIndex(root, (index) => {
    const removed: string[] = [];
    index.manifests = index.manifests.filter((m) => {
      const n = m.annotations?.[refNameAnnotation];
      if (n !== undefined ? names.includes(n) : unnamedDigests.includes(m.digest)) {
        removed.push(n ?? '<none>');
        return false;
      }
      return true;
    });
    return removed;
  });
}

async function editIndex<T>(root: string, edit: (index: ImageIndex) => T): Promise<T> {
  const lock = await acquireLock(lockPath(path.join(root, lockDir), 'index.json'));
  try {
    const index = await readIndex(root);
    if (!index) throw new S2IError('ERR_STORE_CORRUPT', `${path.join(root, layoutDir, 'index.json')} is missing or not an index; run \`oci-s2i cache verify\``);
    const out = edit(index);
    await writeFileAtomic(path.join(root, layoutDir, 'index.json'), JSON.stringify(index));
    return out;
  } finally {
    await lock?.release();
  }
}

async function readBlob(root: string, digest: string, max: number): Promise<Buffer | undefined> {
  try {
    const file = blobPath(root, digest);
    const st = await fs.stat(file);
    return st.size <= max ? await fs.readFile(file) : undefined;
  } catch {
    return undefined;
  }
}

/** The config digest and created time of a stored manifest (an index: this host's entry, when stored). */
async function configOf(root: string, bytes: Buffer, mediaType: string | undefined): Promise<{ digest: string; created?: string } | undefined> {
  let parsed;
  try {
    parsed = parseManifestDocument(bytes, mediaType || undefined);
    if (parsed.kind === 'index') {
      const entry = selectPlatform(parsed.index, hostPlatform());
      const inner = await readBlob(root, entry.digest, MAX_MANIFEST_BYTES);
      if (!inner) return undefined;
      parsed = parseManifestDocument(inner, entry.mediaType || undefined);
      if (parsed.kind === 'index') return undefined;
    }
  } catch {
    return undefined;
  }
  const digest = parsed.manifest.config.digest;
  const cfg = await readBlob(root, digest, MAX_CONFIG_BYTES);
  let created: string | undefined;
  try {
    if (cfg) created = parseImageConfig(cfg).created;
  } catch {
    created = undefined;
  }
  return { digest, ...(created !== undefined ? { created } : {}) };
}
