// Applies an uncompressed layer tar to an empty directory, producing an overlay-ready lower dir: the bytes of the
// tar are hashed on the way (the diffID), every name is resolved inside the root (secure-path.ts), whiteouts become
// overlay whiteouts (char 0:0 for `.wh.NAME`, xattr `user.overlay.opaque=y` for `.wh..wh..opq`; we always mount
// with `userxattr`). Small files are written a few at a time on the libuv pool (unpack-queue.ts); anything that
// removes or links a path first settles those writes, so a queued write never lands on a path a later entry changed.
import { constants as fsc, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import { native, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/native.js';
import { Digester } from './digester.js';
import { entryComponents, resolveDirInRoot, resolveLinkTarget, UnsafePathError } from './secure-path.js';
import { resolveLimits, type UnpackLimits } from './unpack-limits.js';
import { UnpackQueue } from './unpack-queue.js';
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

export interface ApplyResult {
  /** sha256 of the uncompressed tar bytes. */
  diffID: string;
  entries: number;
  /** Bytes of file contents written. */
  bytes: number;
}

/** Files up to this size are read whole and written by the queue; larger ones stream in place. */
const queuedFileMax = 1 << 20;
const writeConcurrency = 8;

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

class Applier {
  private entries = 0;
  private bytes = 0;
  private readonly limits;
  private readonly queue = new UnpackQueue(writeConcurrency);
  /** Host paths being written by the queue. */
  private readonly pending = new Set<string>();
  /** Directory modes and mtimes, applied last (children change a dir's mtime; a 0500 dir must stay writable). */
  private readonly dirs = new Map<string, DirMeta>();
  /** Host paths where this layer put a whiteout: a directory later added there must be opaque. */
  private readonly whiteouts = new Set<string>();
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
  }

  async run(tar: Readable): Promise<ApplyResult> {
    const digester = new Digester();
    const extract = createExtract();
    let feedError: unknown;
    const feeding = pipeline(tar, digester, extract, this.opts.signal ? { signal: this.opts.signal } : {}).catch((e: unknown) => {
      feedError = e;
    });
    try {
      for await (const entry of extract as unknown as AsyncIterable<Entry>) await this.entry(entry);
      await this.queue.drain();
      await feeding;
      if (feedError !== undefined) throw feedError;
      await this.finishDirs();
    } catch (e) {
      extract.destroy();
      tar.destroy();
      await feeding;
      await this.queue.drain().catch(() => undefined); // settle writes before the caller removes root
      throw this.classify(e, feedError);
    }
    this.warnings();
    return { diffID: digester.digest(), entries: this.entries, bytes: this.bytes };
  }

  private classify(e: unknown, feedError: unknown): unknown {
    if (e instanceof S2IError) return e;
    if (this.opts.signal?.aborted) return this.opts.signal.reason ?? e;
    if ((e as Error | undefined)?.name === 'AbortError') return e;
    if (feedError instanceof S2IError) return feedError; // e.g. the compressed digest failed upstream
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

  private async apply(h: UnpackHeader, entry: Entry): Promise<void> {
    const comps = entryComponents(h.name);
    const base = comps[comps.length - 1];
    if (base === undefined) {
      if (h.type !== 'directory') throw new UnsafePathError('only a directory may name the layer root');
      await drain(entry);
      await this.chown((u, g) => fs.lchown(this.root, u, g), h);
      this.dirs.set(this.root, dirMeta(h));
      return;
    }
    if (base.startsWith(whiteoutPrefix)) {
      await drain(entry);
      return this.whiteout(comps, base);
    }
    const parent = await this.resolveParent(comps.slice(0, -1));
    const target = path.join(parent, base);
    if (this.pending.has(target)) await this.queue.drain();
    let existing = await lstatOrNull(target);
    if (existing && !(existing.isDirectory() && h.type === 'directory')) {
      await this.remove(target);
      existing = null;
    }

    switch (h.type) {
      case 'directory':
        await drain(entry);
        if (!existing) await fs.mkdir(target, { mode: 0o755 });
        await this.chown((u, g) => fs.lchown(target, u, g), h);
        this.setXattrs(target, h);
        if (this.whiteouts.has(target)) native().lsetxattr(target, overlayOpaqueXattr, Buffer.from('y'));
        this.dirs.set(target, dirMeta(h));
        break;
      case 'file':
      case 'contiguous-file':
        await this.file(target, h, entry);
        break;
      case 'symlink':
        await drain(entry);
        await fs.symlink(h.linkname ?? '', target);
        await this.chown((u, g) => fs.lchown(target, u, g), h);
        this.setXattrs(target, h);
        await fs.lutimes(target, mtimeOf(h), mtimeOf(h));
        break;
      case 'link': {
        await drain(entry);
        await this.queue.drain(); // the target may still be in flight
        const src = await resolveLinkTarget(this.root, entryComponents(h.linkname ?? ''));
        await fs.link(src, target);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(entry);
        await this.special(target, h);
        break;
      default:
        await drain(entry);
        this.unsupported.push(`${h.name} (${String(h.type)})`);
    }
    this.whiteouts.delete(target);
  }

  private resolveParent(comps: string[]): Promise<string> {
    return resolveDirInRoot(this.root, comps, { create: true, beforeCreate: () => this.queue.drain() }) as Promise<string>;
  }

  /** Removes what an earlier entry put at `target` (tar semantics: the later entry wins). */
  private async remove(target: string): Promise<void> {
    await this.queue.drain();
    await fs.rm(target, { recursive: true, force: true });
    const under = `${target}/`;
    for (const d of this.dirs.keys()) if (d === target || d.startsWith(under)) this.dirs.delete(d);
    for (const w of this.whiteouts) if (w.startsWith(under)) this.whiteouts.delete(w);
  }

  private async whiteout(comps: string[], base: string): Promise<void> {
    if (base === opaqueWhiteout) {
      const dir = (await this.resolveParent(comps.slice(0, -1))) as string;
      native().lsetxattr(dir, overlayOpaqueXattr, Buffer.from('y'));
      return;
    }
    if (base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) return; // AUFS metadata (.wh..wh.plnk): not content
    const name = base.slice(whiteoutPrefix.length);
    if (name === '') throw new UnsafePathError('a bare ".wh." whiteout names nothing');
    if (name === '.' || name === '..') throw new UnsafePathError(`whiteout of "${name}"`);
    const parent = await this.resolveParent(comps.slice(0, -1));
    const target = path.join(parent, name);
    if (this.pending.has(target)) await this.queue.drain();
    if (await lstatOrNull(target)) await this.remove(target);
    native().mknod(target, S_IFCHR, 0, 0);
    this.whiteouts.add(target);
  }

  private async file(target: string, h: UnpackHeader, entry: Entry): Promise<void> {
    const size = h.size ?? 0;
    if (this.bytes + size > this.limits.maxBytes) {
      throw new S2IError(
        'ERR_LAYER_TOO_LARGE',
        `layer ${this.opts.layerDigest} unpacks to more than ${this.limits.maxBytes} bytes (unpack limit, at ${JSON.stringify(h.name)}); raise maxBytes if the image is trusted`,
      );
    }
    this.bytes += size;
    if (size > queuedFileMax) return this.writeFile(target, h, entry);
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const data = Buffer.concat(chunks);
    this.pending.add(target);
    await this.queue.run(async () => {
      try {
        await this.writeFile(target, h, data);
      } finally {
        this.pending.delete(target);
      }
    });
  }

  private async writeFile(target: string, h: UnpackHeader, data: Buffer | Readable): Promise<void> {
    // O_EXCL|O_NOFOLLOW: never write through anything that appeared at the path (secure-path resolved the parent).
    const fh = await fs.open(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      if (Buffer.isBuffer(data)) await writeAll(fh, data);
      else for await (const c of data) await writeAll(fh, c as Buffer);
      await this.chown((u, g) => fh.chown(u, g), h); // before chmod: chown clears setuid/setgid
      await fh.chmod(modeOf(h));
      this.setXattrs(target, h); // after chown, which drops security.capability
      await fh.utimes(mtimeOf(h), mtimeOf(h));
    } finally {
      await fh.close();
    }
  }

  private async special(target: string, h: UnpackHeader): Promise<void> {
    const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
    try {
      native().mknod(target, kind | modeOf(h), h.devmajor ?? 0, h.devminor ?? 0);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (kind !== S_IFIFO && (code === 'EPERM' || code === 'EACCES')) {
        this.skippedDevices.push(h.name);
        return;
      }
      throw e;
    }
    await this.chown((u, g) => fs.lchown(target, u, g), h);
    await fs.chmod(target, modeOf(h)); // mknod applies the umask; we created this node just now
    this.setXattrs(target, h);
    await fs.lutimes(target, mtimeOf(h), mtimeOf(h));
  }

  /** lchown, tolerating IDs this (namespaced) root cannot map: EINVAL outside the user namespace's range. */
  private async chown(fn: (uid: number, gid: number) => Promise<void>, h: UnpackHeader): Promise<void> {
    if (!this.canChown) return;
    const uid = paxInt(h, 'uid') ?? h.uid ?? 0;
    const gid = paxInt(h, 'gid') ?? h.gid ?? 0;
    try {
      await fn(uid, gid);
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

  private async finishDirs(): Promise<void> {
    // Deepest first; a path is re-checked to be a real directory with no symlink on the way before chmod.
    const list = [...this.dirs].sort((a, b) => b[0].length - a[0].length);
    for (const [p, m] of list) {
      if ((await fs.realpath(p).catch(() => null)) !== p) continue;
      await fs.chmod(p, m.mode);
      await fs.utimes(p, m.mtime, m.mtime);
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

async function drain(entry: Readable): Promise<void> {
  for await (const _ of entry) {
    /* discard */
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
