// An OCI image layout at any directory (image-spec image-layout.md): `oci-layout`, `index.json`,
// `blobs/<alg>/<hex>`. Images are named by the `org.opencontainers.image.ref.name` annotation of their
// index.json entry. Blobs are written to a temp file in the same directory, verified, then renamed into place.
// (store/BlobStore keeps its layout under <root>/oci beside locks and temp dirs, so it cannot open a bare
// layout directory; this is the small shared-nothing version for user-given directories.)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError, type ErrorCode } from '../errors.js';
import { readInputFile } from '../sys/input-file.js';
import { parseDigest, sha256Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, validateDescriptor } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageFormat, ImageIndex } from '../oci/types.js';
import type { ImageDestination, ImageSource, TransportName } from './types.js';
import { VerifyStream, readCappedStream, verifiedFileStream } from './verify.js';

export const refNameAnnotation = 'org.opencontainers.image.ref.name';

function layoutError(code: ErrorCode, message: string, cause?: unknown): S2IError {
  return new S2IError(code, message, cause === undefined ? {} : { cause });
}

export class OciLayout {
  /** index.json is read, changed and written back: one change at a time per layout (sync writes many images at once). */
  private indexChanges: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  /** Opens an existing layout; ERR_LAYOUT_NOT_FOUND when `dir` is not one. */
  static async openExisting(dir: string): Promise<OciLayout> {
    const abs = path.resolve(dir);
    let marker: string;
    try {
      marker = (await readInputFile(path.join(abs, 'oci-layout'), { what: 'layout marker' })).toString('utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'it has no oci-layout file' : (e as Error).message;
      throw layoutError('ERR_LAYOUT_NOT_FOUND', `${dir} is not an OCI image layout (${why}); give the directory that holds oci-layout and index.json`, e);
    }
    let version: unknown;
    try {
      version = (JSON.parse(marker) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch (e) {
      throw layoutError('ERR_LAYOUT_INVALID', `${dir}/oci-layout is not JSON; the layout is corrupt`, e);
    }
    if (typeof version !== 'string' || !version.startsWith('1.')) {
      throw layoutError('ERR_LAYOUT_INVALID', `${dir}/oci-layout has imageLayoutVersion ${JSON.stringify(version)}; only 1.x layouts are read`);
    }
    return new OciLayout(abs);
  }

  /** Opens a layout, creating the directory, `oci-layout`, `index.json` and `blobs/` as needed. */
  static async openOrCreate(dir: string): Promise<OciLayout> {
    const abs = path.resolve(dir);
    try {
      await fs.mkdir(path.join(abs, 'blobs', 'sha256'), { recursive: true });
    } catch (e) {
      throw layoutError('ERR_LAYOUT_INVALID', `cannot create an OCI layout at ${dir}: ${(e as Error).message}`, e);
    }
    const marker = path.join(abs, 'oci-layout');
    try {
      await fs.writeFile(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }), { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      await OciLayout.openExisting(abs);
    }
    try {
      await fs.writeFile(path.join(abs, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }), { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return new OciLayout(abs);
  }

  /** Only validated digests become paths (CVE-2024-3727). */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.dir, 'blobs', algorithm, hex);
  }

  async has(desc: Descriptor): Promise<boolean> {
    try {
      const st = await fs.stat(this.blobPath(desc.digest));
      return st.isFile() && st.size === desc.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** A verified stream of a blob; ERR_BLOB_UNKNOWN when the layout lacks it. */
  async open(desc: Descriptor): Promise<Readable> {
    const file = this.blobPath(desc.digest);
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw layoutError('ERR_BLOB_UNKNOWN', `blob ${desc.digest} is missing from the OCI layout ${this.dir}; the layout is incomplete`, e);
      }
      throw e;
    }
    return verifiedFileStream(file, desc, `blob ${desc.digest} in ${this.dir}`);
  }

  async readSmall(desc: Descriptor, max: number): Promise<Buffer> {
    if (desc.size > max) throw layoutError('ERR_BLOB_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes, over the ${max}-byte limit`);
    return readCappedStream(await this.open(desc), max, `blob ${desc.digest}`);
  }

  /** Writes `src` as `desc` (temp file + verify + rename); an existing blob is success. Consumes `src`. */
  async put(desc: Descriptor, src: Readable): Promise<void> {
    const final = this.blobPath(desc.digest);
    if (await this.has(desc)) {
      src.destroy();
      return;
    }
    const dir = path.dirname(final);
    await fs.mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      // Created before the pipeline: a stream opened by path would create it later, possibly after the `rm`.
      const fh = await fs.open(tmp, 'wx', 0o644);
      try {
        await pipeline(src, new VerifyStream(desc, `blob ${desc.digest}`), fh.createWriteStream());
      } finally {
        await fh.close().catch(() => {});
      }
      await fs.rename(tmp, final);
    } catch (e) {
      src.destroy();
      throw e;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async putBytes(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    await this.put(desc, Readable.from([bytes]));
    return desc;
  }

  async readIndex(): Promise<ImageIndex> {
    const file = path.join(this.dir, 'index.json');
    let bytes: Buffer;
    try {
      bytes = await readInputFile(file, { what: 'layout index' });
    } catch (e) {
      throw layoutError('ERR_LAYOUT_INVALID', `${this.dir} has no readable index.json (${(e as Error).message}); the layout is corrupt`, e);
    }
    if (bytes.length > MAX_MANIFEST_BYTES) throw layoutError('ERR_LAYOUT_INVALID', `${file} is over ${MAX_MANIFEST_BYTES} bytes`);
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw layoutError('ERR_LAYOUT_INVALID', `${file} is not JSON; the layout is corrupt`, e);
    }
    const index = doc as ImageIndex;
    if (!index || typeof index !== 'object' || !Array.isArray(index.manifests)) {
      throw layoutError('ERR_LAYOUT_INVALID', `${file} has no "manifests" list; the layout is corrupt`);
    }
    try {
      index.manifests.forEach((d, i) => validateDescriptor(d, `index.json manifests[${i}]`));
    } catch (e) {
      throw layoutError('ERR_LAYOUT_INVALID', `${this.dir}: ${(e as Error).message}`, e);
    }
    return index;
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    const file = path.join(this.dir, 'index.json');
    const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, JSON.stringify(index), { flag: 'wx', mode: 0o644 });
      await fs.rename(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** The index entry named `tag`, or the only entry when no tag is given. */
  async find(tag: string | undefined): Promise<Descriptor> {
    const index = await this.readIndex();
    const names = index.manifests.map((m) => m.annotations?.[refNameAnnotation]).filter((n): n is string => n !== undefined);
    if (tag !== undefined) {
      const found = index.manifests.find((m) => m.annotations?.[refNameAnnotation] === tag);
      if (!found) {
        throw layoutError('ERR_TAG_NOT_FOUND', `the OCI layout ${this.dir} has no image tagged "${tag}"; it has ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no tagged images'}`);
      }
      return found;
    }
    if (index.manifests.length === 1) return index.manifests[0]!;
    if (index.manifests.length === 0) throw layoutError('ERR_TAG_NOT_FOUND', `the OCI layout ${this.dir} holds no images`);
    throw layoutError('ERR_TAG_NOT_FOUND', `the OCI layout ${this.dir} holds ${index.manifests.length} images; name one as oci:DIR:TAG (tags: ${names.join(', ') || 'none'})`);
  }

  /** Adds `desc` to index.json, named `tag` (replacing that name) or unnamed (replacing the same digest). */
  addToIndex(desc: Descriptor, tag: string | undefined): Promise<void> {
    const change = this.indexChanges.then(() => this.changeIndex(desc, tag));
    this.indexChanges = change.catch(() => undefined);
    return change;
  }

  private async changeIndex(desc: Descriptor, tag: string | undefined): Promise<void> {
    const index = await this.readIndex();
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (desc.platform) entry.platform = desc.platform;
    if (tag !== undefined) {
      entry.annotations = { [refNameAnnotation]: tag };
      index.manifests = index.manifests.filter((m) => m.annotations?.[refNameAnnotation] !== tag);
    } else {
      index.manifests = index.manifests.filter((m) => m.digest !== desc.digest || m.annotations?.[refNameAnnotation] !== undefined);
    }
    index.manifests.push(entry);
    await this.writeIndex({ ...index, schemaVersion: 2, mediaType: index.mediaType ?? MediaType.ociIndex, manifests: index.manifests });
  }
}

export class OciLayoutSource implements ImageSource {
  readonly transport: TransportName;
  constructor(
    private readonly layout: OciLayout,
    private readonly tag: string | undefined,
    readonly name: string,
    private readonly onClose: () => Promise<void> = async () => {},
    transport: TransportName = 'oci',
  ) {
    this.transport = transport;
  }

  async resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const desc = await this.layout.find(this.tag);
    const bytes = await this.layout.readSmall(desc, MAX_MANIFEST_BYTES);
    const { annotations: _a, ...descriptor } = desc;
    return { descriptor, bytes };
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return this.layout.readSmall(desc, MAX_MANIFEST_BYTES);
  }

  fetchBlob(desc: Descriptor): Promise<Readable> {
    return this.layout.open(desc);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

export class OciLayoutDestination implements ImageDestination {
  readonly accepts: ImageFormat[] = ['oci'];
  readonly acceptsIndex = true;
  readonly transport: TransportName;
  private last: Descriptor | undefined;

  constructor(
    readonly layout: OciLayout,
    readonly tag: string | undefined,
    readonly name: string,
    transport: TransportName = 'oci',
    private readonly onCommit: () => Promise<void> = async () => {},
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    this.transport = transport;
  }

  blobExists(desc: Descriptor): Promise<boolean> {
    return this.layout.has(desc);
  }

  async pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    // Written meanwhile by another image of the same layout (sync): not opened, so nothing is downloaded.
    if (await this.layout.has(desc)) return;
    await this.layout.put(desc, await open(0));
  }

  async pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    const desc = await this.layout.putBytes(bytes, mediaType);
    if (tagOrDigest.includes(':') && /^sha(256|512):/.test(tagOrDigest)) {
      if (tagOrDigest !== desc.digest) throw new S2IError('ERR_DIGEST_MISMATCH', `manifest bytes have digest ${desc.digest}, not ${tagOrDigest}`);
      this.last = desc;
    } else {
      await this.layout.addToIndex(desc, tagOrDigest);
      this.last = undefined;
    }
    return desc.digest;
  }

  /** An image pushed only by digest is still listed (unnamed) in index.json, so tools can find it. */
  async commit(): Promise<void> {
    if (this.last) await this.layout.addToIndex(this.last, undefined);
    this.last = undefined;
    await this.onCommit();
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
