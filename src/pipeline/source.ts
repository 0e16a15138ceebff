// The application source of a build: a local directory (copied later through .s2iignore/--exclude) or a git
// URL cloned into the build dir. Either way the result is a host directory plus what the labels need.
import { constants, realpathSync, statSync } from 'node:fs';
import { access, stat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { fileURLToPath } from 'node:url';
import { isGitUrl, parseGitSource, cloneSource, gitInfo, runGit, type GitInfo } from '../s2i/git.js';

export interface SourceSpec {
  /** Directory path or git URL (`https://`, `file://`, `git@host:path`, optionally `#ref`). */
  source: string;
  /** --ref */
  ref?: string;
  /** --context-dir */
  contextDir?: string;
  /** Fetch submodules of git sources (default true). */
  submodules?: boolean;
  /**
   * -c/--copy: copy a local git repository's working tree as it is. Without it a local repository is cloned, so
   * its committed tree is built (s2i).
   */
  copy?: boolean;
  /** One warning line (uncommitted changes left out of a clone of a local repository). */
  onWarning?: (message: string) => void;
}

export interface PreparedSource {
  /** Host directory holding the application (the context dir when given). */
  dir: string;
  /** Label io.openshift.s2i.build.source-location: the URL, or the absolute local path. */
  location: string;
  contextDir?: string;
  git?: GitInfo;
  isGit: boolean;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() === true;
}

/**
 * A directory that is the top of a git work tree git can read (s2i: `.git` there, and git present). A stray or
 * broken `.git`, or no git installed, makes it a plain directory, copied.
 */
async function isLocalRepo(dir: string): Promise<boolean> {
  if (!(await isDir(dir)) || !(await stat(path.join(dir, '.git')).catch(() => undefined))) return false;
  const top = (await runGit(['rev-parse', '--show-toplevel'], { cwd: dir }).catch(() => '')).trim();
  if (!top) return false;
  const [a, b] = [await realpath(top).catch(() => top), await realpath(dir).catch(() => dir)];
  return a === b;
}

/** The local path a `file://` source names (any `#ref` cut off), or undefined for other sources. */
function fileUrlPath(source: string): string | undefined {
  const t = source.trim();
  if (!/^file:\/\//i.test(t)) return undefined;
  const hash = t.indexOf('#');
  try {
    return fileURLToPath(hash < 0 ? t : t.slice(0, hash));
  } catch {
    return undefined;
  }
}

/** True when `source` names a git repository rather than a local directory (an existing directory wins). */
export async function isGitSource(source: string): Promise<boolean> {
  if (!isGitUrl(source) || (await isDir(source))) return false;
  // file:///dir that is no git repository is a local directory (s2i copies it).
  const local = fileUrlPath(source);
  return local === undefined || !(await isDir(local)) || (await isLocalRepo(local));
}

/**
 * The top of the local git repository `source` names (a path, or a `file://` URL of a local directory), or
 * undefined when it names none (a remote URL, a plain directory).
 */
export async function localRepoRoot(source: string): Promise<string | undefined> {
  const local = fileUrlPath(source);
  if (local === undefined && isGitUrl(source)) return undefined;
  const dir = path.resolve(local ?? source);
  return (await isLocalRepo(dir)) ? dir : undefined;
}

/** `file:///plain/dir[#ref]` → the directory and its ref; anything else as given. */
function localForm(source: string): { source: string; ref?: string } {
  const local = fileUrlPath(source);
  if (local === undefined) return { source };
  const hash = source.indexOf('#');
  const ref = hash < 0 ? undefined : source.slice(hash + 1);
  return ref ? { source: local, ref } : { source: local };
}

/** The local directory a source names (a path, or a `file://` URL), known before the source is prepared (an
 *  in-image build leaves it out of the snapshot it starts meanwhile); undefined when it names none. */
export function localSourceDir(source: string): string | undefined {
  const dir = path.resolve(localForm(source).source);
  try {
    return statSync(dir).isDirectory() ? realpathSync(dir) : undefined;
  } catch {
    return undefined;
  }
}

/** Clones git sources into `workDir/git`; checks local ones. */
export async function prepareSource(spec: SourceSpec, workDir: string): Promise<PreparedSource> {
  const contextDir = spec.contextDir?.trim() || undefined;
  const urlPath = fileUrlPath(spec.source);
  const copyUrl = spec.copy === true && urlPath !== undefined && (await isDir(urlPath));
  if (!copyUrl && (await isGitSource(spec.source))) {
    const g = parseGitSource(spec.source, spec.ref);
    const cloned = await cloneSource(g.url, g.ref, path.join(workDir, 'git'), {
      ...(contextDir ? { contextDir } : {}),
      submodules: spec.submodules !== false,
    });
    return { dir: cloned.sourceDir, location: g.url, ...(contextDir ? { contextDir } : {}), git: cloned.info, isGit: true };
  }
  const local = localForm(spec.source);
  const ref = spec.ref ?? local.ref;
  if (local.ref && spec.ref && local.ref !== spec.ref) {
    throw new S2IError('ERR_CONFLICTING_REF', `the source names ref "${local.ref}" but --ref is "${spec.ref}"; give only one`);
  }
  const root = path.resolve(local.source);
  const isRepo = await isLocalRepo(root);
  if (isRepo && !spec.copy) return cloneLocal(spec, root, ref, contextDir, workDir);
  if (ref) {
    throw new S2IError('ERR_USAGE', `--ref "${ref}" needs a git source, but ${spec.source} is ${isRepo ? 'copied as it is (-c)' : 'a local directory, not a git repository'}`);
  }
  if (!(await isDir(root))) {
    throw new S2IError('ERR_SOURCE_MISSING', `source directory ${spec.source} does not exist or is not a directory: give a path to your application source or a git URL`, {
      step: 'source',
    });
  }
  try {
    await access(root, constants.R_OK | constants.X_OK);
  } catch (e) {
    throw new S2IError('ERR_SOURCE_MISSING', `source directory ${spec.source} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): give a directory you can read, or a git URL`, {
      cause: e,
      step: 'source',
    });
  }
  let dir = root;
  if (contextDir) {
    const norm = path.posix.normalize(contextDir.replace(/^\/+/, ''));
    dir = path.join(root, norm);
    const [r, d] = [await realpath(root), await realpath(dir).catch(() => '')];
    if (norm === '..' || norm.startsWith('../') || !d || (d !== r && !d.startsWith(r + path.sep)) || !(await isDir(dir))) {
      throw new S2IError('ERR_CONTEXT_DIR', `--context-dir "${contextDir}" is not a directory inside ${spec.source}`);
    }
  }
  // -c copies the working tree as it is, which no commit describes: no commit labels (s2i gives none either).
  return { dir, location: root, ...(contextDir ? { contextDir } : {}), isGit: false };
}

/**
 * A local git repository without -c: cloned as s2i does, so the committed tree (HEAD, or the ref) is built and
 * the commit labels describe it. Uncommitted changes are left out, with one warning line.
 */
async function cloneLocal(spec: SourceSpec, root: string, ref: string | undefined, contextDir: string | undefined, workDir: string): Promise<PreparedSource> {
  const cloned = await cloneSource(root, ref, path.join(workDir, 'git'), {
    ...(contextDir ? { contextDir } : {}),
    submodules: spec.submodules !== false,
  });
  // The working tree's changes matter only when the commit built is the one they were made on (HEAD): another ref
  // (--ref, the labelled commit a rebuild checks out) is built as committed whatever the working tree holds.
  const onHead = ref === undefined || (await runGit(['rev-parse', '--verify', '-q', 'HEAD'], { cwd: root }).catch(() => '')).trim() === cloned.info.id;
  const status = onHead ? await runGit(['status', '--porcelain', '--untracked-files=normal'], { cwd: root }).catch(() => '') : '';
  const changed = status.split('\n').filter(Boolean).length;
  if (changed > 0) {
    spec.onWarning?.(`${root}: building the committed tree (${cloned.info.id.slice(0, 12)}); ${changed} uncommitted change${changed === 1 ? '' : 's'} left out: commit them, or use -c/--copy to build the working tree as it is`);
  }
  return { dir: cloned.sourceDir, location: root, ...(contextDir ? { contextDir } : {}), git: cloned.info, isGit: true };
}
