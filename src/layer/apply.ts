// Applies an uncompressed layer tar to an empty directory, producing an overlay-ready lower dir: the bytes of the
// tar are hashed on the way (the diffID), every name is resolved inside the root (secure-path.ts), whiteouts become
// overlay whiteouts (char 0:0 for `.wh.NAME`, xattr `user.overlay.opaque=y` for `.wh..wh..opq`; we always mount
// with `userxattr`). The content of every regular file is hashed as it is written and recorded by inode, so the
// caller can digest the tree (store/tree-digest.ts) without reading the files again.
//
// File system calls are synchronous, on the main thread. Creating a small file takes ~10 calls of a few µs
// each; through the libuv pool every one of them is a round trip that waits behind the decompression jobs on the
// same pool (20,000 files: 0.5 s synchronous, 2.7-3.1 s through fs.promises with 4-64 in flight). The event loop
// still turns between tar entries and between the chunks of a file: the tar parser is a stream, and awaiting the
// next entry or chunk yields. Large files are written chunk by chunk as they arrive, never held whole.
//
// Nothing is lstat'ed before it is created: creations use O_EXCL / mkdir / symlink / link / mknod, which fail with
// EEXIST (never following a symlink at the last component) when an earlier entry left something there; only then
// is it looked at and replaced (tar semantics: the later entry wins; a directory over a directory is kept).
// Why one file of ~450 lines: every entry type's handling shares the in-root resolver state and the hashing of
// the same pass; the tar header checks (tar-header-check.ts) and path rules (secure-path.ts) are apart.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import { native, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/native.js';
import { Digester } from './digester.js';
import { DirResolver, entryComponents, resolveLinkTargetSync, UnsafePathError } from './secure-path.js';
import { TarHeaderCheck, TarHeaderError } from './tar-header-check.js';
import { resolveLimits, type UnpackLimits } from './unpack-limits.js';
import { createExtract, entryXattrs, type UnpackHeader } from './unpack-tar.js';

export const whiteoutPrefix = '.wh.';
export const opaqueWhiteout = '.wh..wh..opq';
/** The opaque marker for overlay mounted with `userxattr` (Linux Documentation/filesystems/overlayfs.rst). */
export const overlayOpaqueXattr = 'user.overlay.opaque';

export interface ApplyOptions {
  /** Digest of the layer (compressed blob) named in errors. */
  layerDigest: string;
  limits?: UnpackLimits;
  onWarning?: (msg: string) => void;
  signal?: AbortSignal;
}

/** The content of a regular file as it was written. */
export interface WrittenFile {
  size: bigint;
  /** sha256 of the content, hex. */
  sha256: string;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar bytes. */
  diffID: string;
  entries: number;
  /** Bytes of file contents written. */
  bytes: number;
  /**
   * Every regular file this layer wrote, by inode number (the root is one file system): a file that replaced
   * another has its own record; hard links share their inode's. Lets a tree digest skip re-reading the files.
   */
  files: ReadonlyMap<bigint, WrittenFile>;
}

/**
 * Applies an UNCOMPRESSED tar stream to `root` (an empty dir). Escapes → ERR_UNSAFE_PATH; limits →
 * ERR_LAYER_TOO_LARGE; a broken tar → ERR_LAYER_CORRUPT; a failed filesystem call → ERR_LAYER_APPLY. On error the
 * caller removes `root` (it holds a partial layer).
 */
export async function applyLayer(tar: Readable, root: string, opts: ApplyOptions): Promise<ApplyResult> {
  const applier = new Applier(await fs.realpath(root), opts);
  return applier.run(tar);
}

interface DirMeta {
  mode: number;
  mtime: number;
}

type Entry = Readable & { header: UnpackHeader };

const createFlags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

class Applier {
  private entries = 0;
  private bytes = 0;
  private readonly limits;
  /** Entry paths → host dirs already resolved: the parent of most entries is a map lookup. */
  private readonly resolver: DirResolver;
  /** Directory modes and mtimes, applied last (children change a dir's mtime; a 0500 dir must stay writable). */
  private readonly dirs = new Map<string, DirMeta>();
  /** Host paths where this layer put a whiteout: a directory later added there must be opaque. */
  private readonly whiteouts = new Set<string>();
  private readonly files = new Map<bigint, WrittenFile>();
  private readonly canChown = process.geteuid?.() === 0;
  private chownFailures = 0;
  private chownExample = '';
  private readonly skippedDevices: string[] = [];
  private readonly xattrFailures: string[] = [];
  private readonly refusedXattrs: string[] = [];
  private readonly unsupported: string[] = [];

  constructor(
    private readonly root: string,
    private readonly opts: ApplyOptions,
  ) {
    this.limits = resolveLimits(opts.limits);
    this.resolver = new DirResolver(root);
  }

  async run(tar: Readable): Promise<ApplyResult> {
    const digester = new Digester();
    const extract = createExtract();
    let feedError: unknown;
    // The header check sits before tar-stream, which would take a negative or non-octal size on trust (and wait
    // forever for the data of such an entry).
    const feeding = pipeline(tar, digester, new TarHeaderCheck(), extract, this.opts.signal ? { signal: this.opts.signal } : {}).catch((e: unknown) => {
      feedError = e;
    });
    try {
      for await (const entry of extract as unknown as AsyncIterable<Entry>) await this.entry(entry);
      await feeding;
      if (feedError !== undefined) throw feedError;
      this.finishDirs();
    } catch (e) {
      extract.destroy();
      tar.destroy();
      await feeding;
      throw this.classify(e, feedError);
    }
    this.warnings();
    return { diffID: digester.digest(), entries: this.entries, bytes: this.bytes, files: this.files };
  }

  private classify(e: unknown, feedError: unknown): unknown {
    if (e instanceof S2IError) return e;
    if (this.opts.signal?.aborted) return this.opts.signal.reason ?? e;
    if ((e as Error | undefined)?.name === 'AbortError') return e;
    if (feedError instanceof S2IError) return feedError; // e.g. the compressed digest failed upstream
    const bad = feedError instanceof TarHeaderError ? feedError : e instanceof TarHeaderError ? e : undefined;
    if (bad) {
      return new S2IError('ERR_LAYER_CORRUPT', `layer ${this.opts.layerDigest} is not a valid tar stream (${bad.message}); the image is malformed or malicious`, { cause: bad });
    }
    const msg = (e as Error | undefined)?.message ?? String(e);
    return new S2IError('ERR_LAYER_CORRUPT', `layer ${this.opts.layerDigest} is not a valid tar stream (${msg}); pull it again or fix the image`, {
      cause: e,
    });
  }

  private async entry(entry: Entry): Promise<void> {
    const h = entry.header;
    if (++this.entries > this.limits.maxEntries) {
      throw new S2IError(
        'ERR_LAYER_TOO_LARGE',
        `layer ${this.opts.layerDigest} has more than ${this.limits.maxEntries} entries (unpack limit); raise maxEntries if the image is trusted`,
      );
    }
    this.opts.signal?.throwIfAborted();
    try {
      await this.apply(h, entry);
    } catch (e) {
      if (e instanceof UnsafePathError) {
        throw new S2IError(
          'ERR_UNSAFE_PATH',
          `layer ${this.opts.layerDigest}: refusing entry ${JSON.stringify(h.name)}: ${e.message}; the image is malformed or malicious`,
          { cause: e },
        );
      }
      if (e instanceof S2IError || typeof (e as NodeJS.ErrnoException).syscall !== 'string') throw e;
      throw new S2IError('ERR_LAYER_APPLY', `layer ${this.opts.layerDigest}: cannot apply entry ${JSON.stringify(h.name)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** The host path entry path `comps` names: its parent resolved in-root (created as needed), then its name. */
  private target(comps: readonly string[]): string {
    return `${this.resolver.resolve(comps.slice(0, -1))}/${comps[comps.length - 1]}`;
  }

  private async apply(h: UnpackHeader, entry: Entry): Promise<void> {
    const comps = entryComponents(h.name);
    const base = comps[comps.length - 1];
    if (base === undefined) {
      if (h.type !== 'directory') throw new UnsafePathError('only a directory may name the layer root');
      await drain(entry);
      this.chown((u, g) => lchownSync(this.root, u, g), h);
      this.dirs.set(this.root, dirMeta(h));
      return;
    }
    if (base.startsWith(whiteoutPrefix)) {
      await drain(entry);
      return this.whiteout(comps, base);
    }
    if (h.type === 'file' || h.type === 'contiguous-file') {
      this.whiteouts.delete(await this.file(comps, h, entry));
      return;
    }
    await drain(entry);
    const target = this.target(comps);
    switch (h.type) {
      case 'directory':
        this.replace(target, () => mkdirSync(target, { mode: 0o755 }), true);
        this.chown((u, g) => lchownSync(target, u, g), h);
        this.setXattrs(target, h);
        if (this.whiteouts.has(target)) native().lsetxattr(target, overlayOpaqueXattr, Buffer.from('y'));
        this.dirs.set(target, dirMeta(h));
        this.resolver.remember(comps, target);
        break;
      case 'symlink':
        this.replace(target, () => symlinkSync(h.linkname ?? '', target));
        this.chown((u, g) => lchownSync(target, u, g), h);
        this.setXattrs(target, h);
        lutimesSync(target, mtimeOf(h), mtimeOf(h));
        break;
      case 'link': {
        const linkComps = entryComponents(h.linkname ?? '');
        // Resolved again after a replacement: removing what was at `target` may have removed the link's target.
        this.replace(target, () => linkSync(resolveLinkTargetSync(this.root, linkComps, this.resolver), target));
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        this.special(target, h);
        break;
      default:
        this.unsupported.push(`${h.name} (${String(h.type)})`);
    }
    this.whiteouts.delete(target);
  }

  /**
   * Runs `make` (a creation that fails with EEXIST when something is at `target`); on EEXIST removes what is
   * there and runs it again, except that with `keepDir` an existing directory is kept. The only lstat is here.
   */
  private replace(target: string, make: () => void, keepDir = false): void {
    try {
      make();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = lstatSync(target);
    if (keepDir && st.isDirectory()) return;
    this.remove(target, st.isDirectory() || st.isSymbolicLink());
    make();
  }

  /** Removes what an earlier entry put at `target` (tar semantics: the later entry wins). */
  private remove(target: string, dirOrSymlink: boolean): void {
    rmSync(target, { recursive: true, force: true });
    if (!dirOrSymlink) return; // a file, device or fifo: no resolution went through it, nothing was under it
    this.resolver.forget();
    const under = `${target}/`;
    for (const d of this.dirs.keys()) if (d === target || d.startsWith(under)) this.dirs.delete(d);
    for (const w of this.whiteouts) if (w.startsWith(under)) this.whiteouts.delete(w);
  }

  private whiteout(comps: string[], base: string): void {
    if (base === opaqueWhiteout) {
      native().lsetxattr(this.resolver.resolve(comps.slice(0, -1)), overlayOpaqueXattr, Buffer.from('y'));
      return;
    }
    if (base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) return; // AUFS metadata (.wh..wh.plnk): not content
    const name = base.slice(whiteoutPrefix.length);
    if (name === '') throw new UnsafePathError('a bare ".wh." whiteout names nothing');
    if (name === '.' || name === '..') throw new UnsafePathError(`whiteout of "${name}"`);
    const target = this.target([...comps.slice(0, -1), name]);
    this.replace(target, () => native().mknod(target, S_IFCHR, 0, 0));
    this.whiteouts.add(target);
  }

  /** Writes a regular file, hashing its content on the way; returns its host path. */
  private async file(comps: readonly string[], h: UnpackHeader, entry: Entry): Promise<string> {
    const size = h.size ?? 0;
    if (this.bytes + size > this.limits.maxBytes) {
      throw new S2IError(
        'ERR_LAYER_TOO_LARGE',
        `layer ${this.opts.layerDigest} unpacks to more than ${this.limits.maxBytes} bytes (unpack limit, at ${JSON.stringify(h.name)}); raise maxBytes if the image is trusted`,
      );
    }
    this.bytes += size;
    const target = this.target(comps);
    // O_EXCL|O_NOFOLLOW: never write through anything that appeared at the path (secure-path resolved the parent).
    let fd = -1;
    this.replace(target, () => {
      fd = openSync(target, createFlags, 0o600);
    });
    try {
      const hash = createHash('sha256');
      if (size > 0) {
        for await (const c of entry) {
          writeAll(fd, c as Buffer);
          hash.update(c as Buffer);
        }
      }
      this.chown((u, g) => fchownSync(fd, u, g), h); // before chmod: chown clears setuid/setgid
      fchmodSync(fd, modeOf(h));
      this.setXattrs(target, h); // after chown, which drops security.capability
      futimesSync(fd, mtimeOf(h), mtimeOf(h));
      const st = fstatSync(fd, { bigint: true });
      this.files.set(st.ino, { size: st.size, sha256: hash.digest('hex') });
    } finally {
      closeSync(fd);
    }
    return target;
  }

  private special(target: string, h: UnpackHeader): void {
    const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
    try {
      this.replace(target, () => native().mknod(target, kind | modeOf(h), h.devmajor ?? 0, h.devminor ?? 0));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (kind !== S_IFIFO && (code === 'EPERM' || code === 'EACCES')) {
        this.skippedDevices.push(h.name);
        return;
      }
      throw e;
    }
    this.chown((u, g) => lchownSync(target, u, g), h);
    chmodSync(target, modeOf(h)); // mknod applies the umask; we created this node just now (never a symlink)
    this.setXattrs(target, h);
    lutimesSync(target, mtimeOf(h), mtimeOf(h));
  }

  /** chown, tolerating IDs this (namespaced) root cannot map: EINVAL outside the user namespace's range. */
  private chown(fn: (uid: number, gid: number) => void, h: UnpackHeader): void {
    if (!this.canChown) return;
    const uid = paxInt(h, 'uid') ?? h.uid ?? 0;
    const gid = paxInt(h, 'gid') ?? h.gid ?? 0;
    try {
      fn(uid, gid);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'EPERM') throw e;
      if (this.chownFailures++ === 0) this.chownExample = `${uid}:${gid}`;
    }
  }

  private setXattrs(target: string, h: UnpackHeader): void {
    for (const [name, value] of entryXattrs(h)) {
      // A layer must not forge overlay metadata (opaque, redirect, metacopy): that is ours to write.
      if (name.startsWith('user.overlay.') || name.startsWith('trusted.overlay.')) {
        this.refusedXattrs.push(`${h.name} ${name}`);
        continue;
      }
      try {
        native().lsetxattr(target, name, value);
      } catch {
        this.xattrFailures.push(`${h.name} ${name}`);
      }
    }
  }

  private finishDirs(): void {
    // Deepest first; a path is re-checked to be a real directory with no symlink on the way before chmod.
    const list = [...this.dirs].sort((a, b) => b[0].length - a[0].length);
    for (const [p, m] of list) {
      if (realpathOrNull(p) !== p) continue;
      chmodSync(p, m.mode);
      utimesSync(p, m.mtime, m.mtime);
    }
  }

  private warnings(): void {
    const warn = this.opts.onWarning;
    if (!warn) return;
    const layer = this.opts.layerDigest;
    const list = (xs: string[]): string => xs.slice(0, 20).join(', ') + (xs.length > 20 ? `, … (${xs.length} in all)` : '');
    if (this.chownFailures > 0) {
      warn(
        `layer ${layer}: could not set the owner of ${this.chownFailures} entries (e.g. ${this.chownExample}): IDs outside this user namespace's mapped range keep the unpacking user as owner`,
      );
    }
    if (this.skippedDevices.length > 0) {
      warn(`layer ${layer}: skipped ${this.skippedDevices.length} device nodes (creating devices needs real root): ${list(this.skippedDevices)}`);
    }
    if (this.xattrFailures.length > 0) {
      warn(`layer ${layer}: could not set ${this.xattrFailures.length} extended attributes: ${list(this.xattrFailures)}`);
    }
    if (this.refusedXattrs.length > 0) {
      warn(`layer ${layer}: ignored ${this.refusedXattrs.length} overlay extended attributes set by the layer: ${list(this.refusedXattrs)}`);
    }
    if (this.unsupported.length > 0) {
      warn(`layer ${layer}: skipped ${this.unsupported.length} entries of unsupported tar types: ${list(this.unsupported)}`);
    }
  }
}

function dirMeta(h: UnpackHeader): DirMeta {
  return { mode: modeOf(h), mtime: mtimeOf(h) };
}

function modeOf(h: UnpackHeader): number {
  return (h.mode ?? 0o644) & 0o7777;
}

function paxInt(h: UnpackHeader, key: string): number | undefined {
  const v = h.pax?.[key];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Seconds since the epoch; PAX `mtime` keeps sub-second precision. */
function mtimeOf(h: UnpackHeader): number {
  const pax = h.pax?.mtime;
  if (pax !== undefined && /^-?\d+(\.\d+)?$/.test(pax)) return Number(pax);
  const t = h.mtime?.getTime();
  return t === undefined || Number.isNaN(t) ? 0 : t / 1000;
}

/** Consumes an entry's data. tar-stream never gives data to an empty entry or a directory: nothing to wait for. */
async function drain(entry: Entry): Promise<void> {
  if (!entry.header.size || entry.header.type === 'directory') return;
  for await (const _ of entry) {
    /* discard */
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function realpathOrNull(p: string): string | null {
  try {
    return realpathSync.native(p);
  } catch {
    return null;
  }
}
