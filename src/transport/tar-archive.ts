// Reading and writing the tar files behind oci-archive: and docker-archive:. Reading extracts regular files to a
// private temp dir, hashing each on the way (never trusting names: an entry becomes a numbered file, the caller
// maps archive names to those). Writing packs files in a fixed order with fixed metadata, into a temp file that
// is renamed over the target when complete.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { S2IError } from '../errors.js';
import { TarHeaderCheck } from '../layer/tar-header-check.js';
import { openInputFile } from '../sys/input-file.js';

export interface ArchiveEntry {
  /** Normalised archive name: no leading "./" or "/", no "..". */
  name: string;
  file: string;
  digest: string;
  size: number;
}

/** Archive names are data: normalise, and refuse anything that is not a plain relative path. */
export function normalizeArchiveName(name: string): string | undefined {
  let n = name.replace(/\\/g, '/');
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/^\/+/, '').replace(/\/+$/, '');
  if (n === '' || n.includes('\0')) return undefined;
  const parts = n.split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === '')) return undefined;
  return parts.join('/');
}

function corrupt(file: string, why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_ARCHIVE_INVALID', `${file} is not a readable image archive (${why}); check that the file is complete`, cause === undefined ? {} : { cause });
}

class Hasher extends Transform {
  private readonly h = createHash('sha256');
  size = 0;
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.h.update(c);
    this.size += c.length;
    cb(null, c);
  }
  digest(): string {
    return `sha256:${this.h.digest('hex')}`;
  }
}

/**
 * Extracts the regular files of `file` (a tar, optionally gzip-compressed) into `dir` as numbered files.
 * `want(name)` says which entries to keep. Returns entries by normalised name (a later duplicate wins, as tar does).
 */
export async function extractArchive(file: string, dir: string, want: (name: string) => boolean = () => true): Promise<Map<string, ArchiveEntry>> {
  let head: Buffer;
  try {
    const fh = await openInputFile(file, { what: 'archive', code: 'ERR_ARCHIVE_INVALID' });
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw corrupt(file, 'not a regular file');
      head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof S2IError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new S2IError('ERR_ARCHIVE_NOT_FOUND', `archive ${file} does not exist; check the path`, { cause: e });
    throw corrupt(file, (e as Error).message, e);
  }
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const entries = new Map<string, ArchiveEntry>();
  const extract = tar.extract();
  let n = 0;
  extract.on('entry', (header, stream, next) => {
    const name = header.type === 'file' || header.type === 'contiguous-file' ? normalizeArchiveName(header.name) : undefined;
    if (name === undefined || !want(name)) {
      stream.on('end', () => next());
      stream.on('error', next);
      stream.resume();
      return;
    }
    const target = path.join(dir, `e${n++}`);
    const hasher = new Hasher();
    pipeline(stream, hasher, createWriteStream(target, { flags: 'wx', mode: 0o600 }))
      .then(() => {
        entries.set(name, { name, file: target, digest: hasher.digest(), size: hasher.size });
        next();
      })
      .catch(next);
  });
  try {
    // Headers are checked before tar-stream sees them: it trusts a negative or non-octal size and then waits
    // forever for that entry's data.
    const src = createReadStream(file);
    if (gz) await pipeline(src, zlib.createGunzip(), new TarHeaderCheck(), extract);
    else await pipeline(src, new TarHeaderCheck(), extract);
  } catch (e) {
    throw corrupt(file, (e as Error).message, e);
  }
  if (n === 0 && entries.size === 0) {
    // tar-stream accepts an empty stream; an archive with nothing in it is as useless as a corrupt one.
    const st = await fs.stat(file);
    if (st.size === 0) throw corrupt(file, 'the file is empty');
  }
  return entries;
}

export interface PackFile {
  name: string;
  /** Host file to copy, or literal bytes. */
  file?: string;
  bytes?: Buffer;
}

const EPOCH = new Date(0);

/** Writes `files` (in the order given) as an uncompressed tar at `target`, atomically. */
export async function packArchive(target: string, files: PackFile[]): Promise<void> {
  const abs = path.resolve(target);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const pack = tar.pack();
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  const done = pipeline(pack, new PassThrough(), out);
  try {
    const dirs = new Set<string>();
    for (const f of files) {
      const parts = f.name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (dirs.has(d)) continue;
        dirs.add(d);
        await entry(pack, { name: `${d}/`, type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
      }
      const header = { name: f.name, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
      if (f.bytes) {
        await entry(pack, { ...header, size: f.bytes.length }, f.bytes);
      } else {
        const size = (await fs.stat(f.file!)).size;
        const w = pack.entry({ ...header, size });
        await pipeline(createReadStream(f.file!) as Readable, w);
      }
    }
    pack.finalize();
    await done;
    await fs.rename(tmp, abs);
  } catch (e) {
    pack.destroy();
    await done.catch(() => undefined);
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function entry(pack: tar.Pack, header: tar.Headers, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) pack.entry(header, body, cb);
    else pack.entry(header, cb);
  });
}
