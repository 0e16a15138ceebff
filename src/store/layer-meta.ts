// Per-layer record `<root>/layers/meta/sha256/<diffID hex>.json` (spec/store-format.md): the tree digest taken
// when the layer was unpacked (what `cache verify` compares against) and its size; the file's mtime is the
// layer's "last used" time (refreshed on every cache hit and lease; the layer dir itself is never touched, it is
// a mounted overlay lower dir).
import fs from 'node:fs/promises';
import path from 'node:path';
import { isValidDigest, parseDigest } from '../oci/digest.js';
import { writeFileAtomic } from './store-paths.js';

export interface LayerMeta {
  version: 1;
  diffID: string;
  /** The compressed blob it was unpacked from. */
  blob: string;
  /** treeDigest() of the dir right after unpacking. */
  tree: string;
  entries: number;
  bytes: number;
  unpacked: string;
}

export const layerMetaDir = path.join('layers', 'meta', 'sha256');

export function layerMetaPath(root: string, diffID: string): string {
  return path.join(root, layerMetaDir, `${parseDigest(diffID).hex}.json`);
}

export async function writeLayerMeta(root: string, meta: LayerMeta): Promise<void> {
  const file = layerMetaPath(root, meta.diffID);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(meta) + '\n');
}

/** The record, or undefined when missing or malformed (both mean: this dir cannot be verified). */
export async function readLayerMeta(root: string, diffID: string): Promise<{ meta: LayerMeta; lastUsed: Date } | undefined> {
  const file = layerMetaPath(root, diffID);
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    const m = JSON.parse(text) as Partial<LayerMeta>;
    if (m.version !== 1 || m.diffID !== diffID || typeof m.tree !== 'string' || !isValidDigest(m.tree)) return undefined;
    if (typeof m.blob !== 'string' || !isValidDigest(m.blob)) return undefined;
    if (!Number.isSafeInteger(m.entries) || !Number.isSafeInteger(m.bytes)) return undefined;
    return { meta: m as LayerMeta, lastUsed: st.mtime };
  } catch {
    return undefined;
  }
}

/** Records a use of the layer (best effort: a read-only or foreign-owned store just keeps the older time). */
export async function touchLayerMeta(root: string, diffID: string, now = new Date()): Promise<void> {
  await fs.utimes(layerMetaPath(root, diffID), now, now).catch(() => undefined);
}
