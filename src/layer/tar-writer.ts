// Turns a directory tree into the bytes of a deterministic tar, lazily, as an async sequence of chunks.
// Order is the walk's (see walk.ts). Hardlinks are found by (dev, ino). With `overlayWhiteouts`, overlayfs
// whiteouts become OCI whiteout files: a whiteout takes the place of the name it hides, and the opaque marker
// `.wh..wh..opq` comes right after its directory's own entry, before any of its contents
// (OCI image-spec layer.md, "Whiteouts").
import { open, read as fsRead, close as fsClose, constants as fsc } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { S2IError } from '../errors.js';
import { walk, type WalkNode, type WalkOptions } from './walk.js';
import { isWhiteoutDevice, readXattrs } from './walk-overlay.js';
import { BLOCK, encodeHeader, endOfArchive, padding, type TarEntry } from './tar-writer-header.js';

const openP = promisify(open);
const readP = promisify(fsRead);
const closeP = promisify(fsClose);

export interface TarWriterOptions extends WalkOptions {
  overlayWhiteouts: boolean;
  mtimeClamp?: number;
}

export interface TarWriterStats {
  /** Tar entries written (generated whiteouts included). */
  entries: number;
}

// Headers and small files are gathered into chunks of about this size: fewer, larger writes downstream.
const CHUNK = 256 * 1024;
// Files up to this size are read whole into one buffer; larger ones in READ_SIZE pieces.
const SMALL_FILE = 256 * 1024;
const READ_SIZE = 1024 * 1024;

const WHITEOUT_PREFIX = Buffer.from('.wh.');
const OPAQUE_NAME = Buffer.from('.wh..wh..opq');
const SLASH = Buffer.from('/');

/** One node's share of the tar: header(s) and small content, ready later; a large file's content streams
 *  when its turn comes. */
interface Piece {
  ready: Promise<Buffer[]>;
  large?: { node: WalkNode; size: number };
  bytes: number;
}

// Small files are read ahead, in parallel on the libuv pool, up to this many pieces / bytes in flight:
// per-file latency (open, read, close) dominates trees of many small files.
const PREFETCH_PIECES = 64;
const PREFETCH_BYTES = 8 * 1024 * 1024;

/** The tar of the tree below `root`, in chunks; `stats` is filled in as it goes. */
export async function* tarChunks(root: string, opts: TarWriterOptions, stats: TarWriterStats): AsyncGenerator<Buffer> {
  const links = new Map<string, Buffer>();
  const queue: Piece[] = [];
  let queuedBytes = 0;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const take = (): Buffer => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    return out;
  };
  // Emits the oldest piece, in order.
  async function* emit(): AsyncGenerator<Buffer> {
    const piece = queue.shift()!;
    queuedBytes -= piece.bytes;
    for (const b of await piece.ready) {
      pending.push(b);
      pendingLen += b.length;
    }
    if (piece.large) {
      if (pendingLen > 0) yield take();
      yield* readLarge(piece.large.node, piece.large.size, opts.signal);
    }
    if (pendingLen >= CHUNK) yield take();
  }
  const clamp = (t: number): number => (opts.mtimeClamp !== undefined && t > opts.mtimeClamp ? opts.mtimeClamp : t);

  for await (const node of walk(root, opts)) {
    // Everything order-dependent (hardlink map, entry count) happens here, synchronously, in walk order.
    const piece = describe(node, clamp(seconds(node)), opts, links, stats);
    if (!piece) continue;
    piece.ready.catch(() => {}); // awaited in order by emit(); this only avoids an "unhandled" report meanwhile
    queue.push(piece);
    queuedBytes += piece.bytes;
    while (queue.length >= PREFETCH_PIECES || queuedBytes >= PREFETCH_BYTES) yield* emit();
  }
  while (queue.length > 0) yield* emit();
  pending.push(endOfArchive());
  pendingLen += BLOCK * 2;
  yield take();
}

function describe(node: WalkNode, mtime: number, opts: TarWriterOptions, links: Map<string, Buffer>, stats: TarWriterStats): Piece | null {
  if (opts.overlayWhiteouts && isWhiteoutDevice(node)) {
    stats.entries++;
    const wh = encodeHeader(markerEntry(siblingName(node.rel, WHITEOUT_PREFIX), opts.mtimeClamp ?? mtime));
    return { ready: Promise.resolve([wh]), bytes: 0 };
  }
  // tar cannot represent a socket (GNU tar skips them too); a socket is never image content.
  if (node.st.isSocket()) return null;

  const x = readXattrs(node, opts.overlayWhiteouts);
  const entry = baseEntry(node, mtime, x.keep);
  const linkKey = !node.st.isDirectory() && node.st.nlink > 1n ? `${node.st.dev}:${node.st.ino}` : undefined;
  const first = linkKey === undefined ? undefined : links.get(linkKey);
  if (first) {
    entry.type = 'hardlink';
    entry.linkname = first;
    entry.size = 0;
    delete entry.xattrs; // they belong to the inode, already recorded with the first name
  } else if (linkKey !== undefined) links.set(linkKey, entry.name);
  stats.entries++;
  const after: Buffer[] = [];
  if (x.opaque) {
    after.push(encodeHeader(markerEntry(Buffer.concat([node.rel, SLASH, OPAQUE_NAME]), opts.mtimeClamp ?? mtime)));
    stats.entries++;
  }

  if (entry.type === 'symlink') {
    const ready = readlink(node.abs, { encoding: 'buffer' }).then((target) => {
      entry.linkname = target;
      return [encodeHeader(entry)];
    });
    return { ready, bytes: 0 };
  }
  if (entry.type === 'file' && entry.size > SMALL_FILE) {
    return { ready: Promise.resolve([encodeHeader(entry)]), large: { node, size: entry.size }, bytes: 0 };
  }
  if (entry.type === 'file' && entry.size > 0) {
    const header = encodeHeader(entry);
    return { ready: readSmall(node, entry.size).then((body) => [header, body]), bytes: entry.size };
  }
  return { ready: Promise.resolve([encodeHeader(entry), ...after]), bytes: 0 };
}

function baseEntry(node: WalkNode, mtime: number, xattrs: Array<[string, Buffer]>): TarEntry {
  const st = node.st;
  const entry: TarEntry = {
    name: node.rel,
    type: 'file',
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    mtime,
  };
  if (xattrs.length > 0) entry.xattrs = xattrs;
  if (st.isFile()) entry.size = Number(st.size);
  else if (st.isDirectory()) {
    entry.type = 'dir';
    entry.name = Buffer.concat([node.rel, SLASH]);
  } else if (st.isSymbolicLink()) entry.type = 'symlink';
  else if (st.isFIFO()) entry.type = 'fifo';
  else if (st.isCharacterDevice() || st.isBlockDevice()) {
    entry.type = st.isCharacterDevice() ? 'char' : 'block';
    // Linux dev_t encoding (glibc gnu_dev_major/gnu_dev_minor).
    const rdev = st.rdev;
    entry.devmajor = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    entry.devminor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  }
  return entry;
}

/** A generated whiteout or opaque marker: an empty regular file owned by root (as containerd writes them). */
function markerEntry(name: Buffer, mtime: number): TarEntry {
  return { name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime };
}

/** `dir/NAME` → `dir/<prefix>NAME`. */
function siblingName(rel: Buffer, prefix: Buffer): Buffer {
  const slash = rel.lastIndexOf(0x2f);
  return Buffer.concat([rel.subarray(0, slash + 1), prefix, rel.subarray(slash + 1)]);
}

function seconds(node: WalkNode): number {
  const ns = node.st.mtimeNs;
  const s = ns / 1_000_000_000n;
  // BigInt division truncates toward zero; tar wants the floor for pre-1970 times.
  return Number(ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s);
}

async function openFile(node: WalkNode): Promise<number> {
  // O_NOFOLLOW: never follow a symlink swapped in after the walk saw a regular file.
  return await openP(node.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
}

function changed(node: WalkNode): S2IError {
  return new S2IError('ERR_LAYER_SOURCE_CHANGED',
    `${node.rel.toString('utf8')} changed size while the layer was written; make sure nothing writes to the directory during the commit`);
}

/** A small file's content plus its padding, in one buffer. */
async function readSmall(node: WalkNode, size: number): Promise<Buffer> {
  const pad = padding(size);
  const buf = Buffer.allocUnsafe(size + pad);
  buf.fill(0, size);
  const fd = await openFile(node);
  try {
    let off = 0;
    while (off < size) {
      const { bytesRead } = await readP(fd, buf, off, size - off, off);
      if (bytesRead === 0) throw changed(node);
      off += bytesRead;
    }
  } finally {
    await closeP(fd);
  }
  return buf;
}

async function* readLarge(node: WalkNode, size: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const fd = await openFile(node);
  try {
    let off = 0;
    while (off < size) {
      signal?.throwIfAborted();
      // A fresh buffer per chunk: downstream may still hold the previous one.
      const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, size - off));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await readP(fd, buf, got, buf.length - got, off + got);
        if (bytesRead === 0) throw changed(node);
        got += bytesRead;
      }
      off += got;
      yield buf;
    }
  } finally {
    await closeP(fd);
  }
  const pad = padding(size);
  if (pad > 0) yield Buffer.alloc(pad);
}
