// Content-addressed blob store laid out as an OCI image layout (image-spec image-layout.md) under <root>/oci, so
// `skopeo inspect oci:<root>/oci:<name>` and umoci can read it. Writes follow npm/cacache: stream into a temp file
// on the same filesystem while hashing, verify digest and size, then link(2) into place (never overwrites; an
// existing blob is success); concurrent writers of one digest wait for each other (in process: a shared promise;
// across processes: lock-file.ts).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import { digestOf, parseDigest, sha256Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import { acquireLock, lockPath } from './lock-file.js';
import { blobPath, layoutDir, lockDir, sweepDeadTemps, tmpDir, writeFileAtomic } from './store-paths.js';
import { openStoreRoot } from './store-root.js';

/** Annotation naming a manifest in index.json (image-spec annotations.md). */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

export class BlobStore {
  private readonly inflight = new Map<string, Promise<void>>();

  private constructor(readonly root: string) {}

  /**
   * Opens (creating if missing) the store at `root`, private to its user (store-root.ts: mode 0700, an older
   * store's wider mode tightened); removes temp files left by dead processes.
   */
  static async open(root: string): Promise<BlobStore> {
    const abs = path.resolve(root);
    const oci = path.join(abs, layoutDir);
    await openStoreRoot(abs);
    await fs.mkdir(path.join(oci, 'blobs', 'sha256'), { recursive: true });
    await fs.mkdir(path.join(abs, lockDir), { recursive: true });
    await fs.mkdir(path.join(abs, tmpDir), { recursive: true });
    await createIfMissing(path.join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await createIfMissing(path.join(oci, 'index.json'), JSON.stringify(emptyIndex()));
    await sweepDeadTemps(path.join(abs, tmpDir));
    await sweepDeadTemps(path.join(abs, lockDir)); // lock-file.ts temps (`<pid>-….locktmp`), never the locks
    return new BlobStore(abs);
  }

  /** `<root>/oci/blobs/<alg>/<hex>`; throws ERR_INVALID_DIGEST for anything but a valid digest. */
  path(digest: string): string {
    return blobPath(this.root, digest);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      const st = await fs.stat(this.path(digest));
      return st.isFile() ? st.size : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Stores `src` under `desc.digest`, verified; ERR_DIGEST_MISMATCH stores nothing. Consumes or destroys `src`. */
  async put(desc: Descriptor, src: Readable, opts: { signal?: AbortSignal } = {}): Promise<void> {
    parseDigest(desc.digest);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      src.destroy();
      throw new S2IError('ERR_INVALID_DESCRIPTOR', `descriptor for ${desc.digest} has an invalid size ${String(desc.size)}`);
    }
    // In-process writers of one digest queue here; the check and the registration have no await between them, so
    // the first caller is the first writer whatever order the file-system calls finish in.
    for (let running = this.inflight.get(desc.digest); running; running = this.inflight.get(desc.digest)) {
      await running.catch(() => undefined); // the first writer failed: try with our own stream
    }
    const work = (async () => {
      if (await this.has(desc.digest)) {
        src.destroy();
        this.touch(desc.digest);
        return;
      }
      await this.putLocked(desc, src, opts);
    })();
    this.inflight.set(desc.digest, work);
    try {
      await work;
    } finally {
      if (this.inflight.get(desc.digest) === work) this.inflight.delete(desc.digest);
    }
  }

  private async putLocked(desc: Descriptor, src: Readable, opts: { signal?: AbortSignal }): Promise<void> {
    const { algorithm, hex } = parseDigest(desc.digest);
    let lock;
    try {
      lock = await acquireLock(lockPath(path.join(this.root, lockDir), `blob-${algorithm}-${hex}`), {
        done: () => this.has(desc.digest),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      src.destroy();
      throw e;
    }
    if (lock === null) {
      src.destroy();
      return;
    }
    const tmp = path.join(this.root, tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      if (await this.has(desc.digest)) {
        src.destroy();
        return;
      }
      const verify = new VerifyingStream(desc, algorithm);
      // The temp file is created before the pipeline starts: a write stream opened by path opens it later, so a
      // source that fails at once could have the file created after the `rm` below (a temp left behind).
      const fh = await fs.open(tmp, 'wx', 0o644);
      try {
        await pipeline(src, verify, fh.createWriteStream(), opts.signal ? { signal: opts.signal } : {});
      } finally {
        await fh.close().catch(() => {}); // closed already by the stream on success
      }
      verify.check();
      try {
        await fs.link(tmp, this.path(desc.digest)); // no overwrite: an existing blob is the same bytes
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    } finally {
      await fs.rm(tmp, { force: true });
      await lock.release();
    }
  }

  /**
   * Stores a file this process wrote and digested while writing it (a layer from `writeLayerFile`), by
   * hard-linking it into place: no second read and hash of bytes that never left the process. The file must not
   * change afterwards (it becomes the blob). Its size is checked; on another filesystem it is copied and
   * verified like `put`.
   */
  async adopt(desc: Descriptor, file: string): Promise<void> {
    const { algorithm, hex } = parseDigest(desc.digest);
    const st = await fs.stat(file);
    if (!st.isFile() || st.size !== desc.size) {
      throw new S2IError('ERR_DIGEST_MISMATCH', `${file} is ${st.size} bytes, not the ${desc.size} of ${desc.digest}; nothing was stored`);
    }
    if (await this.has(desc.digest)) return this.touch(desc.digest);
    const lock = await acquireLock(lockPath(path.join(this.root, lockDir), `blob-${algorithm}-${hex}`), { done: () => this.has(desc.digest) });
    if (lock === null) return;
    try {
      if (await this.has(desc.digest)) return;
      await fs.link(file, this.path(desc.digest));
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return; // the same bytes got there first
      if (code !== 'EXDEV' && code !== 'EPERM') throw e;
    } finally {
      await lock.release();
    }
    // Another filesystem (or no hard links): copied and verified like any blob (put takes the lock itself).
    await this.put(desc, createReadStream(file));
  }

  async putBytes(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    await this.put(desc, Readable.from([bytes]));
    return desc;
  }

  /** A stream of the blob from byte `start`; emits ENOENT when absent. */
  open(digest: string, start = 0): Readable {
    const file = this.path(digest);
    this.touch(digest);
    return createReadStream(file, { start });
  }

  /** Records a use of the blob: its mtime is its "last used" time for `cache prune --older-than` (best effort). */
  touch(digest: string): void {
    const now = new Date();
    fs.utimes(this.path(digest), now, now).catch(() => undefined);
  }

  /** The whole blob, re-verified; refuses blobs over `maxSize` (ERR_BLOB_TOO_LARGE) and absent ones (ERR_BLOB_UNKNOWN). */
  async readBytes(digest: string, maxSize: number): Promise<Buffer> {
    const { algorithm } = parseDigest(digest);
    let fh;
    try {
      fh = await fs.open(this.path(digest), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new S2IError('ERR_BLOB_UNKNOWN', `blob ${digest} is not in the store at ${this.root}`);
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size > maxSize) throw new S2IError('ERR_BLOB_TOO_LARGE', `blob ${digest} is ${size} bytes, more than the ${maxSize} allowed here`);
      const buf = await fh.readFile();
      const actual = digestOf(buf, algorithm);
      if (actual !== digest) {
        throw new S2IError('ERR_DIGEST_MISMATCH', `stored blob ${digest} is corrupt (its content hashes to ${actual}); run \`oci-s2i cache verify\``);
      }
      this.touch(digest);
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Names `desc` in index.json (replacing an earlier manifest of that name); atomic rewrite under a lock. */
  async tag(desc: Descriptor, name: string): Promise<void> {
    parseDigest(desc.digest);
    if (name === '' || name.length > 1024 || /[\0\n]/.test(name)) throw new S2IError('ERR_INVALID_TAG', `invalid name ${JSON.stringify(name.slice(0, 100))} for the store index`);
    const lock = await acquireLock(lockPath(path.join(this.root, lockDir), 'index.json'));
    try {
      const index = await this.readIndex();
      index.manifests = index.manifests.filter((m) => m.annotations?.[refNameAnnotation] !== name);
      index.manifests.push({ ...desc, annotations: { ...desc.annotations, [refNameAnnotation]: name } });
      await writeFileAtomic(this.indexPath(), JSON.stringify(index));
    } finally {
      await lock?.release();
    }
  }

  async resolveTag(name: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    const found = index.manifests.find((m) => m.annotations?.[refNameAnnotation] === name);
    if (found === undefined) return undefined;
    parseDigest(found.digest); // index.json is data on disk: never hand out an unvalidated digest
    return found;
  }

  private indexPath(): string {
    return path.join(this.root, layoutDir, 'index.json');
  }

  private async readIndex(): Promise<ImageIndex> {
    const text = await fs.readFile(this.indexPath(), 'utf8');
    let index: ImageIndex;
    try {
      index = JSON.parse(text) as ImageIndex;
    } catch (e) {
      throw new S2IError('ERR_STORE_CORRUPT', `${this.indexPath()} is not valid JSON; remove it to reset the store's names`, { cause: e });
    }
    if (!index || !Array.isArray(index.manifests)) throw new S2IError('ERR_STORE_CORRUPT', `${this.indexPath()} has no manifests list; remove it to reset the store's names`);
    return index;
  }
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
}

async function createIfMissing(file: string, content: string): Promise<void> {
  try {
    await fs.access(file);
  } catch {
    const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(tmp, content);
    try {
      await fs.link(tmp, file); // another process may have created it meanwhile: keep theirs
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }
}

/** Counts and hashes bytes in flight; fails as soon as more than the declared size arrives. */
export class VerifyingStream extends Transform {
  private readonly hash;
  private size = 0;

  constructor(
    private readonly desc: Descriptor,
    private readonly algorithm: string,
  ) {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.desc.size) {
      cb(new S2IError('ERR_DIGEST_MISMATCH', `blob ${this.desc.digest}: expected ${this.desc.size} bytes, got more; nothing was stored`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.check();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  private actual: string | undefined;

  /** Throws ERR_DIGEST_MISMATCH unless the bytes seen match the descriptor (valid after the end). */
  check(): void {
    this.actual ??= `${this.algorithm}:${this.hash.digest('hex')}`;
    if (this.actual !== this.desc.digest || this.size !== this.desc.size) {
      throw new S2IError(
        'ERR_DIGEST_MISMATCH',
        `blob ${this.desc.digest}: expected ${this.desc.digest} (${this.desc.size} bytes), got ${this.actual} (${this.size} bytes); nothing was stored`,
      );
    }
  }
}
