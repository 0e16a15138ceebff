// docker-archive:FILE[:REF] — the `docker save` format: manifest.json `[{Config, RepoTags, Layers}]`, the
// config JSON and one tar per layer, all named inside the archive. Reading synthesises a Docker v2s2 manifest
// from the files (layer digests are those of the files; compression sniffed from their first bytes). Writing
// stores layers uncompressed as `<diffID-hex>.tar` and the config as `<hex>.json`, which is what `docker save`
// and containers/image write and what `docker load` / `podman load` read.
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S2IError } from '../errors.js';
import { parseDigest, sha256Digest } from '../oci/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseImageConfig, parseManifestDocument } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { buildManifest } from '../image/manifest.js';
import { decompressor } from '../layer/decompress.js';
import { Digester } from '../layer/digester.js';
import { extractArchive, packArchive, type ArchiveEntry, type PackFile } from './tar-archive.js';
import type { ImageDestination, ImageSource, TransportName } from './types.js';
import { VerifyStream, verifiedFileStream } from './verify.js';

interface ArchiveManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function invalid(file: string, why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_ARCHIVE_INVALID', `${file} is not a valid docker-archive (${why})`, cause === undefined ? {} : { cause });
}

function sameRef(tag: string, want: Reference): boolean {
  try {
    return formatReference(parseReference(tag)) === formatReference(want);
  } catch {
    return false;
  }
}

async function sniff(file: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await fs.open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

async function readEntry(e: ArchiveEntry, max: number, what: string): Promise<Buffer> {
  if (e.size > max) throw new S2IError('ERR_ARCHIVE_INVALID', `${what} is ${e.size} bytes, over the ${max}-byte limit`);
  return fs.readFile(e.file);
}

export class DockerArchiveSource implements ImageSource {
  readonly transport: TransportName = 'docker-archive';
  private constructor(
    readonly name: string,
    private readonly tmp: string,
    private readonly manifest: { descriptor: Descriptor; bytes: Buffer },
    private readonly blobs: Map<string, ArchiveEntry>,
  ) {}

  static async open(file: string, ref: Reference | undefined, name: string, tmpRoot = os.tmpdir()): Promise<DockerArchiveSource> {
    const tmp = await fs.mkdtemp(path.join(tmpRoot, 'oci-s2i-docker-archive-'));
    try {
      const entries = await extractArchive(file, tmp);
      const mf = entries.get('manifest.json');
      if (!mf) throw invalid(file, 'it has no manifest.json');
      let list: unknown;
      try {
        list = JSON.parse((await readEntry(mf, MAX_MANIFEST_BYTES, 'manifest.json')).toString('utf8'));
      } catch (e) {
        if (e instanceof S2IError) throw e;
        throw invalid(file, 'manifest.json is not JSON', e);
      }
      if (!Array.isArray(list) || list.length === 0) throw invalid(file, 'manifest.json lists no images');
      const images = list as ArchiveManifestEntry[];
      for (const [i, im] of images.entries()) {
        if (!im || typeof im.Config !== 'string' || !Array.isArray(im.Layers) || !im.Layers.every((l) => typeof l === 'string')) {
          throw invalid(file, `manifest.json entry ${i} needs "Config" and "Layers"`);
        }
      }
      let chosen: ArchiveManifestEntry | undefined;
      if (ref) {
        chosen = images.find((im) => (im.RepoTags ?? []).some((t) => typeof t === 'string' && sameRef(t, ref)));
        if (!chosen) {
          const tags = images.flatMap((im) => im.RepoTags ?? []);
          throw new S2IError('ERR_TAG_NOT_FOUND', `${file} has no image tagged ${formatReference(ref)}; it has ${tags.length ? tags.join(', ') : 'no tagged images'}`);
        }
      } else if (images.length === 1) {
        chosen = images[0]!;
      } else {
        throw new S2IError('ERR_TAG_NOT_FOUND', `${file} holds ${images.length} images; name one as docker-archive:FILE:REF (${images.flatMap((im) => im.RepoTags ?? []).join(', ')})`);
      }
      const find = (n: string, what: string): ArchiveEntry => {
        const e = entries.get(n.replace(/^(\.\/)+/, '').replace(/^\/+/, ''));
        if (!e) throw invalid(file, `${what} "${n.slice(0, 200)}" named in manifest.json is not in the archive`);
        return e;
      };
      const cfgEntry = find(chosen.Config, 'config');
      const cfgBytes = await readEntry(cfgEntry, MAX_CONFIG_BYTES, 'the config');
      const config = parseImageConfig(cfgBytes);
      if (config.rootfs.diff_ids.length !== chosen.Layers.length) {
        throw invalid(file, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${chosen.Layers.length} layers`);
      }
      const blobs = new Map<string, ArchiveEntry>();
      blobs.set(cfgEntry.digest, cfgEntry);
      const layers: Descriptor[] = [];
      for (const [i, l] of chosen.Layers.entries()) {
        const e = find(l, `layer ${i}`);
        const kind = await sniff(e.file);
        if (kind === 'zstd') throw invalid(file, `layer ${i} is zstd-compressed, which the Docker format cannot describe`);
        layers.push({ mediaType: kind === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayer, digest: e.digest, size: e.size });
        blobs.set(e.digest, e);
      }
      const built = buildManifest('docker', { mediaType: MediaType.dockerConfig, digest: cfgEntry.digest, size: cfgEntry.size }, layers);
      return new DockerArchiveSource(name, tmp, { descriptor: built.descriptor, bytes: built.bytes }, blobs);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  async resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return this.manifest;
  }

  async fetchManifest(desc: Descriptor): Promise<Buffer> {
    if (desc.digest !== this.manifest.descriptor.digest) throw new S2IError('ERR_MANIFEST_UNKNOWN', `${this.name} has no manifest ${desc.digest}`);
    return this.manifest.bytes;
  }

  async fetchBlob(desc: Descriptor): Promise<Readable> {
    parseDigest(desc.digest);
    const e = this.blobs.get(desc.digest);
    if (!e) throw new S2IError('ERR_BLOB_UNKNOWN', `${this.name} has no blob ${desc.digest}`);
    return verifiedFileStream(e.file, desc, `${desc.digest} in ${this.name}`);
  }

  close(): Promise<void> {
    return fs.rm(this.tmp, { recursive: true, force: true });
  }
}

const configTypes = new Set<string>([MediaType.dockerConfig, MediaType.ociConfig]);

export class DockerArchiveDestination implements ImageDestination {
  readonly transport: TransportName = 'docker-archive';
  readonly accepts: ImageFormat[] = ['docker'];
  readonly acceptsIndex = false;
  readonly tag: string | undefined;
  /** blob digest → file name in the archive (+ the diffID for layers). */
  private readonly files = new Map<string, { name: string; diffID?: string }>();
  private readonly images: ArchiveManifestEntry[] = [];

  private constructor(
    private readonly file: string,
    ref: Reference | undefined,
    readonly name: string,
    private readonly tmp: string,
  ) {
    this.tag = ref ? formatReference(ref) : undefined;
  }

  static async open(file: string, ref: Reference | undefined, name: string, tmpRoot = os.tmpdir()): Promise<DockerArchiveDestination> {
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const tmp = await fs.mkdtemp(path.join(tmpRoot, 'oci-s2i-docker-archive-'));
    return new DockerArchiveDestination(file, ref, name, tmp);
  }

  async blobExists(desc: Descriptor): Promise<boolean> {
    return this.files.has(desc.digest);
  }

  async pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    const { hex } = parseDigest(desc.digest);
    if (this.files.has(desc.digest)) return;
    const tmpFile = path.join(this.tmp, `.in-${randomBytes(6).toString('hex')}`);
    try {
      if (configTypes.has(desc.mediaType)) {
        await pipeline(await open(0), new VerifyStream(desc, `config ${desc.digest}`), createWriteStream(tmpFile, { flags: 'wx' }));
        const name = `${hex}.json`;
        await fs.rename(tmpFile, path.join(this.tmp, name));
        this.files.set(desc.digest, { name });
        return;
      }
      // Layers are stored as plain tar, so the file's digest is the diffID (docker load checks it).
      const diff = new Digester();
      const un = decompressor(desc.mediaType);
      const src = await open(0);
      const verify = new VerifyStream(desc, `layer ${desc.digest}`);
      const out = createWriteStream(tmpFile, { flags: 'wx' });
      if (un) await pipeline(src, verify, un, diff, out);
      else await pipeline(src, verify, diff, out);
      const diffID = diff.digest();
      const name = `${parseDigest(diffID).hex}.tar`;
      await fs.rename(tmpFile, path.join(this.tmp, name));
      this.files.set(desc.digest, { name, diffID });
    } finally {
      await fs.rm(tmpFile, { force: true });
    }
  }

  async pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    const parsed = parseManifestDocument(bytes, mediaType);
    if (parsed.kind !== 'manifest') {
      throw new S2IError('ERR_FORMAT_UNSUPPORTED', `a docker-archive holds single images, not a ${parsed.mediaType}; copy one platform (--platform)`);
    }
    const m = parsed.manifest;
    const cfg = this.files.get(m.config.digest);
    if (!cfg) throw new S2IError('ERR_BLOB_UNKNOWN', `config ${m.config.digest} was not written to ${this.name} before its manifest`);
    const config = parseImageConfig(await fs.readFile(path.join(this.tmp, cfg.name)));
    const layers = m.layers.map((l, i) => {
      const f = this.files.get(l.digest);
      if (!f) {
        throw new S2IError('ERR_FOREIGN_LAYER', `layer ${i} (${l.digest}) is not in ${this.name}: a docker-archive must hold every layer; copy with --foreign-layers copy`);
      }
      if (f.diffID !== config.rootfs.diff_ids[i]) {
        throw new S2IError('ERR_DIFFID_MISMATCH', `layer ${i} of ${this.name} unpacks to ${f.diffID}, but the config says ${config.rootfs.diff_ids[i]}; the image is corrupt`, {
          step: 'pull',
        });
      }
      return f.name;
    });
    const isDigest = /^sha(256|512):/.test(tagOrDigest);
    this.images.push({ Config: cfg.name, RepoTags: !isDigest && this.tag ? [this.tag] : [], Layers: layers });
    return sha256Digest(bytes);
  }

  async commit(): Promise<void> {
    if (this.images.length === 0) throw new S2IError('ERR_MANIFEST_UNKNOWN', `nothing was written to ${this.name}`);
    const files: PackFile[] = [];
    const seen = new Set<string>();
    for (const im of this.images) {
      for (const n of [im.Config, ...im.Layers]) {
        if (seen.has(n)) continue;
        seen.add(n);
        files.push({ name: n, file: path.join(this.tmp, n) });
      }
    }
    files.push({ name: 'manifest.json', bytes: Buffer.from(JSON.stringify(this.images)) });
    await packArchive(this.file, files);
  }

  close(): Promise<void> {
    return fs.rm(this.tmp, { recursive: true, force: true });
  }
}
