// Pulling an image (builder, previous image, runtime image): manifest (index → platform), config, and every layer
// unpacked once into the layer cache. The image may come from a registry (pull policies, the tag remembered in
// the local store) or from any other transport (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
// `docker-archive:FILE[:REF]`), which is read afresh each time. Blobs already in the store and layers already
// unpacked are never fetched again, whatever the transport.
import { Readable } from 'node:stream';
import { S2IError, tagStep } from '../errors.js';
import type { Descriptor, ImageConfig, ImageFormat, ImageManifest, Platform } from '../oci/types.js';
import { formatAsTyped, formatReference, parseReference, type Reference } from '../oci/reference.js';
import { localName } from '../store/local-images.js';
import { LayerCountError, type ResolvedImage } from '../image/image.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import { openSource } from '../transport/open.js';
import { pullCandidates, RegistrySource } from '../transport/registry.js';
import { formatImageLocation, parseImageLocation, type ImageLocation } from '../transport/parse.js';
import { resolveImage, resolveTop } from '../transport/resolve-image.js';
import type { ImageSource, PulledFrom } from '../transport/types.js';
import { storeDestination, type LayerSink } from '../transport/store-destination.js';
import { writeImage, type WriteBlob } from '../transport/write-image.js';
import type { Engine } from './context.js';
import { localImages } from './local-images.js';
import { storeFirst } from './store-first.js';
import { checkPolicy } from './policy-check.js';

export type PullPolicy = 'always' | 'if-not-present' | 'never';

export interface PulledLayer {
  blob: Descriptor;
  diffID: string;
  /** Unpacked layer dir (an overlay lower dir). */
  dir: string;
}

export interface PulledImage {
  /** The registry reference; for other transports, a stand-in (`localhost/<transport>:latest`) used only in messages. */
  ref: Reference;
  /** Where it was read from. */
  location: ImageLocation;
  /** `location` as the user would write it (docker:// references without the prefix, as before). */
  name: string;
  format: ImageFormat;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  configDescriptor: Descriptor;
  configBytes: Buffer;
  config: ImageConfig;
  layers: PulledLayer[];
  /** The registry source it came from (blobs not in the store are read there; cross-repo mounts), when it came from a registry. */
  source?: ImageSource;
  /** The endpoint that served the manifest when the registry was asked (registries.conf: a mirror, a location). */
  pulledFrom?: PulledFrom;
}

export interface PullOptions {
  platform?: Platform;
  policy?: PullPolicy;
  /** Only resolve manifest + config; do not unpack layers. */
  metadataOnly?: boolean;
  /**
   * With `metadataOnly`, for a source that is not a registry: still copy the layer blobs into the store (so the
   * image can be pushed or unpacked after the source is closed). Default true; false for a config-only look.
   */
  keepBlobs?: boolean;
}

/** Anything blobs can be read from (an ImageSource, or a test's stand-in). */
export interface BlobFetcher {
  fetchBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): Promise<Readable>;
}

/** Where an image lives: a registry Reference, a parsed location, or a location string (`oci:DIR:TAG`, a bare REF, …). */
export type ImageWhere = Reference | ImageLocation | string;

export function toLocation(where: ImageWhere): ImageLocation {
  if (typeof where === 'string') return parseImageLocation(where);
  if ('transport' in where) return where;
  return { transport: 'docker', ref: where };
}

/** How messages and labels name a location: registry references as before (no `docker://`), others in full. */
export function locationName(l: ImageLocation): string {
  if (l.transport === 'local') return l.name ?? '<none>';
  return l.transport === 'docker' ? formatReference(l.ref) : formatImageLocation(l);
}

/** The name a build's result is stored and labelled under; undefined: unnamed (a build without a TAG). */
export function resultNameOf(target: ImageLocation): string | undefined {
  return target.transport === 'local' && target.name === undefined ? undefined : locationName(target);
}

/** The name an image is recorded under in the local store's index.json. */
export function storeName(ref: Reference): string {
  return formatReference(ref);
}

/**
 * Pulls the image at `where` (see ImageWhere). Registry images follow `policy`; images in layouts and archives
 * are always read from the file (the policy does not apply: there is nothing remote to avoid).
 */
export async function pullImage(engine: Engine, where: ImageWhere, opts: PullOptions = {}): Promise<PulledImage> {
  const location = toLocation(where);
  if (location.transport !== 'docker') return pullFromSource(engine, location, opts);
  const asked = location.ref;
  const policy = opts.policy ?? 'if-not-present';
  const want = opts.platform ?? hostPlatform();
  // A short name is shown as typed until registries.conf resolved it (transport/registry.ts).
  const shown = formatAsTyped(asked);
  try {
    // A short name is first a local image (`myapp` → localhost/myapp:TAG, as podman looks it up); then the names it
    // stands for (one for a qualified name): the store is asked for each in order, unless the policy is always,
    // and the registry only when the store has none of them.
    let local: { descriptor: Descriptor; bytes: Buffer } | undefined;
    const localFirst = policy !== 'always' && asked.shortName !== undefined && asked.digest === undefined ? parseReference(localName(shown)) : undefined;
    if (localFirst) local = await localManifest(engine, localFirst);
    const candidates = local && localFirst ? [localFirst] : await pullCandidates(engine.client, asked);
    let ref = candidates.length === 1 ? candidates[0]! : asked;
    for (const c of policy === 'always' || local ? [] : candidates) {
      if ((local = await localManifest(engine, c))) {
        ref = c;
        break;
      }
    }
    if (!local && policy === 'never') {
      throw new S2IError('ERR_IMAGE_NOT_PRESENT', `image ${shown} is not in the local store and --pull-policy is never: pull it first or use --pull-policy if-not-present`);
    }
    let repo: RegistrySource | undefined;
    const remote = (): RegistrySource => (repo ??= new RegistrySource(engine.client, ref, { onProgress: engine.onProgress, signal: engine.signal }));
    // A local image (`myapp` → localhost/myapp:TAG) has no registry behind it: a blob the store lacks (a base layer
    // never fetched) comes from the base it records, through the local transport (transport/local-store.ts).
    let localSource: Promise<ImageSource> | undefined;
    const ownLocal = local !== undefined && localFirst !== undefined && ref === localFirst;
    const fromLocal = (): Promise<ImageSource> =>
      (localSource ??= openSource({ transport: 'local', name: storeName(ref) }, { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root, local: localImages(engine.root, engine.store) }));
    // The registry behind the store: what the store has is read from it, the pull policy decided the rest.
    const registry: ImageSource = {
      name: shown,
      transport: 'docker',
      resolve: async () => local ?? (await remote().resolve()),
      fetchManifest: (desc) => remote().fetchManifest(desc),
      fetchBlob: async (desc, o) => (ownLocal ? (await fromLocal()).fetchBlob(desc, o) : remote().fetchBlob(desc, o)),
      close: async () => {},
    };
    const source = storeFirst(engine.store, registry, {
      manifests: true,
      ...(policy === 'never'
        ? { offline: () => new S2IError('ERR_IMAGE_NOT_PRESENT', `the ${formatPlatform(want)} manifest of ${shown} is not in the local store`) }
        : {}),
    });
    const top = await resolveTop(source);
    // The name that answered: what the store keeps it under.
    ref = repo?.resolvedRef ?? ref;
    // The signature policy before anything else of the image is read: a refused image is not stored or unpacked.
    await checkPolicy(engine, { name: shown, transport: 'docker', ref, manifestDigest: top.descriptor.digest, where: repo?.registry ?? { host: ref.registry, repository: ref.repository } });
    const name = storeName(ref);
    const resolved = await resolveImage(source, { top, platform: want, signal: engine.signal });
    // The config and the top manifest (tagged unless pulled by digest) into the store; the layers follow below.
    const into = storeDestination(engine.store, { name, ...(ref.digest ? {} : { tag: name }), signal: engine.signal });
    await writeImage(into, { blobs: [configBlob(resolved)], manifest: { bytes: top.bytes, mediaType: top.descriptor.mediaType, digest: top.descriptor.digest } });
    const image: PulledImage = {
      ...imageOf(location, resolved),
      name,
      ref,
      ...(ownLocal ? { source: registry } : repo || policy !== 'never' ? { source: remote() } : {}),
      ...(repo?.pulledFrom ? { pulledFrom: repo.pulledFrom } : {}),
    };
    if (opts.metadataOnly) return image;
    image.layers = await unpackLayers(engine, image.manifest.layers, image.config.rootfs.diff_ids, () => registry);
    return image;
  } catch (e) {
    // What fails here fails the pull of `shown` (exit code and wording: cli/error-table.ts).
    throw tagStep('pull', e, shown);
  }
}

/** `oci:`, `oci-archive:`, `docker-archive:`: manifest and config read from the file, blobs copied into the store. */
async function pullFromSource(engine: Engine, location: ImageLocation, opts: PullOptions): Promise<PulledImage> {
  const name = formatImageLocation(location);
  let src: ImageSource | undefined;
  try {
    src = await openSource(location, { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root, local: localImages(engine.root, engine.store) });
    const top = await resolveTop(src);
    await checkPolicy(engine, { name, transport: location.transport, manifestDigest: top.descriptor.digest });
    const resolved = await resolveImage(storeFirst(engine.store, src), { top, ...(opts.platform ? { platform: opts.platform } : {}), signal: engine.signal });
    const image: PulledImage = {
      ...imageOf(location, resolved),
      ref: { registry: 'localhost', repository: location.transport, tag: 'latest' },
    };
    const source = src;
    const manifest = image.manifest;
    // The config, and with a metadata-only pull that keeps them, the layer blobs (not unpacked) into the store.
    const keep = opts.metadataOnly && opts.keepBlobs !== false ? manifest.layers : [];
    await writeImage(storeDestination(engine.store, { name, signal: engine.signal }), {
      blobs: [configBlob(resolved), ...keep.map((blob) => ({ descriptor: blob, open: () => fetchLayerBlob(source, blob, engine.signal) }))],
    });
    if (!opts.metadataOnly) {
      image.layers = await unpackLayers(engine, manifest.layers, image.config.rootfs.diff_ids, () => source);
      // A layer already unpacked from another blob (the same diffID pulled gzip from a registry; an archive's
      // plain tar) was not copied: the build needs this image's own blobs once the file is closed.
      const missing: Descriptor[] = [];
      for (const l of manifest.layers) if (!(await engine.store.has(l.digest))) missing.push(l);
      if (missing.length) {
        await writeImage(storeDestination(engine.store, { name, signal: engine.signal }), {
          blobs: missing.map((blob) => ({ descriptor: blob, open: () => fetchLayerBlob(source, blob, engine.signal) })),
        });
      }
    }
    return image;
  } catch (e) {
    throw tagStep('pull', e, name);
  } finally {
    await src?.close();
  }
}

async function fetchLayerBlob(from: BlobFetcher, blob: Descriptor, signal: AbortSignal): Promise<Readable> {
  if (blob.urls?.length) {
    // A layout may hold a non-distributable blob itself; only when it does not are the URLs the sole source.
    try {
      return await from.fetchBlob(blob, { signal });
    } catch (e) {
      throw new S2IError('ERR_FOREIGN_LAYER', `layer ${blob.digest} is a foreign layer hosted at ${blob.urls[0]}: foreign layers are not fetched; use an image without them`, {
        cause: e,
        step: 'pull',
      });
    }
  }
  return from.fetchBlob(blob, { signal });
}

/** The parts of a PulledImage every transport shares; the layers are checked against the config's diffIDs. */
function imageOf(location: ImageLocation, image: ResolvedImage): Omit<PulledImage, 'ref'> {
  image.layers();
  return {
    location,
    name: image.name,
    format: image.manifest.format,
    manifestDescriptor: image.descriptor,
    manifest: image.manifest.manifest,
    configDescriptor: image.config.descriptor,
    configBytes: image.config.bytes,
    config: image.config.config,
    layers: [],
  };
}

async function localManifest(engine: Engine, ref: Reference): Promise<{ descriptor: Descriptor; bytes: Buffer } | undefined> {
  const desc = ref.digest ? { mediaType: '', digest: ref.digest, size: 0 } : await engine.store.resolveTag(storeName(ref));
  if (!desc || !(await engine.store.has(desc.digest))) return undefined;
  const bytes = await engine.store.readBytes(desc.digest, MAX_MANIFEST_BYTES);
  return { descriptor: { ...desc, size: bytes.length }, bytes };
}

/** The config's bytes as a blob for the writer (already read and verified by the resolve). */
function configBlob(image: ResolvedImage): WriteBlob {
  const bytes = image.config.bytes;
  return { descriptor: image.config.descriptor, open: (offset) => Readable.from([bytes.subarray(offset)]) };
}

/**
 * Unpacks layers (at most 4 at once), fetching only blobs whose diffID is not in the cache yet. `remote` gives
 * where blobs missing from the store are read (an ImageSource); without it they must be in the store.
 * A fetched blob is written into the store by the one writer (transport/write-image.ts) through the store
 * destination, which tees it into the layer cache: stored and unpacked in one pass.
 */
export async function unpackLayers(
  engine: Engine,
  blobs: Descriptor[],
  diffIDs: string[],
  remote?: () => BlobFetcher,
): Promise<PulledLayer[]> {
  const lease = await engine.cache.lease(diffIDs);
  try {
    const diffIDOf = new Map(blobs.map((b, i) => [b.digest, diffIDs[i]!]));
    const unpacked = new Map<string, { diffID: string; dir: string }>();
    const ensure = async (blob: Descriptor, open: () => Promise<Readable>, expectedDiffID = diffIDOf.get(blob.digest)!): Promise<void> => {
      const r = await engine.cache.ensure(blob, open, {
        expectedDiffID,
        signal: engine.signal,
        onWarning: (m) => engine.onProgress({ type: 'log', level: 'warn', message: m }),
      });
      unpacked.set(blob.digest, { diffID: r.diffID, dir: r.dir });
    };
    // The store's copy when it has one; else the source's bytes (teed into the store by the store destination).
    const storedOr = (blob: Descriptor, fetch?: () => Promise<Readable>) => async (): Promise<Readable> => {
      if (await engine.store.has(blob.digest)) return engine.store.open(blob.digest);
      if (!fetch) throw new S2IError('ERR_BLOB_MISSING', `layer ${blob.digest} is not in the local store and has no source; pull the image again`, { step: 'pull' });
      return fetch();
    };
    const layers: LayerSink = {
      digests: new Set(diffIDOf.keys()),
      async have(blob) {
        const diffID = diffIDOf.get(blob.digest)!;
        if (await engine.cache.has(diffID)) {
          engine.onProgress({ type: 'blob', op: 'pull', digest: blob.digest, size: blob.size, done: blob.size, state: 'cached' });
          unpacked.set(blob.digest, { diffID, dir: engine.cache.dir(diffID) });
          return true;
        }
        if (remote) return false;
        await ensure(blob, storedOr(blob));
        return true;
      },
      unpack: (blob, bytes) => ensure(blob, storedOr(blob, bytes)),
    };
    const into = storeDestination(engine.store, { name: 'the local store', layers, signal: engine.signal });
    await writeImage(into, { blobs: blobs.map((blob) => ({ descriptor: blob, open: async () => fetchLayerBlob(remote!(), blob, engine.signal) })) }, { concurrency: 4 });
    const out: PulledLayer[] = [];
    for (const [i, blob] of blobs.entries()) {
      // The writer takes each digest once: a blob listed twice with two diffIDs is checked again for the other one.
      if (unpacked.get(blob.digest)!.diffID !== diffIDs[i]) {
        const from = remote;
        await ensure(blob, storedOr(blob, from ? () => fetchLayerBlob(from(), blob, engine.signal) : undefined), diffIDs[i]!);
      }
      out.push({ blob, ...unpacked.get(blob.digest)! });
    }
    return out;
  } finally {
    // The lease is held by the caller for the build's duration through its own lease; this one only covers the pull.
    await lease.release();
  }
}
