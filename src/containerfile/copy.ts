// COPY and ADD of local files (Dockerfile reference, "COPY" and "ADD"): sources are resolved inside the build
// context (never outside it, symlinks included), globs expand per path component (Go filepath.Match), a
// directory source copies its contents, several sources need a destination ending in "/", and ADD unpacks a
// local tar (plain, gzip or zstd) instead of copying it. Writes into the image go through descriptors
// (sys/in-root.ts): the destination is resolved in-root, every entry is created relative to its parent's
// descriptor, and an entry of the image already there is replaced, never followed: a symlink in the base image
// cannot send a write to the host.
import { closeSync, createReadStream, fchmodSync, fchownSync, futimesSync, lstatSync, readlinkSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { S2IError } from '../errors.js';
import { resolveDirInRoot, UnsafePathError } from '../layer/secure-path.js';
import { applyLayer } from '../layer/apply.js';
import { decompressor } from '../layer/decompress.js';
import { MediaType } from '../oci/media-types.js';
import { globToRegExp } from '../s2i/glob.js';
import { InRoot, UnsafeRootPathError, childKind, copyFileInto, createChildSymlink, openOrMakeChildDir } from '../sys/in-root.js';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyRequest {
  /** Real path of the build context. */
  contextDir: string;
  /** Source paths as written (after substitution), relative to the context. */
  sources: string[];
  /** Destination as written (after substitution); relative ones are relative to `workdir`. */
  dest: string;
  workdir: string;
  /** The merged rootfs (host path). */
  rootfs: string;
  /** Owner of everything copied and of directories created; default 0:0. Archives keep their own owners. */
  owner?: Owner;
  /** --chmod: mode for every copied file and directory. */
  chmod?: number;
  /** ADD: unpack local tar archives. */
  extractArchives: boolean;
  /** Scratch directory outside the rootfs (archives are unpacked there first). */
  tmpDir: string;
  /** Names an error: "Containerfile:12: COPY". */
  where: string;
  /** Paths (relative to the context, posix) to leave out (.dockerignore). */
  ignored?: (rel: string) => boolean;
  onWarning?: (msg: string) => void;
}

const hasGlob = (s: string) => /[*?[]/.test(s);

function copyError(where: string, message: string, cause?: unknown): S2IError {
  return new S2IError('ERR_COPY_FAILED', `${where}: ${message}`, { ...(cause ? { cause } : {}) });
}

/** Clean relative context path of a source; refuses anything that leaves the context. */
export function contextRelative(src: string): string {
  const clean = path.posix.normalize('/' + src).replace(/^\/+/, '').replace(/\/+$/, '');
  return clean === '' ? '.' : clean;
}

/** Expands sources (globs included) into existing context-relative paths, in order. */
export async function resolveSources(contextDir: string, sources: string[], where: string, ignored?: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const s of sources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw copyError(where, `"${s}" is a URL: only local files from the build context can be copied`);
    if (s.includes('\0')) throw copyError(where, 'a source path contains a NUL byte');
    const rel = contextRelative(s);
    if (!hasGlob(rel)) {
      if (!(await lexists(path.join(contextDir, rel)))) {
        throw copyError(where, `"${s}" does not exist in the build context ${contextDir}; check the path (sources are relative to the context directory)`);
      }
      out.push(rel);
      continue;
    }
    const matches = await globContext(contextDir, rel.split('/'), '', where);
    const kept = matches.filter((m) => !ignored?.(m));
    if (kept.length === 0) throw copyError(where, `no file in the build context matches "${s}"`);
    out.push(...kept);
  }
  return out;
}

async function lexists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function globContext(contextDir: string, comps: string[], prefix: string, where: string): Promise<string[]> {
  if (comps.length === 0) return [prefix];
  const [c, ...rest] = comps as [string, ...string[]];
  const next = (name: string) => (prefix ? `${prefix}/${name}` : name);
  if (!hasGlob(c)) {
    if (!(await lexists(path.join(contextDir, next(c))))) return [];
    return globContext(contextDir, rest, next(c), where);
  }
  let re: RegExp;
  try {
    re = globToRegExp(c);
  } catch (e) {
    throw copyError(where, `bad pattern "${c}": ${(e as Error).message}`);
  }
  let names: string[];
  try {
    names = (await fs.readdir(path.join(contextDir, prefix || '.'))).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) if (re.test(n)) out.push(...(await globContext(contextDir, rest, next(n), where)));
  return out;
}

/**
 * Host path of a context-relative source, following symlinks only inside the context (Docker follows a
 * symlink named as a source, but never out of the context).
 */
async function sourceHostPath(contextDir: string, rel: string, where: string): Promise<string> {
  try {
    const comps = rel === '.' ? [] : rel.split('/');
    const name = comps.pop();
    const dir = await resolveDirInRoot(contextDir, comps, { create: false });
    if (!dir) throw new Error('missing');
    if (name === undefined) return dir;
    let host = path.join(dir, name);
    for (let hops = 0; hops < 40; hops++) {
      const st = await fs.lstat(host);
      if (!st.isSymbolicLink()) return host;
      const target = await fs.readlink(host);
      const rootRel = path.posix.normalize(target.startsWith('/') ? target : path.posix.join(path.relative(contextDir, path.dirname(host)).split(path.sep).join('/'), target));
      const all = rootRel.split('/').filter((x) => x && x !== '.');
      const tn = all[all.length - 1];
      if (tn === undefined || tn === '..') {
        const d = await resolveDirInRoot(contextDir, all, { create: false });
        if (!d) throw new Error(`its symlink target ${target} is not in the context`);
        return d;
      }
      const td = await resolveDirInRoot(contextDir, all.slice(0, -1), { create: false });
      if (!td) throw new Error(`its symlink target ${target} is not in the context`);
      host = path.join(td, tn);
    }
    throw new Error('too many levels of symbolic links');
  } catch (e) {
    if (e instanceof UnsafePathError) throw copyError(where, `"${rel}" leads outside the build context: ${e.message}`);
    throw copyError(where, `cannot read "${rel}" in the build context: ${(e as Error).message}`, e);
  }
}

/** Runs a COPY/ADD: returns nothing; everything it writes lands in the rootfs (the overlay's upper dir). */
export async function copyIntoImage(req: CopyRequest): Promise<void> {
  const sources = await resolveSources(req.contextDir, req.sources, req.where, req.ignored);
  // `..` in a destination stops at the image's root, as in Docker.
  const destAbs = path.posix.resolve('/', req.workdir || '/', req.dest);
  const slash = req.dest.endsWith('/') || req.dest.endsWith('/.') || req.dest === '.';
  if (sources.length > 1 && !slash) {
    throw copyError(req.where, `with more than one source file the destination must be a directory and end with "/" (got "${req.dest}")`);
  }
  const owner = req.owner ?? { uid: 0, gid: 0 };
  /** A descriptor of directory `p` in the rootfs (created as `owner` when missing); the caller closes it. */
  const ensureDir = (p: string): number => {
    try {
      return InRoot.with(req.rootfs, (root) => root.openDir(p, { create: true, owner }));
    } catch (e) {
      if (e instanceof UnsafeRootPathError) throw new S2IError('ERR_UNSAFE_PATH', `${req.where}: cannot use ${p} inside the image: ${e.message}`, { cause: e, step: 'workdir' });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST') throw copyError(req.where, `${p} is not a directory in the image`, e);
      throw e;
    }
  };
  const inDir = async (p: string, fn: (fd: number) => void | Promise<void>): Promise<void> => {
    const fd = ensureDir(p);
    try {
      await fn(fd);
    } finally {
      closeSync(fd);
    }
  };
  const destIsDir = slash || (await isDirInRoot(req.rootfs, destAbs));
  const opts: TreeOptions = { owner, ...(req.chmod !== undefined ? { chmod: req.chmod } : {}), ...(req.ignored ? { ignored: req.ignored } : {}), onWarning: req.onWarning ?? (() => {}) };
  for (const rel of sources) {
    const host = await sourceHostPath(req.contextDir, rel, req.where);
    const st = await fs.lstat(host);
    if (st.isDirectory()) {
      await inDir(destAbs, (fd) => copyDirContents(host, fd, rel === '.' ? '' : rel, opts));
      continue;
    }
    if (req.extractArchives && st.isFile()) {
      const kind = await archiveKind(host);
      if (kind) {
        await inDir(destAbs, (fd) => extractArchive(host, kind, fd, req));
        continue;
      }
    }
    const target = destIsDir ? path.posix.join(destAbs, path.posix.basename(rel)) : destAbs;
    await inDir(path.posix.dirname(target), (fd) => copyEntry(host, fd, path.posix.basename(target), rel, opts));
  }
}

/** Whether `p` is a directory in the rootfs (symlinks followed in-root). */
export async function isDirInRoot(rootfs: string, p: string): Promise<boolean> {
  try {
    return (await resolveDirInRoot(rootfs, p.split('/').filter(Boolean), { create: false })) !== null;
  } catch {
    return false; // a component is a file, or a symlink loop: not a directory
  }
}

interface TreeOptions {
  owner?: Owner;
  chmod?: number;
  ignored?: (rel: string) => boolean;
  onWarning: (msg: string) => void;
}

function copyDirContents(src: string, dirFd: number, rel: string, opts: TreeOptions): void {
  const names = readdirSync(src).sort();
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    if (opts.ignored?.(r)) continue;
    copyEntry(path.join(src, n), dirFd, n, r, opts);
  }
}

/** Copies one entry (recursively for directories) to `name` in the directory `dirFd` of the image. */
function copyEntry(src: string, dirFd: number, name: string, rel: string, opts: TreeOptions): void {
  const st = lstatSync(src);
  const mode = opts.chmod ?? st.mode & 0o7777;
  const uid = opts.owner?.uid ?? st.uid;
  const gid = opts.owner?.gid ?? st.gid;
  if (st.isDirectory()) {
    const fd = openOrMakeChildDir(dirFd, name, 0o700); // an existing dir is merged into; anything else replaced
    try {
      copyDirContents(src, fd, rel, opts);
      fchownSync(fd, uid, gid);
      fchmodSync(fd, mode);
      futimesSync(fd, st.atime, st.mtime);
    } finally {
      closeSync(fd);
    }
    return;
  }
  if (childKind(dirFd, name) === 'dir') throw new S2IError('ERR_COPY_FAILED', `cannot overwrite the directory ${rel} in the image with a file`);
  if (st.isSymbolicLink()) {
    createChildSymlink(dirFd, name, readlinkSync(src), { owner: { uid, gid }, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
    return;
  }
  if (!st.isFile()) {
    opts.onWarning(`skipping ${rel}: not a regular file, directory or symlink`);
    return;
  }
  copyFileInto(dirFd, name, src, { mode, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000, owner: { uid, gid } }); // never writes through a symlink already there
}

type ArchiveKind = 'tar' | 'gzip' | 'zstd';

/** What ADD would unpack: a tar (ustar magic at 257), or a gzip/zstd stream whose content starts as a tar. */
export async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const head = await readHead(createReadStream(file, { end: 1023 }), 512 + 8);
  const isTar = (b: Buffer) => b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  if (isTar(head)) return 'tar';
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const inner = await readHead(decoded(file, zlib.createGunzip()), 512).catch(() => Buffer.alloc(0));
    return isTar(inner) ? 'gzip' : undefined;
  }
  if (head.readUInt32LE(0) === 0xfd2fb528) {
    const d = decompressor(MediaType.ociLayerZstd)!;
    const inner = await readHead(decoded(file, d), 512).catch(() => Buffer.alloc(0));
    d.destroy();
    return isTar(inner) ? 'zstd' : undefined;
  }
  return undefined;
}

/** `file` read through `decoder`; a read error reaches the decoder (and so its reader), never an unhandled 'error'. */
function decoded(file: string, decoder: Transform): Transform {
  pipeline(createReadStream(file), decoder, () => {});
  return decoder;
}

async function readHead(s: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of s) {
      parts.push(c as Buffer);
      got += (c as Buffer).length;
      if (got >= n) break;
    }
  } finally {
    s.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Unpacks into a scratch dir with the layer applier (secure paths, limits), then merges it into `dst`. */
async function extractArchive(file: string, kind: ArchiveKind, dstFd: number, req: CopyRequest): Promise<void> {
  const scratch = await fs.mkdtemp(path.join(req.tmpDir, 'add-'));
  try {
    const stream = kind === 'tar' ? createReadStream(file) : decoded(file, kind === 'gzip' ? zlib.createGunzip() : decompressor(MediaType.ociLayerZstd)!);
    try {
      await applyLayer(stream, scratch, { layerDigest: path.basename(file), ...(req.onWarning ? { onWarning: req.onWarning } : {}) });
    } catch (e) {
      throw copyError(req.where, `cannot unpack ${path.basename(file)}: ${(e as Error).message}`, e);
    }
    // Archives keep their owners and modes (Docker's ADD), unless --chown/--chmod say otherwise.
    copyDirContents(scratch, dstFd, '', {
      ...(req.owner ? { owner: req.owner } : {}),
      ...(req.chmod !== undefined ? { chmod: req.chmod } : {}),
      onWarning: req.onWarning ?? (() => {}),
    });
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
