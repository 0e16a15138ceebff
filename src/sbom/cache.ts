// Per-layer findings cached by diffID (a layer's content never changes under its diffID), so a warm build
// catalogs only its new layer; and, for in-image builds (which have no layers of the builder to cache by), the
// findings of the builder's own files by its image ID, each with the size, mtime and mode it had. One JSON file per
// entry and findings version, written to a temp file and renamed (a reader sees a whole entry or none); an entry
// that does not parse, is too large, or is of another version, is ignored.
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { FINDINGS_VERSION, type FileFindings, type LayerFindings } from './layer-catalog.js';

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

/** A builder file's findings, and what the file was when they were read. */
export interface CachedFile {
  size: number;
  mtimeMs: number;
  /** st_mode with the type bits. */
  mode: number;
  found: FileFindings;
}

/** Larger entries are not read (the Go builder's: 60 KB for 544 files). */
const MAX_FILES_ENTRY = 64 << 20;

function filesEntryPath(cacheDir: string, imageId: string): string | undefined {
  if (!DIFF_ID.test(imageId)) return undefined;
  return path.join(cacheDir, `image-${imageId.replace(':', '-')}.v${FINDINGS_VERSION}.files.json`);
}

/** What `storeFileFindings` kept for the image `imageId` (its config digest), by path in the root; undefined when
 *  nothing usable is there. */
export function loadFileFindings(cacheDir: string, imageId: string): Map<string, CachedFile> | undefined {
  const p = filesEntryPath(cacheDir, imageId);
  if (!p) return undefined;
  let text: string;
  try {
    const fd = openSync(p, 'r');
    try {
      if (fstatSync(fd).size > MAX_FILES_ENTRY) return undefined;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as { version?: unknown; image?: unknown; files?: unknown };
    if (v.version !== FINDINGS_VERSION || v.image !== imageId || !Array.isArray(v.files)) return undefined;
    const out = new Map<string, CachedFile>();
    for (const e of v.files as unknown[]) {
      if (!Array.isArray(e) || e.length !== 6) return undefined;
      const [file, size, mtimeMs, mode, packages, warnings] = e as unknown[];
      if (typeof file !== 'string' || typeof size !== 'number' || typeof mtimeMs !== 'number' || typeof mode !== 'number') return undefined;
      if (!Array.isArray(packages) || !Array.isArray(warnings) || !warnings.every((w) => typeof w === 'string')) return undefined;
      if (!packages.every((x) => typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string')) return undefined;
      out.set(file, { size, mtimeMs, mode, found: { packages: packages as FileFindings['packages'], warnings: warnings as string[] } });
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Keeps `files` (paths in the root of an in-image build of image `imageId`) for the next build of that image. */
export function storeFileFindings(cacheDir: string, imageId: string, files: ReadonlyMap<string, CachedFile>): void {
  const p = filesEntryPath(cacheDir, imageId);
  if (!p) return;
  const rows = [...files].map(([file, c]) => [file, c.size, c.mtimeMs, c.mode, c.found.packages, c.found.warnings]);
  writeEntry(cacheDir, p, JSON.stringify({ version: FINDINGS_VERSION, image: imageId, files: rows }));
}
