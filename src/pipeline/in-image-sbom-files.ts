// An in-image build's SBOM findings for the builder's own files, kept in the store for the next build of the same
// builder (sbom/cache.ts `loadFileFindings`): a sandbox build caches the builder's findings per layer, and an
// in-image build, which has no layers of the builder, would otherwise read the same files again in every pod. With
// `--root` on a volume the pods of a CI pipeline share (a Tekton workspace, a GitLab cache), the second build reads
// only what it changed.
//
// A kept finding is taken for a file only when the file is below a directory still in the image's layers at the
// snapshot and untouched by `assemble` (the `lower` set of layer/snapshot-lower.ts `withLowerFiles`: its bytes are
// the image's) and has the size, mtime and mode it had when it was read. The entry is named by the builder's image
// ID (its config digest, which names its layers' diffIDs).
import type { LowerChosen } from '../layer/snapshot-lower.js';
import type { Snapshot } from '../layer/snapshot.js';
import type { CachedFile } from '../sbom/cache.js';
import type { FileFindings } from '../sbom/layer-catalog.js';

/** The kept findings that still hold: of the chosen files in `lower`, those with the recorded size, mtime and mode. */
export function keptFindings(snap: Snapshot, chosen: LowerChosen, lower: ReadonlySet<string>, kept: ReadonlyMap<string, CachedFile>): Map<string, FileFindings> {
  const out = new Map<string, FileFindings>();
  for (let k = 0; k < chosen.path.length; k++) {
    const file = chosen.path[k]!;
    const c = kept.get(file);
    if (!c || !lower.has(file)) continue;
    const st = snap.fileStat(chosen.index[k]!);
    if (st.size === c.size && st.mtimeMs === c.mtimeMs && st.mode === c.mode) out.set(file, c.found);
  }
  return out;
}

/**
 * What to keep after this build: the kept entries (`kept`) updated with the chosen files in `lower` that this
 * build read (`read`: the SBOM's own reads, `ahead`: the read-ahead worker's), each with its recorded size, mtime
 * and mode. Undefined when this build read none of them (what is kept is still whole).
 */
export function findingsToKeep(
  snap: Snapshot,
  chosen: LowerChosen,
  lower: ReadonlySet<string>,
  read: ReadonlyMap<string, FileFindings>,
  ahead: ReadonlyMap<string, FileFindings> | undefined,
  kept: ReadonlyMap<string, CachedFile> | undefined,
): Map<string, CachedFile> | undefined {
  const out = new Map<string, CachedFile>(kept);
  let fresh = 0;
  for (let k = 0; k < chosen.path.length; k++) {
    const file = chosen.path[k]!;
    if (!lower.has(file)) continue;
    const found = read.get(file) ?? ahead?.get(file);
    if (!found) continue;
    out.set(file, { ...snap.fileStat(chosen.index[k]!), found });
    fresh++;
  }
  return fresh > 0 ? out : undefined;
}
