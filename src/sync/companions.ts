// What travels with an image: the manifests that refer to it (signatures, attestations, SBOMs; distribution-spec
// v1.1 `subject` and "Listing Referrers") and cosign's tags. Found per manifest digest the sync wrote:
//   - referrers: the source's referrers API, else its referrers tag schema index (`sha256-<hex>`); written to the
//     destination as that tag-schema index, merged with the one the destination has, after the manifests it names
//     (so a registry without the API, and the layout, list them the way clients fall back to; a registry with the
//     API indexes the manifests by their `subject` as well);
//   - cosign: `sha256-<hex>.sig`, `.att`, `.sbom`, copied under the same tag.
// Each is copied byte for byte (transport/copy-as-is.ts): a converted signature would no longer verify. What refers
// to a referrer (a signature of an SBOM) is followed too, a few levels deep.
import type { ProgressSink } from '../events.js';
import { sha256Digest } from '../oci/digest.js';
import { parseManifestDocument } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { copyAsIs } from '../transport/copy-as-is.js';
import type { ImageSource } from '../transport/types.js';
import { cosignTags, destinationName, referrersTag, type NamingOptions, type SyncDestination } from './names.js';
import type { PlannedImage } from './sources.js';
import type { SyncTarget } from './targets.js';

/** A signature of an attestation of an image is three levels; nothing real goes deeper. */
const MAX_DEPTH = 3;

export interface CompanionContext {
  target: SyncTarget;
  destination: SyncDestination;
  naming: NamingOptions;
  /** Blobs in flight at once. */
  concurrency: number;
  signal?: AbortSignal;
  onProgress: ProgressSink;
}

export interface CompanionStats {
  /** Referrers and cosign tags written. */
  copied: number;
  /** Those the destination had already. */
  present: number;
  uploadedBytes: number;
}

/** The entries of the referrers index under `at` at the destination (none when there is none or it is not one). */
async function destinationReferrers(ctx: CompanionContext, at: Reference): Promise<Descriptor[]> {
  const cur = await ctx.target.current(at);
  if (!cur) return [];
  try {
    const parsed = parseManifestDocument(cur.bytes, cur.descriptor.mediaType);
    return parsed.kind === 'index' ? parsed.index.manifests : [];
  } catch {
    return []; // not an index: replaced by one
  }
}

/** Copies what refers to the manifests `digests` of `image`, and what refers to those (MAX_DEPTH levels). */
export async function copyCompanions(image: PlannedImage, digests: readonly string[], ctx: CompanionContext): Promise<CompanionStats> {
  const stats: CompanionStats = { copied: 0, present: 0, uploadedBytes: 0 };
  const repo = image.repository;
  const at = (tag: string): Reference => destinationName({ registry: image.name.registry, repository: image.name.repository, tag }, ctx.destination, ctx.naming, true);
  const options = { concurrency: ctx.concurrency, onProgress: ctx.onProgress, ...(ctx.signal ? { signal: ctx.signal } : {}) };
  const write = async (src: ImageSource, where: Reference, top: { bytes: Buffer; mediaType: string; digest: string }, walk?: Descriptor[]) => {
    const dst = await ctx.target.open(where);
    try {
      const w = await copyAsIs(src, dst, top, { ...options, ...(walk ? { walk } : {}) });
      stats.uploadedBytes += w.uploadedBytes;
    } finally {
      await dst.close();
    }
  };
  // Manifests are read by digest, which any source of the repository serves.
  const src = await repo.open(image.name);
  try {
    const queue = digests.map((digest) => ({ digest, depth: 0 }));
    const seen = new Set<string>();
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { digest, depth } = next;
      if (seen.has(digest)) continue;
      seen.add(digest);
      ctx.signal?.throwIfAborted();

      const referrers = await repo.referrers(digest);
      if (referrers.length > 0) {
        const where = at(referrersTag(digest));
        const existing = await destinationReferrers(ctx, where);
        const have = new Set(existing.map((d) => d.digest));
        const missing = referrers.filter((d) => !have.has(d.digest));
        stats.present += referrers.length - missing.length;
        if (missing.length > 0) {
          const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...existing, ...missing] }));
          await write(src, where, { bytes, mediaType: MediaType.ociIndex, digest: sha256Digest(bytes) }, missing);
          stats.copied += missing.length;
        }
        if (depth + 1 < MAX_DEPTH) queue.push(...referrers.map((d) => ({ digest: d.digest, depth: depth + 1 })));
      }

      for (const tag of cosignTags(digest)) {
        if (!(await repo.hasTag(tag))) continue;
        const tagged = await repo.open({ registry: image.name.registry, repository: image.name.repository, tag });
        try {
          const top = await tagged.resolve();
          const where = at(tag);
          if ((await ctx.target.current(where))?.descriptor.digest === top.descriptor.digest) {
            stats.present++;
            continue;
          }
          await write(tagged, where, { bytes: top.bytes, mediaType: top.descriptor.mediaType, digest: top.descriptor.digest });
          stats.copied++;
        } finally {
          await tagged.close();
        }
      }
    }
  } finally {
    await src.close();
  }
  return stats;
}
