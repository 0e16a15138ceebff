// `cache verify`: re-hashes every blob against its name and recomputes every unpacked layer's tree digest against
// the record taken at unpack time (tree-digest.ts says why not re-tar). What is corrupt is dropped (moved to a temp
// dir, then deleted: never visible half-removed), so the next build fetches or unpacks it again. A corrupt layer
// that a running build has leased is reported but left in place (it is mounted); run verify again afterwards.
// A store root whose mode was widened (other users could reach the layers' setuid files and devices) is reported
// and set back to 0700 (store-root.ts).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseDigest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { discard } from './discard.js';
import { listBlobs, listLayers } from './inventory.js';
import { layersDir } from './layer-cache.js';
import { layerMetaPath, readLayerMeta } from './layer-meta.js';
import { readLeases } from './leases.js';
import { acquireLock, lockPath } from './lock-file.js';
import { blobPath, layoutDir, lockDir, tmpDir, writeFileAtomic } from './store-paths.js';
import { checkStoreRoot, describeWidened } from './store-root.js';
import { treeDigest } from './tree-digest.js';

export interface VerifyProblem {
  kind: 'blob' | 'layer' | 'index' | 'store';
  /** Digest, diffID, the index file's path, or the store root (kind 'store'). */
  id: string;
  reason: string;
  /** False when it was left in place (leased by a running build); always false for kind 'store'. */
  dropped: boolean;
  /** Kind 'store': the root's mode was set back to 0700. */
  fixed?: boolean;
}

export interface VerifyReport {
  blobs: number;
  layers: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  signal?: AbortSignal;
  /** Called after each checked item (for progress rendering). */
  onItem?: (kind: 'blob' | 'layer', id: string, ok: boolean) => void;
}

export async function verifyStore(root: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const abs = path.resolve(root);
  const report: VerifyReport = { blobs: 0, layers: 0, problems: [] };
  const rootMode = await checkStoreRoot(abs);
  // No root: nothing to verify, and nothing is made (a root made here would not be private, and a later open
  // would refuse it as not a store).
  if (!rootMode) return report;
  if (rootMode.widened) report.problems.push({ kind: 'store', id: abs, reason: describeWidened(rootMode), dropped: false, fixed: rootMode.fixed });
  // An empty root is an empty store: the index lock needs its directory (which opening a store would make).
  await fs.mkdir(path.join(abs, lockDir), { recursive: true });
  await verifyIndex(abs, report);
  for (const b of await listBlobs(abs)) {
    opts.signal?.throwIfAborted();
    const actual = await hashFile(blobPath(abs, b.digest), parseDigest(b.digest).algorithm).catch(() => undefined);
    if (actual === undefined) continue; // removed meanwhile (a concurrent prune)
    report.blobs++;
    const ok = actual === b.digest;
    if (!ok) {
      await discard(blobPath(abs, b.digest), path.join(abs, tmpDir));
      report.problems.push({ kind: 'blob', id: b.digest, reason: `content hashes to ${actual}`, dropped: true });
    }
    opts.onItem?.('blob', b.digest, ok);
  }
  const leases = await readLeases(abs);
  for (const l of await listLayers(abs)) {
    opts.signal?.throwIfAborted();
    report.layers++;
    const dir = path.join(abs, layersDir, 'sha256', parseDigest(l.diffID).hex);
    let reason: string | undefined;
    const rec = await readLayerMeta(abs, l.diffID);
    if (!rec) {
      reason = 'no valid unpack record (layers/meta): it cannot be verified';
    } else {
      const tree = await treeDigest(dir).catch((e: Error) => ({ digest: `unreadable (${e.message})` }));
      if (tree.digest !== rec.meta.tree) reason = `the unpacked tree changed since it was unpacked (tree ${tree.digest}, recorded ${rec.meta.tree})`;
    }
    if (reason !== undefined) {
      const leased = leases.diffIDs.has(l.diffID);
      if (!leased) {
        await discard(dir, path.join(abs, layersDir, 'tmp'));
        await fs.rm(layerMetaPath(abs, l.diffID), { force: true });
      }
      report.problems.push({ kind: 'layer', id: l.diffID, reason: leased ? `${reason}; in use by a running build, left in place` : reason, dropped: !leased });
    }
    opts.onItem?.('layer', l.diffID, reason === undefined);
  }
  return report;
}

/** An index.json that is not an OCI index is reset to an empty one (the names are lost; the blobs stay). */
async function verifyIndex(root: string, report: VerifyReport): Promise<void> {
  const file = path.join(root, layoutDir, 'index.json');
  const lock = await acquireLock(lockPath(path.join(root, lockDir), 'index.json'));
  try {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    let ok = false;
    try {
      const v = JSON.parse(text) as { manifests?: unknown };
      ok = v !== null && typeof v === 'object' && Array.isArray(v.manifests);
    } catch {
      ok = false;
    }
    if (!ok) {
      await writeFileAtomic(file, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
      report.problems.push({ kind: 'index', id: file, reason: 'not a valid OCI index: reset to an empty one (image names lost, blobs kept)', dropped: true });
    }
  } finally {
    await lock?.release();
  }
}

async function hashFile(file: string, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(file), h);
  return `${algorithm}:${h.digest('hex')}`;
}
