// Git sources (S2I-CONTRACT.md "Source"): URL forms, clone with the git CLI, and commit info for labels.
// git runs without a shell, with `--` before positional arguments, and never prompts.

import { execFile } from 'node:child_process';
import { stat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { GitInfo } from './labels.js';

export type { GitInfo } from './labels.js';

const scpLike = /^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!\/\/)(?![0-9]+(?:\/|$))[^\s]+$/;
const gitSchemes = /^(https?|git|ssh|file|git\+ssh|ssh\+git):\/\//i;

/** True for URLs git clones: http(s)://, git://, ssh://, file://, and scp-like user@host:path. Not bare paths. */
export function isGitUrl(s: string): boolean {
  const t = s.trim();
  if (gitSchemes.test(t)) return true;
  // `user@host:path`; a Windows-ish `C:\x` or a plain `dir:with:colons` path without `@` and dots is not git.
  return t.includes('@') && scpLike.test(t.split('#', 1)[0]!);
}

export interface GitSource {
  url: string;
  ref?: string;
}

/**
 * Split `url#ref`; `refFlag` (--ref) wins when the URL has none. Both given and different is
 * ERR_CONFLICTING_REF (the reference silently picks one).
 */
export function parseGitSource(s: string, refFlag?: string): GitSource {
  const t = s.trim();
  if (!isGitUrl(t)) {
    throw new S2IError('ERR_GIT_URL', `"${s}" is not a git URL; use https://…, file://…, ssh://… or git@host:path, optionally with #ref`);
  }
  const hash = t.indexOf('#');
  const url = hash < 0 ? t : t.slice(0, hash);
  const fragment = hash < 0 ? undefined : t.slice(hash + 1);
  if (fragment !== undefined && fragment === '') {
    throw new S2IError('ERR_GIT_URL', `"${s}" ends with "#" but names no ref; write URL#branch-tag-or-commit`);
  }
  if (fragment && refFlag && fragment !== refFlag) {
    throw new S2IError('ERR_CONFLICTING_REF', `the source names ref "${fragment}" but --ref is "${refFlag}"; give only one`);
  }
  const ref = fragment || refFlag || undefined;
  if (ref !== undefined) validateRef(ref);
  return ref === undefined ? { url } : { url, ref };
}

/** A ref is passed to git as an argument after options; still refuse option-looking and control-char refs. */
function validateRef(ref: string): void {
  if (ref.startsWith('-') || /[\s\x00-\x1f\x7f~^:?*[\\]/.test(ref) || ref.includes('..')) {
    throw new S2IError('ERR_GIT_REF', `"${ref}" is not a valid git ref; use a branch, tag or commit SHA`);
  }
}

export interface RunGitOptions {
  cwd?: string;
  /** Extra `-c key=value` settings. */
  config?: string[];
}

/** Run git without a shell; resolve stdout; reject with stderr in the message. */
export function runGit(args: string[], opts: RunGitOptions = {}): Promise<string> {
  const full = [...(opts.config ?? []).flatMap((c) => ['-c', c]), ...args];
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      full,
      {
        cwd: opts.cwd,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', LC_ALL: 'C' },
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { stderr?: string };
          e.stderr = String(stderr);
          reject(e);
        } else resolve(String(stdout));
      },
    );
  });
}

function lastLine(s: string | undefined): string {
  const lines = (s ?? '').trim().split('\n').filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/**
 * The lines of git's stderr worth showing, on one line: progress ("Cloning into …"), `hint:` lines and repeats
 * dropped, the rest joined with " / " and capped (git often says what is wrong before its last line).
 */
function gitFailureText(stderr: string | undefined, max = 600): string {
  const seen = new Set<string>();
  const keep: string[] = [];
  for (const raw of (stderr ?? '').split(/\r?\n|\r/)) {
    const l = raw.trim();
    if (!l || /^(hint:|Cloning into|remote: (Counting|Compressing|Enumerating|Total))/i.test(l) || seen.has(l)) continue;
    seen.add(l);
    keep.push(l);
  }
  const text = keep.join(' / ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export interface CloneOptions {
  submodules?: boolean;
  /** Sub-directory holding the application (--context-dir); must stay inside the clone. */
  contextDir?: string;
  /**
   * Allow file:// submodules (git blocks them by default since CVE-2022-39253). Only for trusted local
   * repositories, e.g. tests.
   */
  allowFileSubmodules?: boolean;
}

export interface CloneResult {
  /** The clone's root. */
  repoDir: string;
  /** The application directory (repoDir or repoDir/contextDir). */
  sourceDir: string;
  info: GitInfo;
}

function contextPath(repoDir: string, contextDir: string | undefined): string {
  if (!contextDir) return repoDir;
  const norm = path.posix.normalize(contextDir.replace(/^\/+/, ''));
  if (norm === '..' || norm.startsWith('../') || path.isAbsolute(norm)) {
    throw new S2IError('ERR_CONTEXT_DIR', `--context-dir "${contextDir}" leaves the repository; give a path inside it`);
  }
  return path.join(repoDir, norm);
}

/**
 * Clone url into dest (which must not exist or be empty) and check out ref. Without a ref the clone is
 * shallow (as s2i). An empty repository is ERR_EMPTY_REPO (exit 16); a missing ref or context dir exits 14.
 */
export async function cloneSource(url: string, ref: string | undefined, dest: string, opts: CloneOptions = {}): Promise<CloneResult> {
  if (ref !== undefined) validateRef(ref);
  const config = opts.allowFileSubmodules ? ['protocol.file.allow=always'] : [];
  // With a ref: full clone, then check the ref out (it may be a commit a shallow clone lacks).
  const cloneArgs = ['clone', '--quiet', ref ? '--no-checkout' : '--depth=1'];
  try {
    await runGit([...cloneArgs, '--', url, dest], { config });
  } catch (e) {
    throw new S2IError('ERR_GIT_CLONE', `git clone of ${url} failed: ${gitFailureText((e as { stderr?: string }).stderr) || (e as Error).message}`, {
      cause: e,
    });
  }
  const hasHead = await runGit(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { cwd: dest }).then(
    () => true,
    () => false,
  );
  if (!hasHead && !ref) {
    throw new S2IError('ERR_EMPTY_REPO', `git repository ${url} has no commits; push a commit first`);
  }
  if (!hasHead) {
    const anyRef = (await runGit(['for-each-ref', '--count=1'], { cwd: dest }).catch(() => '')).trim();
    if (anyRef === '') throw new S2IError('ERR_EMPTY_REPO', `git repository ${url} has no commits; push a commit first`);
  }
  if (ref) {
    try {
      // validateRef refused option-looking refs; the trailing `--` keeps the ref from being read as a path.
      await runGit(['checkout', '--quiet', ref, '--'], { cwd: dest });
    } catch (e) {
      throw new S2IError('ERR_GIT_REF', `cannot check out ref "${ref}" of ${url}: ${gitFailureText((e as { stderr?: string }).stderr)}; check the branch, tag or commit`, {
        cause: e,
        step: 'source',
      });
    }
  }
  if (opts.submodules !== false) {
    try {
      await runGit(['submodule', 'update', '--init', '--recursive', '--quiet'], { cwd: dest, config });
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? '';
      // git refuses file:// submodules by default (CVE-2022-39253); say how to opt in for trusted local repos.
      const hint = /transport 'file' not allowed|protocol\.file\.allow|Failed to clone/.test(stderr)
        ? '; for trusted local file:// submodules set GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=protocol.file.allow GIT_CONFIG_VALUE_0=always'
        : '';
      throw new S2IError('ERR_GIT_SUBMODULE', `cannot fetch submodules of ${url}: ${gitFailureText(stderr)}${hint}`, {
        cause: e,
      });
    }
  }
  const sourceDir = contextPath(dest, opts.contextDir);
  const st = await stat(sourceDir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new S2IError('ERR_CONTEXT_DIR', `--context-dir "${opts.contextDir}" is not a directory in ${url}`);
  }
  // A context dir reached through a symlink must still be inside the clone.
  const [rootReal, srcReal] = [await realpath(dest), await realpath(sourceDir)];
  if (srcReal !== rootReal && !srcReal.startsWith(rootReal + path.sep)) {
    throw new S2IError('ERR_CONTEXT_DIR', `--context-dir "${opts.contextDir}" leaves the repository through a symlink`);
  }
  const info = await gitInfo(dest);
  if (ref) info.ref = ref;
  return { repoDir: dest, sourceDir, info };
}

/**
 * Commit info for the build labels. ref: the branch, else a tag pointing at HEAD, else "HEAD" (detached).
 * A directory without commits is ERR_EMPTY_REPO (exit 16).
 */
export async function gitInfo(dir: string): Promise<GitInfo> {
  let out: string;
  try {
    out = await runGit(['--no-pager', 'log', '-1', '--format=%an%x00%ae%x00%ad%x00%H%x00%B', 'HEAD', '--'], { cwd: dir });
  } catch (e) {
    throw new S2IError('ERR_EMPTY_REPO', `${dir} is not a git repository with commits: ${lastLine((e as { stderr?: string }).stderr)}`, {
      cause: e,
    });
  }
  const [an = '', ae = '', date = '', id = '', ...msg] = out.split('\0');
  const branch = (await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: dir }).catch(() => '')).trim();
  let ref = branch;
  if (!ref) ref = (await runGit(['describe', '--tags', '--exact-match', 'HEAD'], { cwd: dir }).catch(() => '')).trim();
  if (!ref) ref = 'HEAD';
  return { author: `${an} <${ae}>`, date, id, ref, message: msg.join('\0').trim() };
}
