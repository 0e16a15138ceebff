// Per-layer findings cached by diffID (a layer's content never changes under its diffID), so a warm build
// catalogs only its new layer; and, for in-image builds (which have no layers of the builder to cache by), the
// findings of the builder's own files by its image ID, each with the size, mtime and mode it had. One JSON file per
// entry and findings version, written to a temp file and renamed (a reader sees a whole entry or none); an entry
// that does not parse, is too large, or is of another version, is ignored.
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { FINDINGS_VERSION, type FileFindings, type KnownFile, type LayerFindings } from './layer-catalog.js';

const DIFF_ID = /^(sha256|sha512):[a-f0-9]{64,128}$/;

function entryPath(cacheDir: string, diffID: string): string | undefined {
  if (!DIFF_ID.test(diffID)) return undefined;
  return path.join(cacheDir, `${diffID.replace(':', '-')}.v${FINDINGS_VERSION}.json`);
}

export function loadFindings(cacheDir: string, diffID: string): LayerFindings | undefined {
  const p = entryPath(cacheDir, diffID);
  if (!p) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as LayerFindings;
    if (v.version !== FINDINGS_VERSION || typeof v.dbs !== 'object' || !Array.isArray(v.files) || !Array.isArray(v.warnings)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}

export function storeFindings(cacheDir: string, diffID: string, findings: LayerFindings): void {
  const p = entryPath(cacheDir, diffID);
  if (p) writeEntry(cacheDir, p, JSON.stringify(findings));
}

function writeEntry(cacheDir: string, p: string, json: string): void {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${p}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, json, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, p);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** What an in-image build of one image kept of its files' findings (`storeFileFindings`). */
export interface KeptFiles {
  /** The findings of the image's files, by path in the root, each with what the file was when read. */
  files: Map<string, KnownFile>;
  /** Directories (paths in the root) below which every file the catalog reads is in `files`: a file below one of
   *  them that `files` lacks gives nothing. */
  covered: string[];
  /** Who read them (pipeline/in-image-sbom-files.ts `readerOf`): another reader may list and read other files. */
  reader: string;
}

/** Larger entries are not read (the Go builder's: 37 KB for 544 files). */
const MAX_FILES_ENTRY = 64 << 20;
/** The shape of a files entry, within a findings version (2: with `covered`). */
const FILES_FORMAT = 2;

function filesEntryPath(cacheDir: string, imageId: string): string | undefined {
  if (!DIFF_ID.test(imageId)) return undefined;
  return path.join(cacheDir, `image-${imageId.replace(':', '-')}.v${FINDINGS_VERSION}.files.json`);
}

/** What `storeFileFindings` kept for the image `imageId` (its config digest); undefined when nothing usable is
 *  there. */
export function loadFileFindings(cacheDir: string, imageId: string): KeptFiles | undefined {
  const p = filesEntryPath(cacheDir, imageId);
  if (!p) return undefined;
  const text = readSmall(p, MAX_FILES_ENTRY);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as { version?: unknown; format?: unknown; image?: unknown; reader?: unknown; covered?: unknown; files?: unknown };
    if (v.version !== FINDINGS_VERSION || v.format !== FILES_FORMAT || v.image !== imageId || typeof v.reader !== 'string' || !Array.isArray(v.files)) return undefined;
    if (!Array.isArray(v.covered) || !v.covered.every((d) => typeof d === 'string' && d !== '')) return undefined;
    const files = new Map<string, KnownFile>();
    for (const e of v.files as unknown[]) {
      if (!Array.isArray(e) || e.length !== 6) return undefined;
      const [file, size, mtimeMs, mode, packages, warnings] = e as unknown[];
      if (typeof file !== 'string' || typeof size !== 'number' || typeof mtimeMs !== 'number' || typeof mode !== 'number') return undefined;
      if (!Array.isArray(packages) || !Array.isArray(warnings) || !warnings.every((w) => typeof w === 'string')) return undefined;
      if (!packages.every((x) => typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string')) return undefined;
      files.set(file, { size, mtimeMs, mode, found: { packages: packages as FileFindings['packages'], warnings: warnings as string[] } });
    }
    return { files, covered: v.covered as string[], reader: v.reader };
  } catch {
    return undefined;
  }
}

/** Keeps `kept` (paths in the root of an in-image build of image `imageId`) for the next build of that image. */
export function storeFileFindings(cacheDir: string, imageId: string, kept: KeptFiles): void {
  const p = filesEntryPath(cacheDir, imageId);
  if (!p) return;
  const rows = [...kept.files].map(([file, c]) => [file, c.size, c.mtimeMs, c.mode, c.found.packages, c.found.warnings]);
  writeEntry(cacheDir, p, JSON.stringify({ version: FINDINGS_VERSION, format: FILES_FORMAT, image: imageId, reader: kept.reader, covered: kept.covered, files: rows }));
}

/** The file naming the image a builder reference was last found to be (`noteBuilderImage`). */
function builderNotePath(cacheDir: string, builder: string): string {
  return path.join(cacheDir, `builder-${createHash('sha256').update(builder).digest('hex')}.id`);
}

/**
 * The image ID `builder` (a reference as the build names it, with its platform) had at the last in-image build
 * that kept its files' findings, when that entry is still there: before the builder's metadata is fetched, it
 * tells the build that the snapshot can record names alone (the SBOM takes the kept findings for the image's
 * files). A guess, never trusted: the build loads the entry of the ID it then fetches.
 */
export function keptImageOf(cacheDir: string, builder: string): string | undefined {
  const id = readSmall(builderNotePath(cacheDir, builder), 256)?.trim();
  if (id === undefined || !DIFF_ID.test(id)) return undefined;
  const entry = filesEntryPath(cacheDir, id);
  return entry && existsSync(entry) ? id : undefined;
}

/** Notes that `builder` was image `imageId` (whose files' findings are kept), unless noted already. */
export function noteBuilderImage(cacheDir: string, builder: string, imageId: string): void {
  if (!DIFF_ID.test(imageId) || readSmall(builderNotePath(cacheDir, builder), 256)?.trim() === imageId) return;
  writeEntry(cacheDir, builderNotePath(cacheDir, builder), imageId);
}

/** A regular file's text, when it is no larger than `max`; undefined when it cannot be read. */
function readSmall(p: string, max: number): string | undefined {
  try {
    const fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > max) return undefined;
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** What the store still holds, asked by `pruneFindings`. */
export interface HeldByStore {
  /** The layer of this diffID is unpacked in the store. */
  layer(diffID: string): boolean;
  /** The blob of this digest (an image's config: its ID) is in the store. */
  blob(digest: string): boolean;
}

/**
 * Removes what `cache prune` finds of no more use here (`cacheDir`, the store's sbom/), once older than `minAgeMs`
 * (an entry a running build is writing is newer): a layer's findings whose layer is gone, an image's file findings
 * whose config is gone, a builder note naming an image nothing is kept for, entries of another findings version or
 * files format, and temp files. Returns how many files went.
 */
export function pruneFindings(cacheDir: string, held: HeldByStore, now: number, minAgeMs: number): number {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return 0;
  }
  const digestOf = (alg: string, hex: string): string => `${alg}:${hex}`;
  const layerEntry = /^(sha256|sha512)-([a-f0-9]{64,128})\.v(\d+)\.json$/;
  const imageEntry = /^image-(sha256|sha512)-([a-f0-9]{64,128})\.v(\d+)\.files\.json$/;
  const stale = (name: string): boolean => {
    let m = layerEntry.exec(name);
    if (m) return Number(m[3]) !== FINDINGS_VERSION || !held.layer(digestOf(m[1]!, m[2]!));
    m = imageEntry.exec(name);
    if (m) return Number(m[3]) !== FINDINGS_VERSION || !held.blob(digestOf(m[1]!, m[2]!)) || loadFileFindings(cacheDir, digestOf(m[1]!, m[2]!)) === undefined;
    if (/^builder-[0-9a-f]{64}\.id$/.test(name)) {
      const id = readSmall(path.join(cacheDir, name), 256)?.trim();
      const entry = id !== undefined && DIFF_ID.test(id) ? filesEntryPath(cacheDir, id) : undefined;
      return entry === undefined || !existsSync(entry) || !held.blob(id!);
    }
    return name.endsWith('.tmp');
  };
  let n = 0;
  // The notes last: one naming an image whose entry goes in this pass goes with it.
  const note = (name: string): number => (name.startsWith('builder-') ? 1 : 0);
  for (const name of names.sort((a, b) => note(a) - note(b))) {
    const file = path.join(cacheDir, name);
    try {
      const st = lstatSync(file);
      if (!st.isFile() || now - st.mtimeMs < minAgeMs || !stale(name)) continue;
      rmSync(file);
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
