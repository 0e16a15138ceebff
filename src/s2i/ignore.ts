// Which source files reach the build: `.s2iignore` rules and `--exclude REGEX` (S2I-CONTRACT.md "Source"),
// and the copy of a local source directory.
//
// .s2iignore semantics follow s2i (pkg/ignore): lines trimmed, blank and `#` lines skipped, each pattern is
// relative to the source root and matched against whole relative paths with Go filepath.Match; rules apply in
// order, a pattern marks matching paths as ignored and a `!pattern` un-marks them; an ignored directory takes
// its whole subtree with it (a `!` rule cannot pull a file back out of an ignored directory, as in s2i).

import { closeSync, constants as fsConstants, fchmodSync, fchownSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { readInputFile } from '../sys/input-file.js';
import { globToRegExp } from './glob.js';
import { InRoot, copyData, createChildFile, createChildSymlink, openOrMakeChildDir } from '../sys/in-root.js';

export const ignoreFileName = '.s2iignore';
/** s2i's default --exclude: any `.git` path segment. */
export const defaultExclude = '(^|/)\\.git(/|$)';

export interface IgnoreRule {
  negate: boolean;
  pattern: string;
  re: RegExp;
}

/** Parse .s2iignore text. Bad globs are ERR_S2IIGNORE_SYNTAX naming file:line. */
export function parseIgnoreFile(text: string, fileName = ignoreFileName): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    // s2i joins the pattern to the source root (filepath.Join): leading `/`, `./` and trailing `/` vanish.
    // A pattern climbing out of the root (s2i would delete files outside the source!) matches nothing.
    const cleaned = path.posix.normalize(line.replace(/^\/+/, '')).replace(/\/+$/, '');
    if (cleaned === '' || cleaned === '.' || cleaned === '..' || cleaned.startsWith('../')) return;
    try {
      rules.push({ negate, pattern: cleaned, re: globToRegExp(cleaned) });
    } catch (e) {
      throw new S2IError('ERR_S2IIGNORE_SYNTAX', `${fileName}:${i + 1}: ${(e as Error).message}; fix the pattern`, { cause: e });
    }
  });
  return rules;
}

/** Whether the rules ignore exactly this path (ancestors not considered). */
export function ignoredByRules(rel: string, rules: IgnoreRule[]): boolean {
  let ignored = false;
  for (const r of rules) if (r.re.test(rel)) ignored = !r.negate;
  return ignored;
}

export type SourceFilter = (relPath: string, isDir: boolean) => boolean;

/** Build a filter from rules and an exclude regex: true = keep. A path goes if it or any ancestor is ignored. */
export function filterFromRules(rules: IgnoreRule[], exclude: RegExp | undefined): SourceFilter {
  return (relPath: string): boolean => {
    const rel = relPath.replace(/^\.\/+/, '').replace(/\/+$/, '');
    if (rel === '' || rel === '.') return true;
    if (exclude && exclude.test(rel)) return false;
    if (rules.length === 0) return true;
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      if (ignoredByRules(parts.slice(0, i).join('/'), rules)) return false;
    }
    return true;
  };
}

/** Compile --exclude; '' disables excluding. A bad regex is ERR_EXCLUDE_SYNTAX. */
export function compileExclude(excludeRegex: string | undefined): RegExp | undefined {
  const src = excludeRegex ?? defaultExclude;
  if (src === '') return undefined;
  try {
    return new RegExp(src);
  } catch (e) {
    throw new S2IError('ERR_EXCLUDE_SYNTAX', `--exclude "${src}" is not a valid regular expression: ${(e as Error).message}`, { cause: e });
  }
}

/** Filter for a source dir: its .s2iignore (if any) plus --exclude (default: `.git`). */
export async function makeSourceFilter(sourceDir: string, excludeRegex?: string): Promise<SourceFilter> {
  const exclude = compileExclude(excludeRegex);
  const file = path.join(sourceDir, ignoreFileName);
  let text = '';
  try {
    // Not readFile: a FIFO named .s2iignore in a source dir would block the build forever (sys/input-file.ts).
    text = (await readInputFile(file, { what: 'ignore file', code: 'ERR_S2IIGNORE_READ' })).toString('utf8');
  } catch (e) {
    if (e instanceof S2IError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw new S2IError('ERR_S2IIGNORE_READ', `cannot read ${file}: ${code}; check its permissions`, { cause: e });
    }
  }
  return filterFromRules(parseIgnoreFile(text, file), exclude);
}

export interface CopySourceOptions {
  /** Copy symlinks as symlinks (s2i --keep-symlinks). Default: follow them and copy what they point to. */
  keepSymlinks?: boolean;
  /** Give everything copied, and destDir itself, this owner (links themselves, not their targets). Default: as created. */
  owner?: { uid: number; gid: number };
}

/** Entries copied between two turns of the event loop (the copy itself is synchronous). */
const ENTRIES_PER_TURN = 256;

/**
 * Copies a regular file's bytes into a new file `name` of the directory `dirFd` and sets its mode, times and
 * (optionally) owner through the open descriptor. The file is created with O_EXCL|O_NOFOLLOW: an entry of the
 * image already there (a symlink above all) is removed and replaced, never written through (issue 16).
 * Not fs.copyFile: libuv truncates the new file to 0 bytes first, and on ext4 a truncate to 0 marks the file
 * for writeback at close (auto_da_alloc, the "replace by truncate" heuristic), so each of thousands of source
 * files started disk writes right away, and deleting them later waited for those: `rm -rf` of 5,001 such
 * copies took 1.5-5 s against 0.15-0.4 s for the same files written plainly.
 */
function copyFileData(src: string, dirFd: number, name: string, st: { mode: number; atimeMs: number; mtimeMs: number }, owner: { uid: number; gid: number } | undefined): void {
  const fdIn = openSync(src, 'r');
  try {
    const fdOut = createChildFile(dirFd, name);
    try {
      copyData(fdIn, fdOut);
      fchmodSync(fdOut, st.mode & 0o7777);
      futimesSync(fdOut, st.atimeMs / 1000, st.mtimeMs / 1000);
      // After chmod, as before: chown clears the set-user/group-ID bits of an executable.
      if (owner) fchownSync(fdOut, owner.uid, owner.gid);
    } finally {
      closeSync(fdOut);
    }
  } finally {
    closeSync(fdIn);
  }
}

/**
 * Copy sourceDir into destDir through filter, keeping modes and mtimes. Special files are skipped. When
 * following symlinks, directory loops are cut and dangling links are kept as links. A destination inside the
 * source is never copied into itself. Missing source → ERR_SOURCE_MISSING (exit 14).
 *
 * `destDir` is a host path (created when missing) or the descriptor of a directory opened inside an image's
 * rootfs (src/sys/in-root.ts): every entry is created relative to its parent's descriptor, and an entry already
 * there that is not what is written (an image's symlink) is replaced, never followed out of the root.
 *
 * The file system calls are synchronous: a source tree is thousands of small files, and a round trip through
 * the libuv pool for each of the 5-6 calls per file cost more than the calls themselves (5,001 files: 5.5 s
 * asynchronous, ~0.5 s synchronous on a loaded 2-core host). The event loop gets a turn every ENTRIES_PER_TURN entries.
 */
export async function copySource(
  sourceDir: string,
  destDir: string | number,
  filter: SourceFilter,
  opts: CopySourceOptions = {},
): Promise<{ files: number; bytes: number }> {
  let rootStat;
  try {
    rootStat = await stat(sourceDir);
  } catch (e) {
    throw new S2IError('ERR_SOURCE_MISSING', `source ${sourceDir} does not exist or cannot be read (${(e as NodeJS.ErrnoException).code}); check the path`, {
      cause: e,
      step: 'source',
    });
  }
  if (!rootStat.isDirectory()) {
    throw new S2IError('ERR_SOURCE_MISSING', `source ${sourceDir} is not a directory; pass a directory or a git URL`, { step: 'source' });
  }
  let rootFd: number;
  if (typeof destDir === 'number') {
    rootFd = destDir;
  } else {
    mkdirSync(destDir, { recursive: true });
    rootFd = openSync(destDir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
  }
  const destReal = InRoot.hostPathOf(rootFd);
  const totals = { files: 0, bytes: 0 };
  const onPath = new Set<string>();
  const owner = opts.owner;
  let sinceTurn = 0;

  const walk = async (srcAbs: string, dfd: number, rel: string): Promise<void> => {
    const real = realpathSync(srcAbs);
    if (real === destReal || onPath.has(real)) return; // copying into itself, or a symlink loop
    onPath.add(real);
    const entries = readdirSync(srcAbs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      if (++sinceTurn >= ENTRIES_PER_TURN) {
        sinceTurn = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const s = path.join(srcAbs, ent.name);
      const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
      let st = lstatSync(s);
      if (st.isSymbolicLink()) {
        if (opts.keepSymlinks) {
          if (!filter(r, false)) continue;
          createChildSymlink(dfd, ent.name, readlinkSync(s), { ...(owner ? { owner } : {}), atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
          totals.files++;
          continue;
        }
        try {
          st = statSync(s);
        } catch {
          if (!filter(r, false)) continue;
          createChildSymlink(dfd, ent.name, readlinkSync(s), owner ? { owner } : {}); // dangling: nothing to follow
          totals.files++;
          continue;
        }
      }
      if (st.isDirectory()) {
        if (!filter(r, true)) continue;
        if (realpathSync(s) === destReal) continue; // the destination lives inside the source
        const fd = openOrMakeChildDir(dfd, ent.name, 0o700);
        try {
          await walk(s, fd, r);
          fchmodSync(fd, st.mode & 0o7777);
          futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
          if (owner) fchownSync(fd, owner.uid, owner.gid);
        } finally {
          closeSync(fd);
        }
      } else if (st.isFile()) {
        if (!filter(r, false)) continue;
        copyFileData(s, dfd, ent.name, st, owner);
        totals.files++;
        totals.bytes += st.size;
      }
      // fifos, sockets and devices are not source code: skipped.
    }
    onPath.delete(real);
  };
  try {
    await walk(sourceDir, rootFd, '');
    if (owner) fchownSync(rootFd, owner.uid, owner.gid);
  } finally {
    if (typeof destDir !== 'number') closeSync(rootFd);
  }
  return totals;
}
