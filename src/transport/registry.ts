// docker:// — a registry repository as a source and a destination. Thin adapters over registry/Repository,
// which already verifies every byte; these add the reference and the Target shape.
import type { Readable } from 'node:stream';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { WHOLE_UPLOAD_MAX, type RegistryClient, type Repository } from '../registry/client.js';
import type { ImageDestination, ImageSource, Mounter, TransportName } from './types.js';

export class RegistrySource implements ImageSource {
  readonly transport: TransportName = 'docker';
  readonly name: string;
  readonly registry: { host: string; repository: string };
  private readonly repo: Repository;

  constructor(
    client: RegistryClient,
    readonly ref: Reference,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    this.repo = client.repository(ref.registry, ref.repository);
    this.name = formatReference(ref);
    this.registry = { host: ref.registry, repository: ref.repository };
  }

  resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return this.repo.resolve(this.ref.digest ?? this.ref.tag ?? 'latest');
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return this.repo.fetchManifest(desc);
  }

  fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return this.repo.fetchBlob(desc, opts);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

export class RegistryDestination implements ImageDestination, Mounter {
  readonly transport: TransportName = 'docker';
  readonly accepts: ImageFormat[] = ['docker', 'oci'];
  readonly acceptsIndex = true;
  readonly name: string;
  readonly tag: string | undefined;
  readonly registry: { host: string; repository: string };
  /** Blobs this small go as one POST + PUT (registry/blob-upload.ts): two round trips, where HEAD first makes three. */
  readonly smallUploadMax = WHOLE_UPLOAD_MAX;
  private readonly repo: Repository;

  constructor(
    private readonly client: RegistryClient,
    readonly ref: Reference,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    this.repo = client.repository(ref.registry, ref.repository);
    this.name = formatReference(ref);
    this.tag = ref.tag ?? ref.digest;
    this.registry = { host: ref.registry, repository: ref.repository };
  }

  blobExists(desc: Descriptor): Promise<boolean> {
    return this.repo.blobExists(desc);
  }

  pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    return this.repo.pushBlob(desc, open);
  }

  /** The protocol probe (RegistryClient.prepare) and `uploads` upload sessions opened ahead in this repository. */
  prepareWrite(opts: { uploads: number }): void {
    this.client.prepare(this.ref.registry);
    if (opts.uploads > 0) this.client.openUploadsAhead(this.ref.registry, this.ref.repository, opts.uploads);
  }

  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    return this.repo.mountBlob(desc, fromRepository);
  }

  pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    return this.repo.pushManifest(tagOrDigest, bytes, mediaType);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
