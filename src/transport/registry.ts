// docker:// — a registry repository as a source and a destination. Thin adapters over registry/Repository,
// which already verifies every byte; these add the reference and the ImageSource/ImageDestination shape.
import type { Readable } from 'node:stream';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { WHOLE_UPLOAD_MAX, type RegistryClient, type Repository } from '../registry/client.js';
import type { ImageDestination, ImageSource, Mounter, TransportName } from './types.js';

/** What both ends share: the repository, its name for messages, where it lives (for mounts), closing the client. */
abstract class RegistryEnd {
  readonly transport: TransportName = 'docker';
  readonly name: string;
  readonly registry: { host: string; repository: string };
  protected readonly repo: Repository;

  constructor(
    protected readonly client: RegistryClient,
    readonly ref: Reference,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    this.repo = client.repository(ref.registry, ref.repository);
    this.name = formatReference(ref);
    this.registry = { host: ref.registry, repository: ref.repository };
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

export class RegistrySource extends RegistryEnd implements ImageSource {
  resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return this.repo.resolve(this.ref.digest ?? this.ref.tag ?? 'latest');
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return this.repo.fetchManifest(desc);
  }

  fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return this.repo.fetchBlob(desc, opts);
  }
}

export class RegistryDestination extends RegistryEnd implements ImageDestination, Mounter {
  readonly accepts: ImageFormat[] = ['docker', 'oci'];
  readonly acceptsIndex = true;
  readonly tag: string | undefined = this.ref.tag ?? this.ref.digest;
  /** Blobs this small go as one POST + PUT (registry/blob-upload.ts): two round trips, where HEAD first makes three. */
  readonly smallUploadMax = WHOLE_UPLOAD_MAX;

  blobExists(desc: Descriptor): Promise<boolean> {
    return this.repo.blobExists(desc);
  }

  pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    return this.repo.pushBlob(desc, open);
  }

  /**
   * The protocol probe (RegistryClient.prepare) and `uploads` upload sessions opened ahead in this repository;
   * settles with the first session (RegistryClient.openUploadsAhead); at once when none is asked for.
   */
  prepareWrite(opts: { uploads: number }): Promise<void> {
    this.client.prepare(this.ref.registry);
    return opts.uploads > 0 ? this.client.openUploadsAhead(this.ref.registry, this.ref.repository, opts.uploads) : Promise.resolve();
  }

  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    return this.repo.mountBlob(desc, fromRepository);
  }

  pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    return this.repo.pushManifest(tagOrDigest, bytes, mediaType);
  }
}
