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
import { cosignTags, referrersTag } from './names.js';
import type { SourceRepository } from './sources.js';
import type { SyncTarget } from './targets.js';

/** A signature of an attestation of an image is three levels; nothing real goes deeper. */
const MAX_DEPTH = 3;

/** Where companions go: `sync`'s target for a run, `copy`'s for one image. */
export interface CompanionContext {
  target: Pick<SyncTarget, 'open' | 'current'>;
  /** The destination name of a companion tag (a referrers index or a cosign tag) of the image. */
  at: (tag: string) => Reference;
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

/** Whether anything refers to the manifests `digests` in `repo` (what a converting copy cannot take along). */
export async function hasCompanions(repo: SourceRepository, digests: readonly string[]): Promise<boolean> {
  for (const digest of digests) {
    if ((await repo.referrers(digest)).length > 0) return true;
    for (const tag of cosignTags(digest)) if (await repo.hasTag(tag)) return true;
  }
  return false;
}

/**
 * Copies what refers to the manifests `digests` of the image `name` (its source name) in `repo`, and what refers
 * to those (MAX_DEPTH levels), to `ctx.target` under the names `ctx.at` gives. Used by `sync` and `copy`.
 */
export async function copyCompanions(repo: SourceRepository, name: Reference, digests: readonly string[], ctx: CompanionContext): Promise<CompanionStats> {
  const stats: CompanionStats = { copied: 0, present: 0, uploadedBytes: 0 };
  const at = ctx.at;
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
  const src = await repo.open(name);
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
        const tagged = await repo.open({ registry: name.registry, repository: name.repository, tag });
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
