// The docker-archive writer as a write-only ORAS Target. A `docker save` tarball holds single images named by
// RepoTags (no index, no lookup by digest before it is packed), so: blobs go straight to DockerArchiveDestination
// (layers are stored decompressed, diffIDs checked); manifests are held in memory (≤ 4 MiB each) until `tag`
// records the image; `commit()` packs the archive. fetch() serves only manifests pushed in this session.
import { Readable } from 'node:stream';
import os from 'node:os';
import { S2IError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/manifest.js';
import { formatReference, parseReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { DockerArchiveDestination } from './docker-archive.js';
import { abortError, isManifestDescriptor, openerOf, readManifestContent, type PushContent, type RoleOptions, type Target } from './roles.js';

export class DockerArchiveTarget implements Target {
  private readonly manifests = new Map<string, { desc: Descriptor; bytes: Buffer }>();
  private readonly tagged = new Map<string, Descriptor>();

  private constructor(
    private readonly dest: DockerArchiveDestination,
    /** The image reference written to RepoTags (docker-archive:FILE:REF); undefined: untagged images. */
    readonly reference: string | undefined,
  ) {}

  /** Writes `file` on commit(). `reference` (e.g. `quay.io/app:v1`) is the one name the archive can give its image. */
  static async open(file: string, reference?: string, tmpDir = os.tmpdir()): Promise<DockerArchiveTarget> {
    const ref = reference === undefined ? undefined : parseReference(reference);
    const dest = await DockerArchiveDestination.open(file, ref, `docker-archive:${file}`, tmpDir);
    return new DockerArchiveTarget(dest, ref ? formatReference(ref) : undefined);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return isManifestDescriptor(desc) ? this.manifests.has(desc.digest) : this.dest.blobExists(desc);
  }

  async push(desc: Descriptor, content: PushContent, opts: RoleOptions = {}): Promise<void> {
    const what = `write ${desc.digest} to ${this.dest.name}`;
    if (opts.signal?.aborted) {
      if (typeof content !== 'function') content.destroy();
      throw abortError(opts.signal, what);
    }
    if (isIndexMediaType(desc.mediaType)) {
      if (typeof content !== 'function') content.destroy();
      throw new S2IError('ERR_FORMAT_UNSUPPORTED', `a docker-archive holds single images, not a ${desc.mediaType}; copy one platform (copyImage with a platform)`);
    }
    if (isManifestDescriptor(desc)) {
      this.manifests.set(desc.digest, { desc, bytes: await readManifestContent(desc, content, what) });
      return;
    }
    await this.dest.pushBlob(desc, openerOf(content, what));
  }

  /** Only manifests pushed in this session: the archive is write-only. */
  async fetch(desc: Descriptor): Promise<Readable> {
    const m = this.manifests.get(desc.digest);
    if (!m) throw new S2IError('ERR_UNSUPPORTED', `${this.dest.name} is write-only: ${desc.digest} cannot be read back before the archive is written`);
    return Readable.from([m.bytes]);
  }

  async resolve(reference: string): Promise<Descriptor> {
    const found = isValidDigest(reference) ? this.manifests.get(reference)?.desc : this.tagged.get(reference);
    if (!found) throw new S2IError('ERR_MANIFEST_UNKNOWN', `${this.dest.name} has no image ${reference} yet`);
    return found;
  }

  /**
   * Records the image. `reference` must be the archive's own reference (given to open) or a digest (an
   * untagged image): DockerArchiveDestination fixes RepoTags when it is opened.
   */
  async tag(desc: Descriptor, reference: string): Promise<void> {
    const m = this.manifests.get(desc.digest);
    if (!m) throw new S2IError('ERR_MANIFEST_UNKNOWN', `cannot tag ${desc.digest}: it was not pushed to ${this.dest.name}`);
    let name: string;
    if (isValidDigest(reference)) name = reference;
    else {
      name = formatReference(parseReference(reference));
      if (name !== this.reference) {
        throw new S2IError('ERR_UNSUPPORTED', `${this.dest.name} names its image ${this.reference ?? '(nothing)'}; open it with ${name} to use that name`);
      }
    }
    await this.dest.pushManifest(isValidDigest(reference) ? reference : name, m.bytes, m.desc.mediaType);
    this.tagged.set(reference, m.desc);
  }

  /** Packs the archive (call after the last tag). */
  commit(): Promise<void> {
    return this.dest.commit();
  }

  /** Removes the staging directory (after commit, or to abandon the archive). */
  close(): Promise<void> {
    return this.dest.close();
  }
}
