// `local:NAME|ID`: an image of the engine's local store (an OCI layout under <root>/oci, spec/store-format.md) as an
// ImageSource. The store itself is reached through `TransportContext.local` (pipeline/local-images.ts looks the name
// or ID up and gives the store as a destination): transport/ does not import store/.
//
// A local image's base layers may never have been stored whole (a build on a runtime image without
// assemble-runtime appends its layer without fetching the runtime image's; a layer unpacked from another blob of
// the same diffID). The image records where its base came from (org.opencontainers.image.base.name/base.digest:
// the manifest's annotations, a Docker image's config labels, image/annotations.ts): a blob the store lacks is read
// from that image, by digest, and a destination on the base's registry mounts it from there (`registry`,
// `mountable`). When it cannot be read there either: one line naming the layer and what to do.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { Annotation } from '../image/annotations.js';
import { isValidDigest } from '../oci/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseImageConfig, parseManifestDocument } from '../oci/manifest.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { OciLayout } from './oci-layout.js';
import type { ImageSource, LocalImages, TransportContext, TransportName } from './types.js';

/** The context's local store, or a one-line refusal where none is given. */
export function localImagesOf(ctx: TransportContext, name: string): LocalImages {
  if (ctx.local) return ctx.local;
  throw new S2IError('ERR_USAGE', `${name}: local images cannot be used here`, { step: 'usage' });
}

/** Opens a registry image (the base a local image records) as a source. */
type BaseOpener = (ref: Reference) => Promise<ImageSource>;

interface Base {
  /** The base by digest. */
  ref: Reference;
  /** Blobs of the local image that the store lacks: only these are read from the base, or mounted from it. */
  missing: ReadonlySet<string>;
}

export async function openLocalSource(local: LocalImages, nameOrId: string, name: string, openBase?: BaseOpener): Promise<ImageSource> {
  const found = await local.find(nameOrId);
  const layout = await OciLayout.openExisting(found.layoutDir);
  const top = await layout.readSmall(found.descriptor, MAX_MANIFEST_BYTES);
  const base = openBase ? await recordedBase(layout, found.descriptor, top) : undefined;
  return new LocalStoreSource(layout, found.descriptor, top, name, base && openBase ? { ...base, open: openBase } : undefined);
}

/** The image's recorded registry base, when the store lacks some of its blobs (else undefined: nothing to read elsewhere). */
async function recordedBase(layout: OciLayout, desc: Descriptor, top: Buffer): Promise<Base | undefined> {
  const parsed = parseManifestDocument(top, desc.mediaType);
  if (parsed.kind !== 'manifest') return undefined;
  const m = parsed.manifest;
  const missing = new Set<string>();
  for (const d of [m.config, ...m.layers]) if (!(await layout.has(d))) missing.add(d.digest);
  if (missing.size === 0) return undefined;
  let facts: Record<string, string> = m.annotations ?? {};
  if (!facts[Annotation.baseName] && !missing.has(m.config.digest)) {
    facts = parseImageConfig(await layout.readSmall(m.config, MAX_CONFIG_BYTES)).config?.Labels ?? {};
  }
  const baseName = facts[Annotation.baseName];
  const baseDigest = facts[Annotation.baseDigest];
  if (!baseName || !baseDigest || !isValidDigest(baseDigest)) return undefined;
  let ref: Reference;
  try {
    ref = parseReference(baseName);
  } catch {
    return undefined; // a base out of a file (oci:…, an archive): nowhere to read from
  }
  if (ref.shortName !== undefined) return undefined;
  const { tag: _tag, ...rest } = ref;
  return { ref: { ...rest, digest: baseDigest }, missing };
}

class LocalStoreSource implements ImageSource {
  readonly transport: TransportName = 'local';
  readonly registry?: { host: string; repository: string };
  private baseSource: Promise<ImageSource> | undefined;

  constructor(
    private readonly layout: OciLayout,
    private readonly top: Descriptor,
    private readonly topBytes: Buffer,
    readonly name: string,
    private readonly base: (Base & { open: BaseOpener }) | undefined,
  ) {
    if (base) this.registry = { host: base.ref.registry, repository: base.ref.repository };
  }

  resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return Promise.resolve({ descriptor: this.top, bytes: this.topBytes });
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return this.layout.readSmall(desc, MAX_MANIFEST_BYTES);
  }

  /** Only the blobs the store lacks are the base's to give: a destination on its registry mounts them. */
  mountable(digest: string): boolean {
    return this.base?.missing.has(digest) === true;
  }

  async fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const base = this.base;
    if (!base?.missing.has(desc.digest)) {
      if (base || (await this.layout.has(desc))) return this.layout.open(desc);
      throw new S2IError('ERR_BLOB_MISSING', `layer ${desc.digest} of ${this.name} is not in the local store, and the image records no registry base to read it from: pull its base image, then build it again`);
    }
    const where = formatReference(base.ref);
    try {
      this.baseSource ??= base.open(base.ref);
      return await (await this.baseSource).fetchBlob(desc, opts);
    } catch (e) {
      if ((e as { name?: string }).name === 'AbortError') throw e;
      const why = e instanceof Error ? e.message.replace(/\s+/g, ' ').slice(0, 300) : String(e);
      throw new S2IError(
        'ERR_BLOB_MISSING',
        `layer ${desc.digest} of ${this.name} is not in the local store, and its base ${where} cannot give it (${why}): when ${base.ref.registry} is reachable, push again or run \`oci-s2i pull ${where}\` first`,
        { cause: e },
      );
    }
  }

  async close(): Promise<void> {
    const s = this.baseSource;
    this.baseSource = undefined;
    if (s) await s.then((x) => x.close()).catch(() => {});
  }
}
