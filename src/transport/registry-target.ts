// A registry repository as an ORAS Target (oras-go registry/remote Repository): `blobs()` and `manifests()`
// are the two endpoints of distribution-spec ("/v2/NAME/blobs/", "/v2/NAME/manifests/"); the Target itself
// routes each descriptor to one of them by media type. An adapter over registry/Repository, which does the
// HTTP, auth, retries, resume and byte verification.
import { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryClient, Repository } from '../registry/client.js';
import {
  abortable,
  abortError,
  isManifestDescriptor,
  openerOf,
  readManifestContent,
  type Deleter,
  type Mounter,
  type PushContent,
  type ReferenceFetcher,
  type ReferencePusher,
  type ReferrerLister,
  type RoleOptions,
  type Storage,
  type TagLister,
  type Target,
} from './roles.js';
import { skipBytes } from './verify.js';

function checkSignal(opts: RoleOptions | undefined, what: string): void {
  if (opts?.signal?.aborted) throw abortError(opts.signal, what);
}

function isNotFound(e: unknown): boolean {
  return e instanceof S2IError && (e.code === 'ERR_MANIFEST_UNKNOWN' || e.code === 'ERR_BLOB_UNKNOWN');
}

/** `/v2/NAME/blobs/`: layers and configs, plus cross-repository mount. */
export class RegistryBlobStore implements Storage, Mounter {
  constructor(
    private readonly client: RegistryClient,
    private readonly repo: Repository,
  ) {}

  fetch(desc: Descriptor, opts: RoleOptions = {}): Promise<Readable> {
    return this.repo.fetchBlob(desc, opts.signal ? { signal: opts.signal } : {});
  }

  async exists(desc: Descriptor, opts: RoleOptions = {}): Promise<boolean> {
    checkSignal(opts, `HEAD blob ${desc.digest}`);
    return this.repo.blobExists(desc);
  }

  async push(desc: Descriptor, content: PushContent, opts: RoleOptions = {}): Promise<void> {
    const what = `push blob ${desc.digest} to ${this.repo.registry}/${this.repo.name}`;
    checkSignal(opts, what);
    const open = openerOf(content, what);
    await this.repo.pushBlob(desc, async (offset) => abortable(await open(offset), opts.signal, what));
  }

  /**
   * POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=REPO. When the registry answers 202 (no mount), the blob is
   * pushed from `getContent`, or, without it, fetched from `fromRepo` on this registry (as oras-go does).
   */
  async mount(desc: Descriptor, fromRepo: string, getContent?: () => Promise<Readable>, opts: RoleOptions = {}): Promise<boolean> {
    checkSignal(opts, `mount blob ${desc.digest}`);
    if (fromRepo !== this.repo.name && (await this.repo.mountBlob(desc, fromRepo))) return true;
    // getContent is called before an upload session opens, so a caller's "try the next candidate" costs nothing.
    const sibling = this.client.repository(this.repo.registry, fromRepo);
    const fetchOpts = opts.signal ? { signal: opts.signal } : {};
    const reopen = (): Promise<Readable> => (getContent ? getContent() : sibling.fetchBlob(desc, fetchOpts));
    let first: Readable | undefined = await reopen();
    try {
      await this.push(desc, async (offset) => {
        const s = first ?? (await reopen());
        first = undefined;
        return skipBytes(s, offset);
      }, opts);
    } finally {
      first?.destroy();
    }
    return false;
  }
}

/** `/v2/NAME/manifests/`: manifests and indexes by digest or tag. */
export class RegistryManifestStore implements Storage, ReferenceFetcher, ReferencePusher, Deleter {
  constructor(private readonly repo: Repository) {}

  async fetch(desc: Descriptor, opts: RoleOptions = {}): Promise<Readable> {
    checkSignal(opts, `fetch manifest ${desc.digest}`);
    return Readable.from([await this.repo.fetchManifest(desc)]);
  }

  /** GET by digest (Repository has no manifest HEAD); manifests are small. */
  async exists(desc: Descriptor, opts: RoleOptions = {}): Promise<boolean> {
    checkSignal(opts, `check manifest ${desc.digest}`);
    try {
      const { descriptor } = await this.repo.resolve(desc.digest);
      return descriptor.size === desc.size;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async push(desc: Descriptor, content: PushContent, opts: RoleOptions = {}): Promise<void> {
    await this.pushReference(desc, content, desc.digest, opts);
  }

  async pushReference(desc: Descriptor, content: PushContent, reference: string, opts: RoleOptions = {}): Promise<void> {
    const what = `push manifest ${desc.digest} to ${this.repo.registry}/${this.repo.name}`;
    checkSignal(opts, what);
    const bytes = await readManifestContent(desc, content, what);
    checkSignal(opts, what);
    await this.repo.pushManifest(reference, bytes, desc.mediaType);
  }

  async resolve(reference: string, opts: RoleOptions = {}): Promise<Descriptor> {
    checkSignal(opts, `resolve ${reference}`);
    return (await this.repo.resolve(reference)).descriptor;
  }

  async fetchReference(reference: string, opts: RoleOptions = {}): Promise<{ descriptor: Descriptor; content: Readable }> {
    checkSignal(opts, `resolve ${reference}`);
    const { descriptor, bytes } = await this.repo.resolve(reference);
    return { descriptor, content: Readable.from([bytes]) };
  }

  /** Fetches the manifest by digest and PUTs the same bytes under the tag (what oras-go does). */
  async tag(desc: Descriptor, reference: string, opts: RoleOptions = {}): Promise<void> {
    checkSignal(opts, `tag ${reference}`);
    const bytes = await this.repo.fetchManifest(desc);
    await this.repo.pushManifest(reference, bytes, desc.mediaType);
  }

  async delete(desc: Descriptor, opts: RoleOptions = {}): Promise<void> {
    checkSignal(opts, `delete manifest ${desc.digest}`);
    await this.repo.deleteManifest(desc.digest);
  }
}

/**
 * One repository as a Target. Descriptors with a manifest or index media type go to `manifests()`, the rest
 * to `blobs()` (distribution keeps them apart; a manifest pushed as a blob would be unresolvable).
 */
export class RegistryTarget implements Target, Mounter, ReferenceFetcher, ReferencePusher, ReferrerLister, TagLister, Deleter {
  readonly repository: Repository;
  private readonly blobStore: RegistryBlobStore;
  private readonly manifestStore: RegistryManifestStore;

  /** `registry` is host[:port]; the client brings credentials, TLS, retries (it is not closed here). */
  constructor(
    client: RegistryClient,
    readonly registry: string,
    readonly name: string,
  ) {
    this.repository = client.repository(registry, name);
    this.blobStore = new RegistryBlobStore(client, this.repository);
    this.manifestStore = new RegistryManifestStore(this.repository);
  }

  blobs(): RegistryBlobStore {
    return this.blobStore;
  }

  manifests(): RegistryManifestStore {
    return this.manifestStore;
  }

  private route(desc: Descriptor): RegistryBlobStore | RegistryManifestStore {
    return isManifestDescriptor(desc) ? this.manifestStore : this.blobStore;
  }

  fetch(desc: Descriptor, opts?: RoleOptions): Promise<Readable> {
    return this.route(desc).fetch(desc, opts);
  }

  exists(desc: Descriptor, opts?: RoleOptions): Promise<boolean> {
    return this.route(desc).exists(desc, opts);
  }

  push(desc: Descriptor, content: PushContent, opts?: RoleOptions): Promise<void> {
    return this.route(desc).push(desc, content, opts);
  }

  resolve(reference: string, opts?: RoleOptions): Promise<Descriptor> {
    return this.manifestStore.resolve(reference, opts);
  }

  tag(desc: Descriptor, reference: string, opts?: RoleOptions): Promise<void> {
    return this.manifestStore.tag(desc, reference, opts);
  }

  fetchReference(reference: string, opts?: RoleOptions): Promise<{ descriptor: Descriptor; content: Readable }> {
    return this.manifestStore.fetchReference(reference, opts);
  }

  pushReference(desc: Descriptor, content: PushContent, reference: string, opts?: RoleOptions): Promise<void> {
    return this.manifestStore.pushReference(desc, content, reference, opts);
  }

  mount(desc: Descriptor, fromRepo: string, getContent?: () => Promise<Readable>, opts?: RoleOptions): Promise<boolean> {
    return this.blobStore.mount(desc, fromRepo, getContent, opts);
  }

  async referrers(desc: Descriptor, opts: RoleOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    checkSignal(opts, `referrers of ${desc.digest}`);
    return this.repository.referrers(desc.digest, opts.artifactType !== undefined ? { artifactType: opts.artifactType } : {});
  }

  async tags(opts: RoleOptions = {}): Promise<string[]> {
    checkSignal(opts, `tags of ${this.registry}/${this.name}`);
    return this.repository.tags();
  }

  /** Manifests only: distribution-spec blob DELETE is commonly disabled and Repository does not offer it. */
  async delete(desc: Descriptor, opts?: RoleOptions): Promise<void> {
    if (!isManifestDescriptor(desc)) {
      throw new S2IError('ERR_UNSUPPORTED', `deleting blob ${desc.digest} is not supported; delete the manifests that use it and let the registry collect it`);
    }
    await this.manifestStore.delete(desc, opts);
  }
}
