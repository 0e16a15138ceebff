// The application source of a build: a local directory (copied later through .s2iignore/--exclude) or a git
// URL cloned into the build dir. Either way the result is a host directory plus what the labels need.
import { constants } from 'node:fs';
import { access, stat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { isGitUrl, parseGitSource, cloneSource, gitInfo, type GitInfo } from '../s2i/git.js';

export interface SourceSpec {
  /** Directory path or git URL (`https://`, `file://`, `git@host:path`, optionally `#ref`). */
  source: string;
  /** --ref */
  ref?: string;
  /** --context-dir */
  contextDir?: string;
  /** Fetch submodules of git sources (default true). */
  submodules?: boolean;
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

/** True when `source` names a git repository rather than a local directory (an existing directory wins). */
export async function isGitSource(source: string): Promise<boolean> {
  return isGitUrl(source) && !(await isDir(source));
}

/** Clones git sources into `workDir/git`; checks local ones. */
export async function prepareSource(spec: SourceSpec, workDir: string): Promise<PreparedSource> {
  const contextDir = spec.contextDir?.trim() || undefined;
  if (await isGitSource(spec.source)) {
    const g = parseGitSource(spec.source, spec.ref);
    const cloned = await cloneSource(g.url, g.ref, path.join(workDir, 'git'), {
      ...(contextDir ? { contextDir } : {}),
      submodules: spec.submodules !== false,
    });
    return { dir: cloned.sourceDir, location: g.url, ...(contextDir ? { contextDir } : {}), git: cloned.info, isGit: true };
  }
  if (spec.ref) {
    throw new S2IError('ERR_USAGE', `--ref "${spec.ref}" needs a git source, but ${spec.source} is a local directory`);
  }
  const root = path.resolve(spec.source);
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
  // A local git checkout still gets the commit labels (s2i does the same).
  const git = (await isDir(path.join(root, '.git'))) ? await gitInfo(root).catch(() => undefined) : undefined;
  return { dir, location: root, ...(contextDir ? { contextDir } : {}), ...(git ? { git } : {}), isGit: false };
}
