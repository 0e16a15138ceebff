// Turns a directory tree into the bytes of a deterministic tar, lazily, as an async sequence of chunks.
// Order is the walk's (see walk.ts). Hardlinks are found by (dev, ino). With `overlayWhiteouts`, overlayfs
// whiteouts become OCI whiteout files: a whiteout takes the place of the name it hides, and the opaque marker
// `.wh..wh..opq` comes right after its directory's own entry, before any of its contents
// (OCI image-spec layer.md, "Whiteouts").
//
// Headers and file contents are written straight into fixed-size chunk buffers (file data is read by
// pread(2) directly into the chunk: no per-file buffer, no concatenation), and each full chunk is handed on.
// The system calls are synchronous for the reason given in walk.ts: the tree is in the page cache, and the
// libuv pool is busy compressing. Between chunks the generator yields, so the event loop runs.
import { openSync, readSync, closeSync, readlinkSync, constants as fsc } from 'node:fs';
import { S2IError } from '../errors.js';
import { walk, type WalkNode, type WalkOptions } from './walk.js';
import { isWhiteoutDevice, readXattrs } from './walk-overlay.js';
import { encodeHeader, endOfArchive, padding, type TarEntry } from './tar-writer-header.js';
import type { BufferPool } from './buffer-pool.js';

export interface TarWriterOptions extends WalkOptions {
  overlayWhiteouts: boolean;
  mtimeClamp?: number;
  /** Where the chunks come from (their size is the pool's); default fresh `TAR_CHUNK` buffers. A consumer that
   *  knows when it is done with a chunk gives it back to the pool. */
  pool?: BufferPool;
  /** Write these nodes, in this order, instead of walking `root` (`exclude` then does not apply): a snapshot
   *  diff's changes (snapshot-write.ts). */
  nodes?: Iterable<WalkNode> | AsyncIterable<WalkNode>;
  /** xattrs never recorded (by name). */
  dropXattrs?: ReadonlySet<string>;
}

export interface TarWriterStats {
  /** Tar entries written (generated whiteouts included). */
  entries: number;
}

/** Size of the chunks handed downstream. Large enough that per-chunk costs (stream bookkeeping, a hash
 *  update call, a trip through the event loop) vanish; small enough to stay cache-friendly and bounded. */
export const TAR_CHUNK = 256 * 1024;

const WHITEOUT_PREFIX = Buffer.from('.wh.');
const OPAQUE_NAME = Buffer.from('.wh..wh..opq');
const SLASH = Buffer.from('/');

/** Fills fixed-size buffers; a full one is taken and a new one started (downstream keeps what it gets). */
class Chunker {
  private buf: Buffer;
  used = 0;
  readonly full: Buffer[] = [];

  constructor(private readonly pool: BufferPool | undefined) {
    this.buf = this.fresh();
  }

  private fresh(): Buffer {
    return this.pool ? this.pool.acquire() : Buffer.allocUnsafe(TAR_CHUNK);
  }

  room(): number {
    return this.buf.length - this.used;
  }

  /** The buffer and offset to write at next, with at least one free byte. */
  target(): { buf: Buffer; off: number } {
    if (this.room() === 0) this.rotate();
    return { buf: this.buf, off: this.used };
  }

  advance(n: number): void {
    this.used += n;
    if (this.room() === 0) this.rotate();
  }

  put(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      const t = this.target();
      const n = b.copy(t.buf, t.off, off);
      off += n;
      this.advance(n);
    }
  }

  zeros(n: number): void {
    while (n > 0) {
      const t = this.target();
      const k = Math.min(n, this.room());
      t.buf.fill(0, t.off, t.off + k);
      n -= k;
      this.advance(k);
    }
  }

  /** Hands over the partly filled buffer too (end of archive). */
  flush(): void {
    if (this.used > 0) this.rotate();
  }

  private rotate(): void {
    this.full.push(this.used === this.buf.length ? this.buf : this.buf.subarray(0, this.used));
    this.buf = this.fresh();
    this.used = 0;
  }
}

/** The tar of the tree below `root`, in chunks; `stats` is filled in as it goes. */
export async function* tarChunks(root: string, opts: TarWriterOptions, stats: TarWriterStats): AsyncGenerator<Buffer> {
  const links = new Map<string, Buffer>();
  const out = new Chunker(opts.pool);
  const clamp = (t: number): number => (opts.mtimeClamp !== undefined && t > opts.mtimeClamp ? opts.mtimeClamp : t);
  const one = function* (node: WalkNode): Generator<Buffer> {
    // A large file's chunks are handed on as they fill (writeNode yields), so memory never holds a whole file.
    yield* writeNode(node, clamp(node.st.mtime), opts, links, stats, out);
    while (out.full.length > 0) yield out.full.shift()!;
  };
  const nodes = opts.nodes ?? walk(root, opts);
  // Nodes given as they are found (snapshot-write.ts) are awaited; a walk's, taken as they come.
  if (Symbol.asyncIterator in nodes) for await (const node of nodes) yield* one(node);
  else for (const node of nodes) yield* one(node);
  out.put(endOfArchive());
  out.flush();
  while (out.full.length > 0) yield out.full.shift()!;
}

function* writeNode(node: WalkNode, mtime: number, opts: TarWriterOptions, links: Map<string, Buffer>, stats: TarWriterStats, out: Chunker): Generator<Buffer> {
  if (node.whiteout === true || (opts.overlayWhiteouts && isWhiteoutDevice(node))) {
    stats.entries++;
    out.put(encodeHeader(markerEntry(siblingName(node.rel, WHITEOUT_PREFIX), opts.mtimeClamp ?? mtime)));
    return;
  }
  // tar cannot represent a socket (GNU tar skips them too); a socket is never image content.
  if (node.st.type === 'socket') return;

  const x = readXattrs(node, opts.overlayWhiteouts);
  if (opts.dropXattrs) x.keep = x.keep.filter(([name]) => !opts.dropXattrs!.has(name));
  const entry = baseEntry(node, mtime, x.keep);
  const linkKey = node.st.inode !== '' ? node.st.inode : undefined;
  const first = linkKey === undefined ? undefined : links.get(linkKey);
  if (first) {
    entry.type = 'hardlink';
    entry.linkname = first;
    entry.size = 0;
    delete entry.xattrs; // they belong to the inode, already recorded with the first name
  } else if (linkKey !== undefined) links.set(linkKey, entry.name);
  stats.entries++;

  if (entry.type === 'symlink') entry.linkname = readlinkSync(node.abs, { encoding: 'buffer' });
  if (entry.type === 'file' && entry.size > 0) {
    // Opened before the header is written, so a file that cannot be read fails before any of its bytes.
    const fd = openSync(node.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      out.put(encodeHeader(entry));
      yield* copyContent(fd, node, entry.size, out, opts.signal);
    } finally {
      closeSync(fd);
    }
    out.zeros(padding(entry.size));
  } else out.put(encodeHeader(entry));
  if (x.opaque) {
    out.put(encodeHeader(markerEntry(Buffer.concat([node.rel, SLASH, OPAQUE_NAME]), opts.mtimeClamp ?? mtime)));
    stats.entries++;
  }
}

/** Exactly `size` bytes of the file, read straight into the output chunks. A file that grew is cut at its
 *  lstat size; one that shrank fails. */
function* copyContent(fd: number, node: WalkNode, size: number, out: Chunker, signal: AbortSignal | undefined): Generator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const t = out.target();
    const want = Math.min(size - pos, out.room());
    const n = readSync(fd, t.buf, t.off, want, pos);
    if (n === 0) throw changed(node);
    pos += n;
    out.advance(n);
    if (out.full.length > 0) {
      signal?.throwIfAborted();
      while (out.full.length > 0) yield out.full.shift()!;
    }
  }
}

function baseEntry(node: WalkNode, mtime: number, xattrs: Array<[string, Buffer]>): TarEntry {
  const st = node.st;
  const entry: TarEntry = { name: node.rel, type: 'file', mode: st.mode, uid: st.uid, gid: st.gid, size: 0, mtime };
  if (xattrs.length > 0) entry.xattrs = xattrs;
  switch (st.type) {
    case 'file':
      entry.size = st.size;
      break;
    case 'dir':
      entry.type = 'dir';
      entry.name = Buffer.concat([node.rel, SLASH]);
      break;
    case 'symlink':
    case 'fifo':
      entry.type = st.type;
      break;
    case 'char':
    case 'block':
      entry.type = st.type;
      entry.devmajor = st.devMajor;
      entry.devminor = st.devMinor;
      break;
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


function changed(node: WalkNode): S2IError {
  return new S2IError('ERR_LAYER_SOURCE_CHANGED',
    `${node.rel.toString('utf8')} changed size while the layer was written; make sure nothing writes to the directory during the commit`);
}
