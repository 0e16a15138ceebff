// What one layer holds, on its own: the package databases it writes (or deletes), its os-release, and the
// packages of the files it adds (dpkg status.d entries, Go binaries, lock files, POMs, jars). This is the unit
// cached by diffID: a layer's findings never depend on the layers around it; stacking them is catalog.ts's job.
import { closeSync } from 'node:fs';
import type { ExcludeNode } from '../layer/snapshot-exclude.js';
import type { Package } from './model.js';
import { Tree, components, openRegular, readAt, readChild } from './tree.js';
import { pathState } from './stack.js';
import { visitListedFiles, walkFiles, type VisitedFile, type WalkOptions } from './walk.js';
import { APK_INSTALLED, parseApkInstalled } from './apk.js';
import { DPKG_STATUS, DPKG_STATUS_D, parseDpkgStatus } from './dpkg.js';
import { OS_RELEASE_PATHS, parseOsRelease, type OsRelease } from './os-release.js';
import { RPM_DBS, readRpmDb } from './rpm.js';
import { CorruptBuildInfo, isElf, readGoBuildInfo } from './go-buildinfo.js';
import { goPackages } from './go-packages.js';
import { parsePackageLock } from './npm.js';
import { parsePipfileLock, parsePoetryLock, parseRequirements } from './python.js';
import { parsePom, readJar } from './maven.js';

/** Bumped whenever what a layer's findings hold changes, so older cache entries are not read. */
export const FINDINGS_VERSION = 1;

export type DbState<T> = { state: 'present'; value: T } | { state: 'deleted' } | { state: 'untouched' };

export interface LayerFindings {
  version: number;
  /** One entry per database path (dpkg status, apk installed, each rpm database path), in a fixed order. */
  dbs: Record<string, DbState<Package[]>>;
  osRelease: Record<string, DbState<OsRelease | null>>;
  /** Packages of files this layer adds; each is visible only while no layer above replaces or deletes it. */
  files: Package[];
  warnings: string[];
}

export interface CatalogOptions {
  /** The tree is a whole root filesystem (no overlay whiteouts); walk only these paths when given. */
  paths?: string[];
  /** Instead of a walk: these regular files (paths inside the tree, from a walk the caller made anyway, such as
   *  an in-image build's snapshot diff; `catalogCandidate` says which to list). */
  files?: string[];
  wholeRoot: boolean;
  crossMounts: boolean;
  exclude?: ExcludeNode;
  /** With `files`: what some of them gave when read earlier (`catalogFilesAhead`, or a store's kept findings),
   *  taken instead of reading them again while the file's lstat still shows the size, mtime and mode it had then.
   *  The caller vouches that the file is the one read (same path, same bytes behind an unchanged directory). */
  known?: ReadonlyMap<string, KnownFile>;
  /** With `files`: filled with what each file the catalog read here (not taken from `known`) gave, by path, with
   *  the size, mtime and mode it had (files `catalogCandidate` does not take give nothing and are left out). */
  record?: Map<string, KnownFile>;
}

/** What one regular file gave the catalog: its packages (no layer yet) and warning lines. */
export interface FileFindings {
  packages: Package[];
  warnings: string[];
}

/** What a regular file gave the catalog, and its size, mtime (ms) and mode (st_mode, with the type bits) when it
 *  was read: a finding is taken again only for a file that still has them (`CatalogOptions.known`). */
export interface KnownFile {
  size: number;
  mtimeMs: number;
  mode: number;
  found: FileFindings;
}

/** `f` as read now, with what it gave. */
function knownFile(f: VisitedFile, found: FileFindings): KnownFile {
  return { size: f.st.size, mtimeMs: f.st.mtimeMs, mode: f.st.mode, found };
}

const MAX_DB = 256 << 20;
const MAX_TEXT = 32 << 20;
const MAX_OS_RELEASE = 64 << 10;
const MAX_ENTRIES = 2_000_000;
const MAX_DEPTH = 128;
/** Never entered: their files are what their lock files (read) describe, or version control. */
const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn']);
const WHOLE_ROOT_SKIP_TOP = new Set(['proc', 'sys', 'dev']);

export function catalogLayer(tree: Tree, opts: CatalogOptions): LayerFindings {
  const warnings: string[] = [];
  const warn = (path: string, why: string): void => {
    warnings.push(`/${path}: ${why}`);
  };
  const text = (path: string, max: number, quiet = false): DbState<string> => {
    const comps = components(path)!;
    const st = pathState(tree, comps);
    if (st !== 'present') return { state: st };
    const r = tree.read(comps, max);
    if (r === 'absent') return { state: 'untouched' };
    if (typeof r === 'string') {
      if (!quiet) warn(path, r === 'too-big' ? `larger than ${max} bytes, not read` : 'not a regular file (a symlink is not followed), not read');
      return { state: 'present', value: '' };
    }
    return { state: 'present', value: r.toString('utf8') };
  };
  const map = <T, U>(s: DbState<T>, f: (v: T) => U): DbState<U> => (s.state === 'present' ? { state: 'present', value: f(s.value) } : s);

  const dbs: Record<string, DbState<Package[]>> = {};
  dbs[DPKG_STATUS] = map(text(DPKG_STATUS, MAX_TEXT), (t) => parseDpkgStatus(t, DPKG_STATUS));
  dbs[APK_INSTALLED] = map(text(APK_INSTALLED, MAX_TEXT), (t) => parseApkInstalled(t, APK_INSTALLED));
  for (const db of RPM_DBS) {
    const comps = components(db.path)!;
    const st = pathState(tree, comps);
    if (st !== 'present') {
      dbs[db.path] = { state: st };
      continue;
    }
    dbs[db.path] = { state: 'present', value: readRpmDb(tree, comps, db.kind, MAX_DB, (why) => warn(db.path, why)) };
  }
  const osRelease: Record<string, DbState<OsRelease | null>> = {};
  for (const p of OS_RELEASE_PATHS) osRelease[p] = map(text(p, MAX_OS_RELEASE, true), (t) => parseOsRelease(t) ?? null);

  const files: Package[] = [];
  statusD(tree, files, warn);
  const walk = walkOptions(opts);
  const record = opts.record;
  const visit = record
    ? (f: VisitedFile): void => {
        if (!candidate(f)) return;
        const found = findingsOf(f);
        record.set(f.path, knownFile(f, found));
        files.push(...found.packages);
        warnings.push(...found.warnings);
      }
    : (f: VisitedFile): void => catalogFile(f, files, warn);
  const known = opts.known;
  const taken = known && ((f: VisitedFile): boolean => {
    const k = known.get(f.path);
    if (!k || k.size !== f.st.size || k.mtimeMs !== f.st.mtimeMs || k.mode !== f.st.mode) return false;
    files.push(...k.found.packages);
    warnings.push(...k.found.warnings);
    return true;
  });
  const stopped = opts.files ? visitListedFiles(tree, opts.files, walk, visit, taken) : walkFiles(tree, walk, visit);
  if (stopped) warnings.push(`${tree.dir}: the walk ${stopped}; later files were not cataloged`);
  return { version: FINDINGS_VERSION, dbs, osRelease, files, warnings };
}

function walkOptions(opts: CatalogOptions): WalkOptions {
  return {
    ...(opts.paths ? { paths: opts.paths } : {}),
    skipNames: SKIP_DIRS,
    skipTop: opts.wholeRoot ? WHOLE_ROOT_SKIP_TOP : new Set<string>(),
    crossMounts: opts.crossMounts,
    ...(opts.exclude ? { exclude: opts.exclude } : {}),
    maxEntries: MAX_ENTRIES,
    maxDepth: MAX_DEPTH,
  };
}

/** `catalogFilesAhead` lets the event loop run after this much work. */
const AHEAD_SLICE_MS = 10;
const AHEAD_CHUNK = 32;

/**
 * The findings of `files` (regular files of the whole root filesystem `dir`, under the rules of a whole-root
 * catalog: mount points left out, nothing followed), read now, a few at a time with the event loop let in
 * between: for a caller with idle time before the SBOM (an in-image build, while `assemble` runs), which then
 * passes those still unchanged as `CatalogOptions.known`. A file the walk's rules leave out has no entry.
 */
export async function catalogFilesAhead(dir: string, files: readonly string[], exclude: ExcludeNode, signal?: AbortSignal): Promise<Map<string, KnownFile>> {
  const out = new Map<string, KnownFile>();
  const tree = new Tree(dir, false, false);
  try {
    const walk = walkOptions({ wholeRoot: true, crossMounts: false, exclude });
    let slice = performance.now();
    for (let i = 0; i < files.length; i += AHEAD_CHUNK) {
      visitListedFiles(tree, files.slice(i, i + AHEAD_CHUNK), walk, (f) => {
        if (candidate(f)) out.set(f.path, knownFile(f, findingsOf(f)));
      });
      if (performance.now() - slice > AHEAD_SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        signal?.throwIfAborted();
        slice = performance.now();
      }
    }
  } finally {
    tree.close();
  }
  return out;
}

/** Distroless images: one stanza per file in var/lib/dpkg/status.d (NAME.md5sums beside each is skipped). */
function statusD(tree: Tree, out: Package[], warn: (path: string, why: string) => void): void {
  const fd = tree.openDir(components(DPKG_STATUS_D)!);
  if (fd === undefined) return;
  try {
    for (const ent of Tree.list(fd)) {
      if (!ent.isFile() || ent.name.endsWith('.md5sums') || ent.name.includes('\uFFFD')) continue;
      const path = `${DPKG_STATUS_D}/${ent.name}`;
      const r = readChild(fd, ent.name, MAX_TEXT);
      if (typeof r === 'string') {
        if (r !== 'absent') warn(path, r === 'too-big' ? 'too large, not read' : 'not a regular file, not read');
        continue;
      }
      out.push(...parseDpkgStatus(r.toString('utf8'), path, false));
    }
  } finally {
    closeSync(fd);
  }
}

const EXEC_BITS = 0o111;
const REQUIREMENTS = /^requirements.*\.txt$/;
const JAR = /\.(jar|war|ear)$/;
/** Lock and build files read whatever their mode. */
const TEXT_FILES = new Set(['package-lock.json', 'poetry.lock', 'Pipfile.lock', 'pom.xml']);

/** Whether the catalog reads a regular file of this name, mode and size: a lock or build file, an archive of
 *  classes, or an executable that could be a Go binary (ELF, 64 bytes at least). */
export function catalogCandidate(name: string, mode: number, size: number): boolean {
  return ((mode & EXEC_BITS) !== 0 && size >= 64) || TEXT_FILES.has(name) || REQUIREMENTS.test(name) || JAR.test(name);
}

/** Whether the catalog reads visited file `f` (`catalogCandidate`, by what it is now). */
function candidate(f: VisitedFile): boolean {
  return catalogCandidate(f.name, f.st.mode, f.st.size);
}

/** What one regular file gives on its own (`catalogFile` into a fresh FileFindings). */
function findingsOf(f: VisitedFile): FileFindings {
  const found: FileFindings = { packages: [], warnings: [] };
  catalogFile(f, found.packages, (path, why) => found.warnings.push(`/${path}: ${why}`));
  return found;
}

function catalogFile(f: VisitedFile, out: Package[], warn: (path: string, why: string) => void): void {
  const { name, path, st } = f;
  const textFile = (parse: (t: string) => Package[] | Package | string | undefined): void => {
    const r = readChild(f.dirFd, name, MAX_TEXT);
    if (typeof r === 'string') {
      if (r === 'too-big') warn(path, `larger than ${MAX_TEXT} bytes, not read`);
      return;
    }
    const got = parse(r.toString('utf8'));
    if (typeof got === 'string') warn(path, got);
    else if (Array.isArray(got)) out.push(...got);
    else if (got) out.push(got);
  };
  if (name === 'package-lock.json') return textFile((t) => parsePackageLock(t, path));
  if (REQUIREMENTS.test(name)) return textFile((t) => parseRequirements(t, path));
  if (name === 'poetry.lock') return textFile((t) => parsePoetryLock(t, path));
  if (name === 'Pipfile.lock') return textFile((t) => parsePipfileLock(t, path));
  if (name === 'pom.xml') return textFile((t) => parsePom(t, path));
  if (!catalogCandidate(name, st.mode, st.size)) return;
  const jar = JAR.test(name);
  const opened = openRegular(f.dirFd, name);
  if (!opened) return;
  try {
    if (jar) {
      const got = readJar(opened.fd, opened.size, path);
      if (typeof got === 'string') warn(path, got);
      else out.push(...got);
      return;
    }
    // The ELF header first: a large file that is not ELF costs one 64-byte read.
    if (!isElf(readAt(opened.fd, 0, 64))) return;
    try {
      const info = readGoBuildInfo(opened.fd, opened.size);
      if (info) out.push(...goPackages(info, path));
    } catch (e) {
      if (e instanceof CorruptBuildInfo) warn(path, `Go build info unreadable (${e.message})`);
      else if (e instanceof RangeError) warn(path, 'Go build info unreadable (truncated)');
      else throw e;
    }
  } finally {
    closeSync(opened.fd);
  }
}
