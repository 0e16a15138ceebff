// Copying a manifest or index and everything it names, byte for byte: signatures, attestations, SBOMs and other
// artifacts, and the referrers indexes that list them (distribution-spec v1.1 "Referrers Tag Schema"). None of
// these has an image config to read or a platform to pick, and converting one would break the digest its
// signature or `subject` names, so nothing is resolved or converted here (that is copyImage's job, copy.ts):
// the graph is read through the source (each manifest digest-checked by it), then written by the one writer,
// children before the index that names them and the top last.
import type { ProgressSink } from '../events.js';
import { isForeignLayerMediaType } from '../image/manifest.js';
import { parseManifestDocument } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { S2IError } from '../errors.js';
import type { ImageDestination, ImageSource } from './types.js';
import { skipBytes } from './verify.js';
import { writeImage, type WriteManifest, type WriteStats } from './write-image.js';

/** Manifests in one graph at most (an index of indexes of …): a hostile source cannot keep the walk going. */
const MAX_GRAPH_MANIFESTS = 1000;
const MAX_GRAPH_DEPTH = 8;

export interface ManifestGraph {
  /** Every manifest below the top, each after the manifests it names (the order a registry accepts them in). */
  manifests: WriteManifest[];
  /** Every blob the graph names (configs and layers), each once. */
  blobs: Descriptor[];
}

/**
 * The manifests and blobs `top` names, recursively: an index's entries, a manifest's config and layers (its
 * `subject` is not followed: it names the image the artifact is about, not a part of it). `fetch` reads a
 * manifest by descriptor and is trusted to check its digest.
 */
export async function walkGraph(top: { bytes: Buffer; mediaType?: string }, fetch: (d: Descriptor) => Promise<Buffer>): Promise<ManifestGraph> {
  const manifests: WriteManifest[] = [];
  const blobs = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const visit = async (bytes: Buffer, mediaType: string | undefined, depth: number): Promise<void> => {
    const parsed = parseManifestDocument(bytes, mediaType);
    if (parsed.kind === 'manifest') {
      for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) if (!blobs.has(d.digest)) blobs.set(d.digest, d);
      return;
    }
    for (const entry of parsed.index.manifests) {
      if (seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      if (seen.size > MAX_GRAPH_MANIFESTS || depth >= MAX_GRAPH_DEPTH) {
        throw new S2IError('ERR_MANIFEST_INVALID', `the index names more than ${MAX_GRAPH_MANIFESTS} manifests or nests deeper than ${MAX_GRAPH_DEPTH}; refusing to follow it`);
      }
      const child = await fetch(entry);
      await visit(child, entry.mediaType, depth + 1);
      manifests.push({ bytes: child, mediaType: entry.mediaType, digest: entry.digest });
    }
  };
  await visit(top.bytes, top.mediaType, 0);
  return { manifests, blobs: [...blobs.values()] };
}

export interface AsIsOptions {
  /**
   * Copy what these name instead of what `top` names (a referrers index merged with entries the destination
   * has already: only the new ones are read from the source).
   */
  walk?: Descriptor[];
  /** Blobs in flight at once. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

/**
 * Writes `top` (a manifest or index, by the bytes given) and everything it names from `src` to `dst`, unchanged:
 * under the destination's tag, else by digest. Foreign layers stay out, as copyImage keeps them out by default.
 */
export async function copyAsIs(src: ImageSource, dst: ImageDestination, top: WriteManifest, opts: AsIsOptions = {}): Promise<WriteStats> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const fetch = (d: Descriptor) => src.fetchManifest(d);
  const graph = opts.walk
    ? await walkGraph({ bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: opts.walk })), mediaType: MediaType.ociIndex }, fetch)
    : await walkGraph(top, fetch);
  return writeImage(
    dst,
    {
      blobs: graph.blobs.map((d) => ({
        descriptor: d,
        open: async (offset: number) => skipBytes(await src.fetchBlob(d, signal), offset),
        mountable: true,
        ...(isForeignLayerMediaType(d.mediaType) ? { skip: `foreign layer ${d.digest} not copied` } : {}),
      })),
      children: graph.manifests,
      manifest: top,
    },
    {
      ...(src.registry ? { mountFrom: src.registry } : {}),
      concurrency: opts.concurrency ?? 4,
      ...signal,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    },
  );
}
