// An in-image build's SBOM findings for the builder's own files, kept in the store for the next build of the same
// builder (sbom/cache.ts `loadFileFindings`): a sandbox build caches the builder's findings per layer, and an
// in-image build, which has no layers of the builder, would otherwise read the same files again in every pod. With
// `--root` on a volume the pods of a CI pipeline share (a Tekton workspace, a GitLab cache), the next build reads
// only what it changed, and its snapshot records names alone (no stat per file): which of the image's files the
// SBOM reads is what was kept.
//
// What is kept is named by the builder's image ID (its config digest, which names its layers' diffIDs), so it is
// about the image's own files: those below a directory still in the image's layers and untouched by `assemble`
// (a directory the diff skipped, layer/snapshot-diff.ts `lowerDirs`: its subtree is the image's, byte for byte).
// Each such directory of a build that read every file below it is `covered`: every file below it the catalog reads
// is kept (with what it gave, nothing when that is nothing). One with a mount point or another path the snapshot
// left out below it is not: what that hid (a volume over a directory of the image) was not read. And what is kept
// holds for the reader it was read as (`readerOf`): a build as another user, or without the capabilities that
// read past file modes, lists and reads other files (a directory it cannot list, a file it cannot open). The next build lists, below the directories its diff
// skipped, the kept files of the covered ones and every regular file of the others (the catalog takes what it
// reads by its mode and size); it takes a kept finding only for a file below a skipped directory that still has
// the size, mtime and mode it had (layer-catalog.ts `CatalogOptions.known`), and keeps what it read besides.
import type { SnapshotDiff } from '../layer/snapshot-diff.js';
import { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, hasCapability } from '../sandbox/caps.js';
import type { ExcludeNode } from '../layer/snapshot-exclude.js';
import type { Snapshot } from '../layer/snapshot.js';
import { joinPath } from '../layer/snapshot-scan.js';
import type { KeptFiles } from '../sbom/cache.js';
import type { KnownFile } from '../sbom/layer-catalog.js';

/** The SBOM's files from a build whose diff skipped directories (`lowerDirs`) and that lists them from what was
 *  kept (`lowerFilesFromKept`): all of them in walk order, those below skipped directories in `lower`. */
export interface KeptListing {
  files: string[];
  lower: Set<string>;
}

/**
 * The diff's `files` with the files below the directories it skipped, each at its place in walk order (depth first,
 * siblings by name bytes, as a walk of every directory lists them): below a directory `kept` covers, the kept
 * files; elsewhere, every regular file the snapshot recorded (`snap` may have recorded names alone).
 */
export function lowerFilesFromKept(diff: SnapshotDiff, snap: Snapshot, kept: KeptFiles | undefined): KeptListing {
  if (diff.lowerDirs.length === 0) return { files: diff.files, lower: new Set() };
  const keptPaths = kept ? [...kept.files.keys()].sort(walkOrder) : [];
  const covered = new Set(kept?.covered ?? []);
  const isCovered = (rel: string): boolean => {
    for (let p = rel; p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) if (covered.has(p)) return true;
    return false;
  };
  const keptBelow = (rel: string, out: string[]): void => {
    const prefix = `${rel}/`;
    for (let k = firstAfter(keptPaths, rel); k < keptPaths.length && keptPaths[k]!.startsWith(prefix); k++) out.push(keptPaths[k]!);
  };
  const everyFileBelow = (dir: number, rel: Buffer, out: string[]): void => {
    for (let i = dir + 1; i < snap.end(dir); i = snap.end(i)) {
      const child = joinPath(rel, snap.name(i));
      if (snap.isFile(i)) out.push(child.toString('utf8'));
      else if (snap.isDir(i) && snap.end(i) > i + 1) {
        const name = child.toString('utf8');
        if (covered.has(name)) keptBelow(name, out);
        else everyFileBelow(i, child, out);
      }
    }
  };
  const files: string[] = [];
  const lower = new Set<string>();
  let from = 0;
  for (const { at, dir, rel } of diff.lowerDirs) {
    for (; from < at; from++) files.push(diff.files[from]!);
    const first = files.length;
    const name = rel.toString('utf8');
    if (isCovered(name)) keptBelow(name, files);
    else everyFileBelow(dir, rel, files);
    for (let k = first; k < files.length; k++) lower.add(files[k]!);
  }
  for (; from < diff.files.length; from++) files.push(diff.files[from]!);
  return { files, lower };
}

/** The kept findings the catalog may take: those of files below the directories the diff skipped (`lower`). A file
 *  `assemble` wrote is never taken from before, whatever its size, mtime and mode. */
export function keptKnown(kept: KeptFiles | undefined, lower: ReadonlySet<string>): Map<string, KnownFile> {
  const out = new Map<string, KnownFile>();
  if (kept) for (const file of lower) {
    const k = kept.files.get(file);
    if (k) out.set(file, k);
  }
  return out;
}

/**
 * What to keep after this build: what was kept (`kept`), with what the catalog read of the files below the
 * directories the diff skipped (`lower`), by its own reads (`read`) or the read-ahead's (`ahead`), and those
 * directories (`lowerDirs`) covered, but for those with something the snapshot left out (`exclude`: mount points,
 * the store, the engine, the source) below them. Undefined when that adds nothing (what is kept is still whole).
 */
export function findingsToKeep(
  lowerDirs: SnapshotDiff['lowerDirs'],
  exclude: ExcludeNode,
  lower: ReadonlySet<string>,
  read: ReadonlyMap<string, KnownFile>,
  ahead: ReadonlyMap<string, KnownFile> | undefined,
  kept: KeptFiles | undefined,
  reader: string,
): KeptFiles | undefined {
  if (kept && kept.reader !== reader) kept = undefined;
  const files = new Map(kept?.files);
  let fresh = 0;
  for (const file of lower) {
    const found = read.get(file) ?? ahead?.get(file);
    if (!found) continue;
    files.set(file, found);
    fresh++;
  }
  const before = new Set(kept?.covered ?? []);
  const covered = outermost([...before, ...lowerDirs.filter((d) => !leavesOut(exclude, d.rel)).map((d) => d.rel.toString('utf8'))]);
  if (fresh === 0 && covered.every((d) => before.has(d))) return undefined;
  return { files, covered, reader };
}

/** Who this process reads files as: its user, its groups, and whether a capability lets it read past file modes
 *  (root in a privileged pod, not with the capabilities dropped). */
export function readerOf(status?: string): string {
  const groups = [...new Set(process.getgroups?.() ?? [])].sort((a, b) => a - b);
  const dac = hasCapability(CAP_DAC_OVERRIDE, status) || hasCapability(CAP_DAC_READ_SEARCH, status);
  return `uid ${process.geteuid?.() ?? -1} gid ${process.getegid?.() ?? -1} groups ${groups.join(',')}${dac ? ' dac' : ''}`;
}

/** Whether the exclusion tree leaves out `rel` (a path in the root) or anything below it. */
function leavesOut(exclude: ExcludeNode, rel: Buffer): boolean {
  let node: ExcludeNode | undefined = exclude;
  for (const c of rel.toString('latin1').split('/')) {
    node = node.children.get(c);
    if (node === undefined) return false;
    if (node.excluded) return true;
  }
  return node.children.size > 0;
}

/** `dirs` without those below another of them, in walk order. */
function outermost(dirs: string[]): string[] {
  const out: string[] = [];
  for (const d of [...new Set(dirs)].sort(walkOrder)) {
    const last = out[out.length - 1];
    if (last === undefined || !d.startsWith(`${last}/`)) out.push(d);
  }
  return out;
}

/** Walk order of two paths in the root: component by component, each by its UTF-8 bytes (as the snapshot sorts
 *  siblings); a directory comes before everything below it. */
export function walkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return Buffer.compare(Buffer.from(x[i]!, 'utf8'), Buffer.from(y[i]!, 'utf8'));
  }
  return x.length - y.length;
}

/** The first position of `sorted` (in walk order) holding a path after `p`. */
function firstAfter(sorted: readonly string[], p: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (walkOrder(sorted[mid]!, p) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
