// `cache prune`: removes what no name in index.json keeps alive, and the garbage crashes leave behind.
//   unreferenced (default): blobs and layer dirs that no named image reaches; names stay.
//   all:                    every name is dropped first, so everything goes.
//   older-than:             names, blobs and layers not used within the given time (tagged or not) go.
// Never removed, in any mode: layer dirs leased by a live process; while any build runs, anything used or written
// since shortly before the earliest live lease (a build's blobs before it tags them); anything used after prune
// started. Layer dirs are moved aside, then leases are read again and a dir leased meanwhile is put back.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { isValidDigest, parseDigest } from '../oci/digest.js';
import { refNameAnnotation } from './blob-store.js';
import { reapDeadContainers } from './container-state.js';
import { discard, moveToTrash, restoreFromTrash } from './discard.js';
import { listBlobs, listLayers, listNames, readdirOrEmpty, reachableFrom, readIndex, walkUsage } from './inventory.js';
import { layersDir } from './layer-cache.js';
import { layerMetaDir } from './layer-meta.js';
import { readLeases } from './leases.js';
import { acquireLock, lockPath, processAlive } from './lock-file.js';
import { blobPath, layoutDir, lockDir, sweepDeadAtomicTemps, sweepDeadTemps, tmpDir, writeFileAtomic } from './store-paths.js';

export type PruneMode = 'unreferenced' | 'all' | 'older-than';

export interface PruneOptions {
  /** Default 'unreferenced'. */
  mode?: PruneMode;
  /** For 'older-than': entries not used for this long go. */
  olderThanMs?: number;
  /** While a build runs, keep what was used up to this long before its lease was taken; default 10 min. */
  leaseSlackMs?: number;
  /** Clock (tests); default Date.now(). */
  now?: number;
  signal?: AbortSignal;
}

export interface PruneReport {
  untagged: string[];
  blobs: Array<{ digest: string; size: number }>;
  layers: Array<{ diffID: string; size: number }>;
  /** Temp dirs, stale leases/locks and orphan records removed. */
  garbage: number;
  /** Disk bytes freed (allocated blocks). */
  freedBytes: number;
  /** Entries kept only because a running build leased or recently used them. */
  keptInUse: number;
}

/** Records younger than this may belong to a running build: never orphans. */
export const orphanAgeMs = 10 * 60_000;

export async function pruneStore(root: string, opts: PruneOptions = {}): Promise<PruneReport> {
  const abs = path.resolve(root);
  const mode = opts.mode ?? 'unreferenced';
  const start = opts.now ?? Date.now();
  if (mode === 'older-than' && !(opts.olderThanMs !== undefined && opts.olderThanMs >= 0)) {
    throw new S2IError('ERR_USAGE', 'prune older-than needs a duration');
  }
  const cutoff = mode === 'older-than' ? start - opts.olderThanMs! : Infinity;
  const report: PruneReport = { untagged: [], blobs: [], layers: [], garbage: 0, freedBytes: 0, keptInUse: 0 };

  // Listed before the leases are read: a build takes its lease before it creates its build dir, so a dir seen
  // here whose build is alive shows up in the leases below.
  const buildDirs = (await readdirOrEmpty(path.join(abs, 'builds'))).map((n) => path.join(abs, 'builds', n));
  const leases = await readLeases(abs);
  const protectSince = leases.earliest === undefined ? Infinity : leases.earliest - (opts.leaseSlackMs ?? 10 * 60_000);
  /** Used by a running build, or after this prune began. */
  const inUse = (lastUsed: number): boolean => lastUsed >= protectSince || lastUsed >= start;
  const expired = (lastUsed: number): boolean => lastUsed < cutoff;

  // 1. names
  if (mode !== 'unreferenced') {
    const { images } = await reachableFrom(abs, await listNames(abs));
    const drop = new Set<string>();
    for (const img of images) {
      const used = img.lastUsed?.getTime() ?? 0;
      if (!expired(used)) continue;
      if (inUse(used)) report.keptInUse++;
      else drop.add(img.name);
    }
    if (drop.size > 0) report.untagged = await untag(abs, drop);
  }

  // 2. blobs nothing named reaches
  const reach = await reachableFrom(abs, await listNames(abs));
  for (const b of await listBlobs(abs)) {
    opts.signal?.throwIfAborted();
    if (reach.blobs.has(b.digest) || !expired(b.lastUsed.getTime())) continue;
    const file = blobPath(abs, b.digest);
    const now = await fs.stat(file).then((s) => s.mtimeMs, () => undefined); // re-read: it may have been used meanwhile
    if (now === undefined) continue;
    if (inUse(now)) {
      report.keptInUse++;
      continue;
    }
    const line = { bytes: 0, files: 0 };
    await walkUsage(file, line);
    if (await discard(file, path.join(abs, tmpDir))) {
      report.blobs.push({ digest: b.digest, size: b.size });
      report.freedBytes += line.bytes;
    }
  }

  // 3. layer dirs nothing named reaches: moved aside, leases re-read, then deleted or put back
  const trashed: Array<{ diffID: string; size: number; dir: string; trash: string; bytes: number }> = [];
  for (const l of await listLayers(abs)) {
    opts.signal?.throwIfAborted();
    if (reach.diffIDs.has(l.diffID) || !expired(l.lastUsed.getTime())) continue;
    if (leases.diffIDs.has(l.diffID) || inUse(l.lastUsed.getTime())) {
      report.keptInUse++;
      continue;
    }
    const dir = path.join(abs, layersDir, 'sha256', parseDigest(l.diffID).hex);
    const line = { bytes: 0, files: 0 };
    await walkUsage(dir, line);
    const trash = await moveToTrash(dir, path.join(abs, layersDir, 'tmp'));
    if (trash !== undefined) trashed.push({ diffID: l.diffID, size: l.size, dir, trash, bytes: line.bytes });
  }
  if (trashed.length > 0) {
    const again = await readLeases(abs);
    for (const t of trashed) {
      const metaFile = path.join(abs, layerMetaDir, `${parseDigest(t.diffID).hex}.json`);
      const used = await fs.stat(metaFile).then((s) => s.mtimeMs, () => 0);
      if (again.diffIDs.has(t.diffID) || inUse(used)) {
        await restoreFromTrash(t.trash, t.dir);
        report.keptInUse++;
        continue;
      }
      await fs.rm(t.trash, { recursive: true, force: true });
      await fs.rm(metaFile, { force: true });
      report.layers.push({ diffID: t.diffID, size: t.size });
      report.freedBytes += t.bytes;
    }
  }

  // 4. garbage: temps of dead processes, stale leases and locks, orphan records, containers of dead engines, build
  //    dirs of finished builds
  for (const f of leases.stale) if (await rmCount(f)) report.garbage++;
  for (const d of [path.join(abs, layoutDir), path.join(abs, layerMetaDir), path.join(abs, layersDir, 'by-blob', 'sha256'), path.join(abs, 'leases')]) {
    report.garbage += await sweepDeadAtomicTemps(d);
  }
  for (const d of [path.join(abs, tmpDir), path.join(abs, layersDir, 'tmp'), path.join(abs, 'leases'), path.join(abs, lockDir)]) {
    const before = (await readdirOrEmpty(d)).length;
    await sweepDeadTemps(d);
    report.garbage += Math.max(0, before - (await readdirOrEmpty(d)).length);
  }
  report.garbage += await removeStaleLocks(path.join(abs, lockDir));
  report.garbage += await removeOrphanRecords(abs, start);
  // Containers of killed engines: whatever still runs from them is ended, the runtime deletes them, their dirs go.
  report.garbage += await reapDeadContainers(abs);
  if (leases.live === 0) {
    for (const d of buildDirs) {
      const line = { bytes: 0, files: 0 };
      await walkUsage(d, line);
      if (await discard(d, path.join(abs, tmpDir)).catch(() => false)) {
        report.garbage++;
        report.freedBytes += line.bytes;
      }
    }
  }
  return report;
}

/** Removes the given names from index.json (under the index lock); returns those actually removed. */
async function untag(root: string, names: Set<string>): Promise<string[]> {
  const lock = await acquireLock(lockPath(path.join(root, lockDir), 'index.json'));
  try {
    const index = await readIndex(root);
    if (!index) return [];
    const removed: string[] = [];
    index.manifests = index.manifests.filter((m) => {
      const n = m.annotations?.[refNameAnnotation];
      if (n !== undefined && names.has(n)) {
        removed.push(n);
        return false;
      }
      return true;
    });
    await writeFileAtomic(path.join(root, layoutDir, 'index.json'), JSON.stringify(index));
    return removed;
  } finally {
    await lock?.release();
  }
}

async function rmCount(file: string): Promise<boolean> {
  try {
    await fs.rm(file);
    return true;
  } catch {
    return false;
  }
}

/** Locks held by dead processes of this host (moved aside first, as acquireLock does, so a fresh lock survives). */
async function removeStaleLocks(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdirOrEmpty(dir)) {
    if (!name.endsWith('.lock')) continue;
    const file = path.join(dir, name);
    let owner: { pid?: unknown; host?: unknown };
    try {
      owner = JSON.parse(await fs.readFile(file, 'utf8')) as typeof owner;
    } catch {
      continue; // being written, or garbage the lock's own staleness rule handles
    }
    if (owner.host !== os.hostname() || typeof owner.pid !== 'number' || processAlive(owner.pid)) continue;
    const aside = `${file}.stale-prune-${process.pid}`;
    try {
      await fs.rename(file, aside);
      const moved = JSON.parse(await fs.readFile(aside, 'utf8')) as typeof owner;
      if (moved.pid === owner.pid) {
        await fs.rm(aside, { force: true });
        n++;
      } else {
        await fs.rename(aside, file).catch(() => fs.rm(aside, { force: true })); // a new owner took it meanwhile
      }
    } catch {
      // released meanwhile
    }
  }
  return n;
}

/**
 * Unpack records and blob → diffID mappings whose layer dir is gone. A record is written just before its dir is
 * renamed into place, so only records older than a few minutes count as orphans.
 */
async function removeOrphanRecords(root: string, now: number): Promise<number> {
  let n = 0;
  const metaDir = path.join(root, layerMetaDir);
  for (const name of await readdirOrEmpty(metaDir)) {
    const hex = name.replace(/\.json$/, '');
    if (!isValidDigest(`sha256:${hex}`) || name === hex) continue;
    const file = path.join(metaDir, name);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st || now - st.mtimeMs < orphanAgeMs) continue;
    if (await exists(path.join(root, layersDir, 'sha256', hex))) continue;
    if (await rmCount(file)) n++;
  }
  const byBlob = path.join(root, layersDir, 'by-blob');
  for (const alg of await readdirOrEmpty(byBlob)) {
    for (const hex of await readdirOrEmpty(path.join(byBlob, alg))) {
      if (!isValidDigest(`${alg}:${hex}`)) continue;
      const file = path.join(byBlob, alg, hex);
      const diffID = (await fs.readFile(file, 'utf8').catch(() => '')).trim();
      const target = isValidDigest(diffID) && diffID.startsWith('sha256:') ? path.join(root, layersDir, 'sha256', diffID.slice(7)) : undefined;
      if (target !== undefined && (await exists(target))) continue;
      if (await rmCount(file)) n++;
    }
  }
  return n;
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** `7d`, `12h`, `30m`, `45s`, `2w`, or combinations like `1h30m`; ERR_USAGE otherwise. */
export function parseDuration(text: string): number {
  const unit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  if (!/^(\d+[smhdw])+$/.test(text)) {
    throw new S2IError('ERR_USAGE', `invalid duration "${text.slice(0, 40)}": use a number and a unit, e.g. 7d, 12h, 30m, 1h30m`);
  }
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * unit[m[2]!]!;
  if (!Number.isSafeInteger(ms)) throw new S2IError('ERR_USAGE', `duration "${text.slice(0, 40)}" is too large`);
  return ms;
}
