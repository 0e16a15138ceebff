// docker:// — a registry repository as a source and a destination, with containers-registries.conf(5) applied
// (registry/registries-rules.ts decides, this file contacts): a source tries each name a short name stands for,
// and for each the mirrors a pull may use, then the (rewritten) location, skipping blocked ones; the first
// endpoint that answers the manifest serves every later read. A destination is the rewritten location, never a
// mirror, and refused when blocked. Thin adapters over registry/Repository, which verifies every byte.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { formatAsTyped, formatReference, qualified, type Reference } from '../oci/reference.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { WHOLE_UPLOAD_MAX, type RegistryClient, type Repository } from '../registry/client.js';
import { blockedError, pullSources, pushTarget, resolveShortName } from '../registry/registries-rules.js';
import type { ImageDestination, ImageSource, Mounter, PulledFrom, TransportName } from './types.js';

export interface RegistrySourceOptions {
  /** Called by close() (a client made for this source). */
  onClose?: () => Promise<void>;
  /** Gets a `pull-source` event when an endpoint other than the name itself serves the image. */
  onProgress?: ProgressSink;
  signal?: AbortSignal;
}

interface Chosen {
  repo: Repository;
  /** The name tried (a short name's candidate), and the endpoint that answered. */
  logical: Reference;
  endpoint: Reference;
  mirror: boolean;
}

/** A failure message on one line, bounded (an endpoint's error in a list of them). */
function brief(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const line = m.split('\n')[0]!;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The fully qualified names a pull of `ref` tries, in order (registries.conf short-name rules; `ref` when qualified). */
export async function pullCandidates(client: RegistryClient, ref: Reference): Promise<Reference[]> {
  return resolveShortName(await client.registries(), ref).candidates;
}

export class RegistrySource implements ImageSource {
  readonly transport: TransportName = 'docker';
  private chosen: Chosen | undefined;
  private choosing: Promise<{ descriptor: Descriptor; bytes: Buffer }> | undefined;

  constructor(
    private readonly client: RegistryClient,
    readonly ref: Reference,
    private readonly opts: RegistrySourceOptions = {},
  ) {}

  /** The name as typed (a short name stays short) until a candidate answered, then that candidate's. */
  get name(): string {
    return this.chosen ? formatReference(this.chosen.logical) : formatAsTyped(this.ref);
  }

  /** Where the image is read (for mounts to a destination on the same registry): the endpoint once one answered. */
  get registry(): { host: string; repository: string } {
    const r = this.chosen?.endpoint ?? this.ref;
    return { host: r.registry, repository: r.repository };
  }

  /** The fully qualified name that answered (a short name's candidate), once one did. */
  get resolvedRef(): Reference | undefined {
    return this.chosen?.logical;
  }

  /** The name and the endpoint that served it, once one did. */
  get pulledFrom(): PulledFrom | undefined {
    const c = this.chosen;
    return c ? { reference: formatReference(c.logical), endpoint: formatReference(c.endpoint), mirror: c.mirror } : undefined;
  }

  resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    if (this.chosen) return this.chosen.repo.resolve(this.reference(this.chosen.endpoint));
    return (this.choosing ??= this.choose().finally(() => (this.choosing = undefined)));
  }

  async fetchManifest(desc: Descriptor): Promise<Buffer> {
    return (await this.repo()).fetchManifest(desc);
  }

  async fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return (await this.repo()).fetchBlob(desc, opts);
  }

  close(): Promise<void> {
    return this.opts.onClose?.() ?? Promise.resolve();
  }

  private reference(r: Reference): string {
    return r.digest ?? r.tag ?? 'latest';
  }

  /** The endpoint that serves this image: chosen by resolving the manifest when nothing was asked yet. */
  private async repo(): Promise<Repository> {
    if (!this.chosen) await this.resolve();
    return this.chosen!.repo;
  }

  /** containers/image's newImageSource, for each short-name candidate in order: the first endpoint that answers. */
  private async choose(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const conf = await this.client.registries();
    const { candidates } = resolveShortName(conf, this.ref);
    const failures: Array<{ endpoint: string; error: unknown }> = [];
    const asked = this.name;
    for (const logical of candidates) {
      for (const src of pullSources(conf, logical)) {
        const endpoint = formatReference(src.ref);
        if (src.blockedBy) {
          failures.push({ endpoint, error: blockedError(src.blockedBy, endpoint, 'pull') });
          continue;
        }
        try {
          const repo = this.client.repository(src.ref.registry, src.ref.repository, { insecure: src.insecure });
          const top = await repo.resolve(this.reference(src.ref));
          this.chosen = { repo, logical: qualified(logical), endpoint: src.ref, mirror: src.mirror };
          if (endpoint !== asked || src.mirror) this.opts.onProgress?.({ type: 'pull-source', image: asked, endpoint, mirror: src.mirror });
          return top;
        } catch (e) {
          if (this.opts.signal?.aborted) throw e;
          failures.push({ endpoint, error: e });
        }
      }
    }
    throw unionError(failures);
  }
}

/**
 * One error for every endpoint that failed: the last one's (the origin of the last name tried, as containers/image
 * reports it), its code and steps kept, the others named after it.
 */
function unionError(failures: Array<{ endpoint: string; error: unknown }>): unknown {
  const last = failures[failures.length - 1]!;
  if (failures.length === 1 || !(last.error instanceof S2IError)) return last.error;
  const others = failures.slice(0, -1).map((f) => `${f.endpoint}: ${brief(f.error)}`);
  const e = new S2IError(last.error.code, `${brief(last.error)} (also tried ${others.join('; ')})`, { cause: last.error });
  e.steps.push(...last.error.steps);
  return e;
}

export class RegistryDestination implements ImageDestination, Mounter {
  readonly transport: TransportName = 'docker';
  readonly accepts: ImageFormat[] = ['docker', 'oci'];
  readonly acceptsIndex = true;
  readonly tag: string | undefined;
  /** Blobs this small go as one POST + PUT (registry/blob-upload.ts): two round trips, where HEAD first makes three. */
  readonly smallUploadMax = WHOLE_UPLOAD_MAX;
  readonly name: string;
  /** Where the image goes (registries.conf's location for its name), for mounts from the same registry. */
  readonly registry: { host: string; repository: string };
  private readonly repo: Repository;

  private constructor(
    private readonly client: RegistryClient,
    readonly ref: Reference,
    target: { ref: Reference; insecure: boolean },
    private readonly onClose: () => Promise<void>,
  ) {
    this.name = formatReference(qualified(ref));
    this.tag = ref.tag ?? ref.digest;
    this.registry = { host: target.ref.registry, repository: target.ref.repository };
    this.repo = client.repository(target.ref.registry, target.ref.repository, { insecure: target.insecure });
  }

  /** The destination `ref` names, at the location registries.conf maps it to (refused when blocked). */
  static async open(client: RegistryClient, ref: Reference, opts: { onClose?: () => Promise<void>; onProgress?: ProgressSink } = {}): Promise<RegistryDestination> {
    const target = pushTarget(await client.registries(), ref);
    const d = new RegistryDestination(client, ref, target, opts.onClose ?? (async () => {}));
    const where = formatReference(target.ref);
    if (where !== d.name) opts.onProgress?.({ type: 'log', level: 'info', message: `pushing ${d.name} to ${where} (registries.conf location)` });
    return d;
  }

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
    this.client.prepare(this.registry.host);
    return opts.uploads > 0 ? this.client.openUploadsAhead(this.registry.host, this.registry.repository, opts.uploads) : Promise.resolve();
  }

  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    return this.repo.mountBlob(desc, fromRepository);
  }

  pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    return this.repo.pushManifest(tagOrDigest, bytes, mediaType);
  }

  /** Whether the registry indexes manifests by `subject` (the referrers API); else writers keep the tag schema. */
  hasReferrersApi(digest: string): Promise<boolean> {
    return this.repo.hasReferrersApi(digest);
  }

  /** What refers to `digest` here: the referrers API, else the referrers tag schema index (none: []). */
  referrers(digest: string): Promise<Descriptor[]> {
    return this.repo.referrers(digest);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
