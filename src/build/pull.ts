// Pulling a builder image: manifest (index → platform), config, and every layer unpacked once into the layer
// cache. Blobs already in the store and layers already unpacked are never fetched again.
import type { Readable } from 'node:stream';
import { S2IError, ExitCode } from '../errors.js';
import type { Descriptor, ImageConfig, ImageFormat, ImageManifest, Platform } from '../oci/types.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { parseManifestDocument, parseImageConfig, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { selectPlatform, formatPlatform, hostPlatform } from '../oci/platform.js';
import type { Repository } from '../registry/client.js';
import type { Engine } from './context.js';
import { mapLimit } from './limit.js';

export type PullPolicy = 'always' | 'if-not-present' | 'never';

export interface PulledLayer {
  blob: Descriptor;
  diffID: string;
  /** Unpacked layer dir (an overlay lower dir). */
  dir: string;
}

export interface PulledImage {
  ref: Reference;
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
}

/** The name an image is recorded under in the local store's index.json. */
export function storeName(ref: Reference): string {
  return formatReference(ref);
}

function pullError(ref: Reference, e: unknown): unknown {
  if (e instanceof S2IError && e.exitCode === ExitCode.pull) return e;
  if (e instanceof S2IError && (e.code.startsWith('ERR_REGISTRY') || e.code === 'ERR_UNAUTHORIZED' || e.code === 'ERR_DENIED' || e.code === 'ERR_NAME_UNKNOWN')) {
    return new S2IError(e.code, `pulling ${formatReference(ref)}: ${e.message}`, { cause: e, exitCode: ExitCode.pull });
  }
  return e;
}

export async function pullImage(engine: Engine, ref: Reference, opts: PullOptions = {}): Promise<PulledImage> {
  const policy = opts.policy ?? 'if-not-present';
  const name = storeName(ref);
  let repo: Repository | undefined;
  const remote = (): Repository => (repo ??= engine.client.repository(ref.registry, ref.repository));
  try {
    const local = policy === 'always' ? undefined : await localManifest(engine, ref);
    if (!local && policy === 'never') {
      throw new S2IError('ERR_IMAGE_NOT_PRESENT', `image ${name} is not in the local store and --pull-policy is never: pull it first or use --pull-policy if-not-present`, {
        exitCode: ExitCode.pull,
      });
    }
    const top = local ?? (await remote().resolve(ref.digest ?? ref.tag ?? 'latest'));
    let parsed = parseManifestDocument(top.bytes, top.descriptor.mediaType || undefined);
    const topDescriptor: Descriptor = { mediaType: parsed.mediaType, digest: top.descriptor.digest, size: top.bytes.length };
    let manifestDescriptor = topDescriptor;
    let manifestBytes = top.bytes;
    await engine.store.putBytes(top.bytes, parsed.mediaType);
    if (parsed.kind === 'index') {
      const want = opts.platform ?? hostPlatform();
      const chosen = selectPlatform(parsed.index, want);
      if (await engine.store.has(chosen.digest)) {
        manifestBytes = await engine.store.readBytes(chosen.digest, MAX_MANIFEST_BYTES);
      } else {
        if (policy === 'never') throw new S2IError('ERR_IMAGE_NOT_PRESENT', `the ${formatPlatform(want)} manifest of ${name} is not in the local store`, { exitCode: ExitCode.pull });
        manifestBytes = await remote().fetchManifest(chosen);
        await engine.store.putBytes(manifestBytes, chosen.mediaType);
      }
      parsed = parseManifestDocument(manifestBytes, chosen.mediaType);
      if (parsed.kind !== 'manifest') {
        throw new S2IError('ERR_MANIFEST_INVALID', `the ${formatPlatform(want)} entry of ${name} is another index: nested indexes are not supported`, { exitCode: ExitCode.pull });
      }
      manifestDescriptor = { mediaType: parsed.mediaType, digest: chosen.digest, size: manifestBytes.length };
    }
    if (parsed.kind !== 'manifest') throw new Error('unreachable');
    const manifest = parsed.manifest;
    if (!ref.digest) await engine.store.tag(topDescriptor, name);

    const configDescriptor = manifest.config;
    let configBytes: Buffer;
    if (await engine.store.has(configDescriptor.digest)) {
      configBytes = await engine.store.readBytes(configDescriptor.digest, MAX_CONFIG_BYTES);
    } else {
      configBytes = await remote().fetchBlobBytes(configDescriptor, MAX_CONFIG_BYTES);
      await engine.store.putBytes(configBytes, configDescriptor.mediaType);
    }
    const config = parseImageConfig(configBytes);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new S2IError(
        'ERR_CONFIG_INVALID',
        `image ${name} is inconsistent: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids in its config; rebuild or re-push it`,
        { exitCode: ExitCode.pull },
      );
    }
    const image: PulledImage = {
      ref,
      format: parsed.format,
      manifestDescriptor,
      manifest,
      configDescriptor,
      configBytes,
      config,
      layers: [],
      ...(repo || policy !== 'never' ? { repository: remote() } : {}),
    };
    if (opts.metadataOnly) return image;
    image.layers = await unpackLayers(engine, manifest.layers, config.rootfs.diff_ids, () => remote());
    return image;
  } catch (e) {
    throw pullError(ref, e);
  }
}

async function localManifest(engine: Engine, ref: Reference): Promise<{ descriptor: Descriptor; bytes: Buffer } | undefined> {
  const desc = ref.digest ? { mediaType: '', digest: ref.digest, size: 0 } : await engine.store.resolveTag(storeName(ref));
  if (!desc || !(await engine.store.has(desc.digest))) return undefined;
  const bytes = await engine.store.readBytes(desc.digest, MAX_MANIFEST_BYTES);
  return { descriptor: { ...desc, size: bytes.length }, bytes };
}

/** Unpacks layers (at most 4 at once), fetching only blobs whose diffID is not in the cache yet. */
export async function unpackLayers(
  engine: Engine,
  blobs: Descriptor[],
  diffIDs: string[],
  remote: () => Repository,
): Promise<PulledLayer[]> {
  const lease = await engine.cache.lease(diffIDs);
  try {
    return await mapLimit(blobs, 4, async (blob, i) => {
      const diffID = diffIDs[i]!;
      if (await engine.cache.has(diffID)) {
        engine.onProgress({ type: 'blob', op: 'pull', digest: blob.digest, size: blob.size, done: blob.size, state: 'cached' });
        return { blob, diffID, dir: engine.cache.dir(diffID) };
      }
      const open = async (): Promise<Readable> => {
        if (!(await engine.store.has(blob.digest))) {
          if (blob.urls?.length) {
            throw new S2IError('ERR_FOREIGN_LAYER', `layer ${blob.digest} is a foreign layer hosted at ${blob.urls[0]}: foreign layers are not fetched; use an image without them`, { exitCode: ExitCode.pull });
          }
          const stream = await remote().fetchBlob(blob, { signal: engine.signal });
          await engine.store.put(blob, stream, { signal: engine.signal });
        }
        return engine.store.open(blob.digest);
      };
      const r = await engine.cache.ensure(blob, open, { expectedDiffID: diffID, signal: engine.signal, onWarning: (m) => engine.onProgress({ type: 'log', level: 'warn', message: m }) });
      return { blob, diffID: r.diffID, dir: r.dir };
    });
  } finally {
    // The lease is held by the caller for the build's duration through its own lease; this one only covers the pull.
    await lease.release();
  }
}
