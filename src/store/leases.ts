// Reading `<root>/leases/<pid>-<random>.json` (written by LayerCache.lease): which layer dirs running builds use.
// A lease whose pid is not a live process is stale (its build crashed or was killed) and protects nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isValidDigest } from '../oci/digest.js';
import { leasesDir } from './layer-cache.js';
import { processAlive } from './lock-file.js';

export interface LiveLeases {
  /** diffIDs listed in the leases of live processes. */
  diffIDs: Set<string>;
  /** Earliest creation time (ms) among live leases; undefined when no build runs. */
  earliest: number | undefined;
  /** Count of live lease files. */
  live: number;
  /** Lease files of dead processes. */
  stale: string[];
}

export async function readLeases(root: string): Promise<LiveLeases> {
  const dir = path.join(root, leasesDir);
  const out: LiveLeases = { diffIDs: new Set(), earliest: undefined, live: 0, stale: [] };
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw e;
  }
  for (const n of names) {
    if (!n.endsWith('.json')) continue; // writeFileAtomic temps: the pid rule of sweepDeadTemps handles them
    const pid = Number.parseInt(n.split('-')[0] ?? '', 10);
    const file = path.join(dir, n);
    if (!processAlive(pid)) {
      out.stale.push(file);
      continue;
    }
    let lease: { created?: unknown; diffIDs?: unknown };
    let mtime: number;
    try {
      const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      lease = JSON.parse(text) as typeof lease;
      mtime = st.mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    out.live++;
    const created = typeof lease.created === 'string' ? Date.parse(lease.created) : NaN;
    const when = Number.isFinite(created) ? Math.min(created, mtime) : mtime;
    out.earliest = out.earliest === undefined ? when : Math.min(out.earliest, when);
    if (Array.isArray(lease.diffIDs)) for (const d of lease.diffIDs) if (typeof d === 'string' && isValidDigest(d)) out.diffIDs.add(d);
  }
  return out;
}
