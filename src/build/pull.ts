// Pulling an image (builder, previous image, runtime image): manifest (index → platform), config, and every layer
// unpacked once into the layer cache. The image may come from a registry (pull policies, the tag remembered in
// the local store) or from any other transport (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
// `docker-archive:FILE[:REF]`), which is read afresh each time. Blobs already in the store and layers already
// unpacked are never fetched again, whatever the transport.
import { PassThrough, type Readable } from 'node:stream';
import { S2IError, tagStep } from '../errors.js';
import type { Descriptor, ImageConfig, ImageFormat, ImageManifest, Platform } from '../oci/types.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import type { Repository } from '../registry/client.js';
import { openSource } from '../transport/open.js';
import { formatImageLocation, parseImageLocation, type ImageLocation } from '../transport/parse.js';
import { resolveImage, resolveTop, type ResolvedImage } from '../transport/resolve-image.js';
import type { ImageSource } from '../transport/types.js';
import { park } from '../transport/verify.js';
import type { Engine } from './context.js';
import { storeFirst } from './store-first.js';
import { mapLimit } from '../registry/parallel.js';

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
  /** The registry repository it came from (for cross-repo mounts), when it came from a registry. */
  repository?: Repository;
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

/** Anything blobs can be read from: a registry Repository or an ImageSource. */
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
  return l.transport === 'docker' ? formatReference(l.ref) : formatImageLocation(l);
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
  const ref = location.ref;
  const policy = opts.policy ?? 'if-not-present';
  const name = storeName(ref);
  let repo: Repository | undefined;
  const remote = (): Repository => (repo ??= engine.client.repository(ref.registry, ref.repository));
  const want = opts.platform ?? hostPlatform();
  // The registry behind the store: what the store has is read from it, the pull policy decides the rest.
  const registry: ImageSource = {
    name,
    transport: 'docker',
    async resolve() {
      const local = policy === 'always' ? undefined : await localManifest(engine, ref);
      if (!local && policy === 'never') {
        throw new S2IError('ERR_IMAGE_NOT_PRESENT', `image ${name} is not in the local store and --pull-policy is never: pull it first or use --pull-policy if-not-present`);
      }
      return local ?? (await remote().resolve(ref.digest ?? ref.tag ?? 'latest'));
    },
    fetchManifest: (desc) => remote().fetchManifest(desc),
    fetchBlob: (desc, o) => remote().fetchBlob(desc, o),
    close: async () => {},
  };
  const source = storeFirst(engine.store, registry, {
    manifests: true,
    ...(policy === 'never'
      ? { offline: () => new S2IError('ERR_IMAGE_NOT_PRESENT', `the ${formatPlatform(want)} manifest of ${name} is not in the local store`) }
      : {}),
  });
  try {
    const top = await resolveTop(source);
    await engine.store.putBytes(top.bytes, top.descriptor.mediaType);
    const resolved = await resolveImage(source, { top, platform: want, signal: engine.signal });
    if (!ref.digest) await engine.store.tag(top.descriptor, name);
    if (!(await engine.store.has(resolved.config.descriptor.digest))) await engine.store.putBytes(resolved.config.bytes, resolved.config.descriptor.mediaType);
    const image: PulledImage = {
      ...imageOf(location, resolved),
      ref,
      ...(repo || policy !== 'never' ? { repository: remote() } : {}),
    };
    if (opts.metadataOnly) return image;
    image.layers = await unpackLayers(engine, image.manifest.layers, image.config.rootfs.diff_ids, () => remote());
    return image;
  } catch (e) {
    // What fails here fails the pull of `name` (exit code and wording: cli/error-table.ts).
    throw tagStep('pull', e, name);
  }
}

/**
 * One pass over a downloaded blob: the same bytes go to the blob store and to the unpacker at once, at the pace of
 * the slower one. Each side verifies the digest itself (the store before its link, the layer cache before its
 * rename, together with the diffID), so neither makes anything visible from bytes the other would refuse. A
 * side that stops early (the store already has the blob, the unpack fails) is unpiped, and the other one goes on.
 */
function teeBlob(src: Readable): { toStore: PassThrough; toCache: PassThrough } {
  // Parked: the store may still wait for its lock when the source fails (a blob that does not match its
  // descriptor); the error then waits in `errored` for its pipeline instead of crashing the process.
  const toStore = park(new PassThrough());
  const toCache = park(new PassThrough());
  let open = 2;
  for (const side of [toStore, toCache]) {
    side.once('close', () => {
      src.unpipe(side);
      // Nobody reads any more: release the source (a registry response body must be consumed or destroyed).
      if (--open === 0 && !src.readableEnded) src.destroy();
    });
    src.pipe(side);
  }
  const fail = (e: Error): void => {
    toStore.destroy(e);
    toCache.destroy(e);
  };
  src.on('error', fail);
  if (src.errored) fail(src.errored);
  return { toStore, toCache };
}

/** `oci:`, `oci-archive:`, `docker-archive:`: manifest and config read from the file, blobs copied into the store. */
async function pullFromSource(engine: Engine, location: ImageLocation, opts: PullOptions): Promise<PulledImage> {
  const name = formatImageLocation(location);
  let src: ImageSource | undefined;
  try {
    src = await openSource(location, { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root });
    const resolved = await resolveImage(storeFirst(engine.store, src), { ...(opts.platform ? { platform: opts.platform } : {}), signal: engine.signal });
    const image: PulledImage = {
      ...imageOf(location, resolved),
      ref: { registry: 'localhost', repository: location.transport, tag: 'latest' },
    };
    await engine.store.putBytes(resolved.config.bytes, resolved.config.descriptor.mediaType);
    const source = src;
    const manifest = image.manifest;
    if (!opts.metadataOnly) {
      image.layers = await unpackLayers(engine, manifest.layers, image.config.rootfs.diff_ids, () => source);
    } else if (opts.keepBlobs !== false) {
      await mapLimit(manifest.layers, 4, async (blob) => {
        if (!(await engine.store.has(blob.digest))) await engine.store.put(blob, await fetchLayerBlob(source, blob, engine.signal), { signal: engine.signal });
      });
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

/**
 * Unpacks layers (at most 4 at once), fetching only blobs whose diffID is not in the cache yet. `remote` gives
 * where blobs missing from the store are read (a Repository or an ImageSource); without it they must be in the store.
 */
export async function unpackLayers(
  engine: Engine,
  blobs: Descriptor[],
  diffIDs: string[],
  remote?: () => BlobFetcher,
): Promise<PulledLayer[]> {
  const lease = await engine.cache.lease(diffIDs);
  try {
    return await mapLimit(blobs, 4, async (blob, i) => {
      const diffID = diffIDs[i]!;
      if (await engine.cache.has(diffID)) {
        engine.onProgress({ type: 'blob', op: 'pull', digest: blob.digest, size: blob.size, done: blob.size, state: 'cached' });
        return { blob, diffID, dir: engine.cache.dir(diffID) };
      }
      let storing: Promise<void> | undefined;
      const open = async (): Promise<Readable> => {
        if (await engine.store.has(blob.digest)) return engine.store.open(blob.digest);
        if (!remote) throw new S2IError('ERR_BLOB_MISSING', `layer ${blob.digest} is not in the local store and has no source; pull the image again`, { step: 'pull' });
        const tee = teeBlob(await fetchLayerBlob(remote(), blob, engine.signal));
        storing = engine.store.put(blob, tee.toStore, { signal: engine.signal });
        // A blob the store refuses (digest mismatch) fails the unpack too; the cache checks the digest itself as well.
        storing.catch((e: unknown) => tee.toCache.destroy(e as Error));
        return tee.toCache;
      };
      let r;
      try {
        r = await engine.cache.ensure(blob, open, { expectedDiffID: diffID, signal: engine.signal, onWarning: (m) => engine.onProgress({ type: 'log', level: 'warn', message: m }) });
      } catch (e) {
        // Never leave the store write running behind a failed unpack; when the store refused the bytes (digest
        // mismatch), that is the real cause and wins over whatever the decompressor made of them.
        const storeError = storing ? await storing.then(() => undefined, (x: unknown) => x) : undefined;
        throw storeError ?? e;
      }
      if (storing) await storing;
      return { blob, diffID: r.diffID, dir: r.dir };
    });
  } finally {
    // The lease is held by the caller for the build's duration through its own lease; this one only covers the pull.
    await lease.release();
  }
}
