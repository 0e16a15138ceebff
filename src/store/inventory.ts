// What is in a store: named images (index.json), blobs, unpacked layers, what the names keep alive (reachability
// through manifests, indexes and configs' diff_ids), and disk usage by kind. Read-only: nothing here touches
// "last used" times. Stored documents are parsed defensively; an unreadable one references nothing beyond itself.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isValidDigest } from '../oci/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseImageConfig, parseManifestDocument } from '../oci/manifest.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import { refNameAnnotation } from './blob-store.js';
import { layersDir } from './layer-cache.js';
import { readLayerMeta } from './layer-meta.js';
import { blobPath, layoutDir } from './store-paths.js';

export interface BlobEntry {
  digest: string;
  size: number;
  lastUsed: Date;
}

export interface LayerEntry {
  diffID: string;
  /** Apparent size of the files (from the unpack record; 0 when the record is missing). */
  size: number;
  entries: number;
  lastUsed: Date;
  /** Compressed blob it was unpacked from, when recorded. */
  blob?: string;
  /** False when the unpack record is missing or malformed (verify drops such dirs). */
  recorded: boolean;
}

export interface ImageEntry {
  name: string;
  digest: string;
  mediaType: string;
  /** Compressed size: manifest(s) + config(s) + layers, as the descriptors state (what a pull transfers). */
  size: number;
  /** Latest use of its manifest/config blobs. */
  lastUsed: Date | undefined;
}

export interface Reachable {
  blobs: Set<string>;
  diffIDs: Set<string>;
}

export async function readIndex(root: string): Promise<ImageIndex | undefined> {
  try {
    const index = JSON.parse(await fs.readFile(path.join(root, layoutDir, 'index.json'), 'utf8')) as ImageIndex;
    return index && Array.isArray(index.manifests) ? index : undefined;
  } catch {
    return undefined;
  }
}

/** Named manifests of index.json (entries without a valid digest or name are skipped). */
export async function listNames(root: string): Promise<Array<{ name: string; desc: Descriptor }>> {
  const index = await readIndex(root);
  return (index?.manifests ?? [])
    .filter((m) => m && typeof m.digest === 'string' && isValidDigest(m.digest) && typeof m.annotations?.[refNameAnnotation] === 'string')
    .map((m) => ({ name: m.annotations![refNameAnnotation]!, desc: m }));
}

export async function listBlobs(root: string): Promise<BlobEntry[]> {
  const out: BlobEntry[] = [];
  const base = path.join(root, layoutDir, 'blobs');
  for (const alg of await readdirOrEmpty(base)) {
    for (const hex of await readdirOrEmpty(path.join(base, alg))) {
      const digest = `${alg}:${hex}`;
      if (!isValidDigest(digest)) continue;
      try {
        const st = await fs.lstat(path.join(base, alg, hex));
        if (st.isFile()) out.push({ digest, size: st.size, lastUsed: st.mtime });
      } catch {
        // removed meanwhile
      }
    }
  }
  return out;
}

export async function listLayers(root: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  const base = path.join(root, layersDir, 'sha256');
  for (const hex of await readdirOrEmpty(base)) {
    const diffID = `sha256:${hex}`;
    if (!isValidDigest(diffID)) continue;
    let st;
    try {
      st = await fs.lstat(path.join(base, hex));
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const rec = await readLayerMeta(root, diffID);
    out.push(
      rec
        ? { diffID, size: rec.meta.bytes, entries: rec.meta.entries, lastUsed: rec.lastUsed, blob: rec.meta.blob, recorded: true }
        : { diffID, size: 0, entries: 0, lastUsed: st.mtime, recorded: false },
    );
  }
  return out;
}

/** A stored JSON document, size-capped; undefined when absent or too large. Not re-hashed (verify does that). */
async function readDoc(root: string, digest: string, max: number): Promise<Buffer | undefined> {
  try {
    const file = blobPath(root, digest);
    const st = await fs.stat(file);
    if (st.size > max) return undefined;
    return await fs.readFile(file);
  } catch {
    return undefined;
  }
}

/**
 * Everything the given named manifests keep alive, and each name's size. Blobs a name references but the store
 * lacks (layers pulled only into the layer cache) still count as referenced.
 */
export async function reachableFrom(root: string, names: Array<{ name: string; desc: Descriptor }>): Promise<Reachable & { images: ImageEntry[] }> {
  const blobs = new Set<string>();
  const diffIDs = new Set<string>();
  const images: ImageEntry[] = [];
  for (const { name, desc } of names) {
    const seen = new Set<string>();
    let size = 0;
    let lastUsed: Date | undefined;
    const note = async (d: Descriptor): Promise<boolean> => {
      if (seen.has(d.digest)) return false;
      seen.add(d.digest);
      blobs.add(d.digest);
      if (Number.isSafeInteger(d.size) && d.size > 0) size += d.size;
      try {
        const st = await fs.stat(blobPath(root, d.digest));
        if (lastUsed === undefined || st.mtime > lastUsed) lastUsed = st.mtime;
      } catch {
        // absent
      }
      return true;
    };
    const visitManifest = async (d: Descriptor, depth: number): Promise<void> => {
      if (!(await note(d)) || depth > 2) return;
      const bytes = await readDoc(root, d.digest, MAX_MANIFEST_BYTES);
      if (!bytes) return;
      let parsed;
      try {
        parsed = parseManifestDocument(bytes, d.mediaType || undefined);
      } catch {
        return;
      }
      if (parsed.kind === 'index') {
        for (const m of parsed.index.manifests) await visitManifest(m, depth + 1);
        return;
      }
      const m = parsed.manifest;
      await note(m.config);
      for (const l of m.layers) {
        blobs.add(l.digest);
        if (!seen.has(l.digest)) {
          seen.add(l.digest);
          if (Number.isSafeInteger(l.size) && l.size > 0) size += l.size;
        }
      }
      const cfg = await readDoc(root, m.config.digest, MAX_CONFIG_BYTES);
      if (!cfg) return;
      try {
        for (const id of parseImageConfig(cfg).rootfs.diff_ids) if (isValidDigest(id)) diffIDs.add(id);
      } catch {
        // not an image config: references nothing more
      }
    };
    await visitManifest(desc, 0);
    images.push({ name, digest: desc.digest, mediaType: desc.mediaType, size, lastUsed });
  }
  return { blobs, diffIDs, images };
}

export interface CacheListing {
  images: ImageEntry[];
  layers: LayerEntry[];
}

/** `cache ls`: the named images and the unpacked layers. */
export async function listCache(root: string): Promise<CacheListing> {
  const names = await listNames(root);
  const { images } = await reachableFrom(root, names);
  const layers = await listLayers(root);
  images.sort((a, b) => a.name.localeCompare(b.name));
  layers.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  return { images, layers };
}

export interface UsageLine {
  /** Disk usage (allocated blocks, each inode once). */
  bytes: number;
  files: number;
}

export interface DiskUsage {
  blobs: UsageLine;
  layers: UsageLine;
  temp: UsageLine;
  other: UsageLine;
  total: UsageLine;
}

/** `cache du`: blobs (oci/), unpacked layers (+ their records), temp (unpacks, writes and build dirs in flight or left by crashes), other (locks, leases). */
export async function diskUsage(root: string): Promise<DiskUsage> {
  const seen = new Set<string>();
  const sum = async (...rels: string[]): Promise<UsageLine> => {
    const line: UsageLine = { bytes: 0, files: 0 };
    for (const rel of rels) await walkUsage(path.join(root, rel), line, seen);
    return line;
  };
  const blobs = await sum(layoutDir);
  const layers = await sum(path.join(layersDir, 'sha256'), path.join(layersDir, 'meta'), path.join(layersDir, 'by-blob'));
  const temp = await sum('tmp', path.join(layersDir, 'tmp'), 'builds');
  const other = await sum('locks', 'leases');
  const total = { bytes: blobs.bytes + layers.bytes + temp.bytes + other.bytes, files: blobs.files + layers.files + temp.files + other.files };
  return { blobs, layers, temp, other, total };
}

export async function walkUsage(p: string, line: UsageLine, seen: Set<string> = new Set()): Promise<void> {
  let st;
  try {
    st = await fs.lstat(p, { bigint: true });
  } catch {
    return;
  }
  const id = `${st.dev}:${st.ino}`; // hardlinks count once
  if (!seen.has(id)) {
    seen.add(id);
    line.bytes += Number(st.blocks) * 512;
    if (!st.isDirectory()) line.files++;
  }
  if (!st.isDirectory()) return;
  for (const n of await readdirOrEmpty(p)) await walkUsage(path.join(p, n), line, seen);
}

export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}
