// Writing a build's attachments (attestations, SBOM) next to its image, through the one writer (write-image.ts):
//   - an OCI image in a registry with the referrers API: each attachment an OCI 1.1 artifact with `subject`,
//     pushed by digest (the registry lists it by its subject);
//   - an OCI image in a registry without it, or in an OCI layout: the same artifacts, and the referrers tag schema
//     index `sha256-<hex>` (distribution-spec v1.1 "Pushing Manifests with Subject", the fallback) updated: what it
//     listed kept, the new ones appended;
//   - a Docker schema 2 image (no `subject`): cosign's tags `sha256-<hex>.att` and `sha256-<hex>.sbom`;
//   - archives hold one image each (a second write would replace it): nothing attached, one line says so.
import { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import { openDestination, openSource } from '../transport/open.js';
import type { ImageLocation } from '../transport/parse.js';
import { RegistryDestination } from '../transport/registry.js';
import type { ImageDestination } from '../transport/types.js';
import { writeImage, type WriteBlob, type WriteManifest } from '../transport/write-image.js';
import { cosignImage, cosignTagOf, referrerArtifact, referrersIndex, referrersTagOf, type Attachment, type BuiltArtifact } from './artifacts.js';

export type AttachMode = 'referrers-api' | 'referrers-tag' | 'cosign-tags' | 'none';

export interface AttachResult {
  mode: AttachMode;
  /** What was written: each manifest's digest, and the tag it went under where it has one. */
  written: Array<{ digest: string; artifactType?: string; tag?: string }>;
  /** Why nothing was attached (mode `none`). */
  reason?: string;
}

export interface AttachContext {
  client: RegistryClient;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  tmpDir?: string;
  /**
   * Settles when the subject is in place (a build's image pushed): the attachments' blobs are uploaded meanwhile,
   * their manifests (and any tag) only after it; a rejection writes no manifest and is what `attach` rejects with.
   */
  subjectWritten?: Promise<unknown>;
}

export interface AttachInput {
  /** Where the image was written (the build's destination). */
  target: ImageLocation;
  /** The image's manifest. */
  subject: Descriptor;
  format: ImageFormat;
  /** RFC 3339: the artifacts' `created` annotation (the image's own, so reproducible builds stay reproducible). */
  created: string;
  attachments: readonly Attachment[];
}

/** The same destination, at `tagOrDigest`. */
function at(l: ImageLocation, tagOrDigest: string): ImageLocation {
  const byDigest = /^sha(256|512):/.test(tagOrDigest);
  switch (l.transport) {
    case 'docker': {
      const { tag: _t, digest: _d, ...ref } = l.ref;
      return { transport: 'docker', ref: byDigest ? { ...ref, digest: tagOrDigest } : { ...ref, tag: tagOrDigest } };
    }
    case 'oci':
      return { transport: 'oci', dir: l.dir, tag: tagOrDigest };
    default:
      throw new S2IError('ERR_USAGE', `cannot attach to ${l.transport}: an archive holds one image`);
  }
}

/** Documents are small and new: uploaded without asking first (two round trips, not three; a registry that has
 *  one keeps its copy). The empty config, shared by every artifact, is looked for first. */
function blobsOf(a: BuiltArtifact): WriteBlob[] {
  return a.blobs.map((b) => ({ descriptor: b.descriptor, open: () => Readable.from([b.bytes]), uploadFirst: async () => b.descriptor.size > 2 }));
}

const asManifest = (a: BuiltArtifact): WriteManifest => ({ bytes: a.bytes, mediaType: a.mediaType, digest: a.digest });

async function withDestination<T>(ctx: AttachContext, where: ImageLocation, f: (dst: ImageDestination) => Promise<T>): Promise<T> {
  const dst = await openDestination(where, { client: ctx.client, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}) });
  try {
    return await f(dst);
  } finally {
    await dst.close();
  }
}

/** The entries of the referrers tag schema index at `where` (none when the tag is not there or is not an index). */
async function currentIndex(ctx: AttachContext, where: ImageLocation, subject: string): Promise<Descriptor[]> {
  if (where.transport === 'docker') {
    const dst = await RegistryDestination.open(ctx.client, where.ref);
    try {
      return await dst.referrers(subject);
    } finally {
      await dst.close();
    }
  }
  const src = await openSource(where).catch(() => undefined);
  if (!src) return [];
  try {
    const top = await src.resolve().catch(() => undefined);
    if (!top) return [];
    const doc = JSON.parse(top.bytes.toString('utf8')) as { manifests?: unknown };
    return Array.isArray(doc.manifests) ? (doc.manifests as Descriptor[]) : [];
  } catch {
    return [];
  } finally {
    await src.close();
  }
}

export async function attach(ctx: AttachContext, input: AttachInput): Promise<AttachResult> {
  if (input.attachments.length === 0) return { mode: 'none', written: [], reason: 'nothing to attach' };
  const t = input.target;
  if (t.transport === 'oci-archive' || t.transport === 'docker-archive') {
    return { mode: 'none', written: [], reason: `${t.transport} holds one image, with no room for its attestations and SBOM; write to a registry or an oci: layout to keep them` };
  }
  const subjectWritten = ctx.subjectWritten;
  const opts = { concurrency: 4, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(subjectWritten ? { beforeManifest: async () => void (await subjectWritten) } : {}) };
  if (input.format === 'docker') {
    // cosign's tag convention: one image per kind, its layers the documents; the two written at once.
    const images = (['att', 'sbom'] as const).flatMap((suffix) => {
      const docs = input.attachments.filter((a) => (suffix === 'att') === (a.kind === 'attestation'));
      return docs.length === 0 ? [] : [{ image: cosignImage(docs), tag: cosignTagOf(input.subject.digest, suffix) }];
    });
    await Promise.all(images.map(({ image, tag }) => withDestination(ctx, at(t, tag), (dst) => writeImage(dst, { blobs: blobsOf(image), manifest: asManifest(image) }, opts))));
    return { mode: 'cosign-tags', written: images.map(({ image, tag }) => ({ digest: image.digest, tag })) };
  }
  const artifacts = input.attachments.map((a) => referrerArtifact(a, input.subject, input.created));
  const written = artifacts.map((a) => ({ digest: a.digest, ...(a.descriptor.artifactType ? { artifactType: a.descriptor.artifactType } : {}) }));
  if (t.transport === 'docker') {
    const probe = await RegistryDestination.open(ctx.client, t.ref);
    const api = await probe.hasReferrersApi(input.subject.digest).finally(() => probe.close());
    if (api) {
      await Promise.all(artifacts.map((a) => withDestination(ctx, at(t, a.digest), (dst) => writeImage(dst, { blobs: blobsOf(a), manifest: asManifest(a) }, opts))));
      return { mode: 'referrers-api', written };
    }
  }
  // The fallback: the artifacts, then the index that lists them under the subject's tag.
  const tag = referrersTagOf(input.subject.digest);
  const where = at(t, tag);
  const index = referrersIndex(await currentIndex(ctx, where, input.subject.digest), artifacts.map((a) => a.descriptor));
  await withDestination(ctx, where, (dst) =>
    writeImage(dst, { blobs: artifacts.flatMap(blobsOf), children: artifacts.map(asManifest), manifest: index }, opts),
  );
  return { mode: 'referrers-tag', written: [...written, { digest: index.digest, tag }] };
}
