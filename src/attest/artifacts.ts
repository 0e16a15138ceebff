// The manifests that carry a build's attestations and SBOM next to its image, as pure functions (bytes in a fixed
// key order, so the same inputs give the same digests):
//   - OCI 1.1 artifacts (image-spec manifest.md "Guidelines for Artifact Usage"): `artifactType`, the empty config
//     descriptor, the document as the one layer, and `subject` naming the image; a registry with the referrers
//     API lists them by that subject, else they are listed in the referrers tag schema index (referrersIndex).
//   - cosign's tag convention for images whose manifest cannot carry a `subject` (Docker schema 2):
//     `sha256-<hex>.att` (DSSE envelopes, one layer each, annotated with their predicateType and the empty
//     signature annotation cosign requires) and
//     `sha256-<hex>.sbom` (the SBOM as a layer), images with a minimal config as cosign writes them.
import { parseDigest, sha256Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { DsseEnvelopeMediaType } from './dsse.js';

/** One document to attach: a DSSE envelope (an attestation) or an SBOM. */
export interface Attachment {
  kind: 'attestation' | 'sbom';
  /** The layer's media type: DsseEnvelopeMediaType, or the SBOM format's. */
  mediaType: string;
  bytes: Buffer;
  /** The in-toto predicateType an attestation carries (cosign's `predicateType` layer annotation). */
  predicateType?: string;
}

export interface BuiltArtifact {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  /** The blobs it names (config first), with their bytes. */
  blobs: Array<{ descriptor: Descriptor; bytes: Buffer }>;
  /** Its entry in a referrers index (artifactType and annotations copied, as the spec asks). */
  descriptor: Descriptor;
}

/** The annotation an attestation's manifest and layer name its predicate by (BuildKit's and cosign's spellings). */
export const PredicateTypeAnnotation = 'in-toto.io/predicate-type';
const CosignPredicateTypeAnnotation = 'predicateType';
/**
 * cosign's signature annotation. An attestation layer carries it empty (the signature is inside the DSSE envelope;
 * cosign's static.NewAttestation writes `""`), and cosign verify-attestation refuses a layer without it ("signature
 * layer … is missing "dev.cosignproject.cosign/signature" annotation").
 */
const CosignSignatureAnnotation = 'dev.cosignproject.cosign/signature';

const emptyConfig = Buffer.from('{}');
const emptyDescriptor: Descriptor = { mediaType: MediaType.ociEmpty, digest: sha256Digest(emptyConfig), size: emptyConfig.length };

/** SBOM media types: the OCI artifact's, and cosign's `.sbom` layer (cosign names SPDX JSON `text/spdx+json`). */
export const SbomMediaTypes = {
  spdx: { artifact: 'application/spdx+json', cosign: 'text/spdx+json' },
  cyclonedx: { artifact: 'application/vnd.cyclonedx+json', cosign: 'application/vnd.cyclonedx+json' },
} as const;

function blobOf(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): { descriptor: Descriptor; bytes: Buffer } {
  return { descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...(annotations ? { annotations } : {}) }, bytes };
}

function finish(doc: object, mediaType: string, blobs: BuiltArtifact['blobs'], entry: Partial<Descriptor>): BuiltArtifact {
  const bytes = Buffer.from(JSON.stringify(doc), 'utf8');
  const digest = sha256Digest(bytes);
  return { bytes, mediaType, digest, blobs, descriptor: { mediaType, digest, size: bytes.length, ...entry } };
}

/** An OCI 1.1 artifact manifest for `a`, about `subject` (an image manifest), made at `created` (RFC 3339). */
export function referrerArtifact(a: Attachment, subject: Descriptor, created: string): BuiltArtifact {
  const artifactType = a.mediaType;
  const annotations: Record<string, string> = { 'org.opencontainers.image.created': created };
  if (a.predicateType) annotations[PredicateTypeAnnotation] = a.predicateType;
  const layer = blobOf(a.mediaType, a.bytes, a.predicateType ? { [PredicateTypeAnnotation]: a.predicateType } : undefined);
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: emptyDescriptor,
    layers: [layer.descriptor],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  return finish(doc, MediaType.ociManifest, [{ descriptor: emptyDescriptor, bytes: emptyConfig }, layer], { artifactType, annotations });
}

/** The referrers tag schema index (distribution-spec v1.1): `existing` entries kept, `added` ones appended once. */
export function referrersIndex(existing: readonly Descriptor[], added: readonly Descriptor[]): { bytes: Buffer; mediaType: string; digest: string } {
  const have = new Set(existing.map((d) => d.digest));
  const manifests = [...existing, ...added.filter((d) => !have.has(d.digest) && have.add(d.digest))];
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }), 'utf8');
  return { bytes, mediaType: MediaType.ociIndex, digest: sha256Digest(bytes) };
}

/** The tag a registry without the referrers API lists the referrers of `digest` under. */
export function referrersTagOf(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`.slice(0, 128);
}

/** cosign's tag for `suffix` (`att`, `sbom`, `sig`) of the image `digest`: `sha256-<hex>.<suffix>`. */
export function cosignTagOf(digest: string, suffix: 'att' | 'sbom' | 'sig'): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}.${suffix}`;
}

/**
 * A cosign attachment image (`.att` or `.sbom`): an OCI manifest whose layers are the documents, with the config
 * cosign writes (rootfs diff_ids = the layer digests, times at the zero time, so equal inputs give equal bytes).
 */
export function cosignImage(docs: readonly Attachment[]): BuiltArtifact {
  const layers = docs.map((a) => {
    const mediaType = a.kind === 'attestation' ? DsseEnvelopeMediaType : a.mediaType === SbomMediaTypes.spdx.artifact ? SbomMediaTypes.spdx.cosign : a.mediaType;
    if (a.kind === 'attestation') {
      // Keys in the order Go writes a map (sorted), as cosign's manifests have them.
      return blobOf(mediaType, a.bytes, { [CosignSignatureAnnotation]: '', ...(a.predicateType ? { [CosignPredicateTypeAnnotation]: a.predicateType } : {}) });
    }
    return blobOf(mediaType, a.bytes, a.predicateType ? { [CosignPredicateTypeAnnotation]: a.predicateType } : undefined);
  });
  const zero = '0001-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      config: {},
      created: zero,
      history: [{ created: zero }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.descriptor.digest) },
    }),
  );
  const cfg = blobOf(MediaType.ociConfig, config);
  const doc = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg.descriptor, layers: layers.map((l) => l.descriptor) };
  return finish(doc, MediaType.ociManifest, [cfg, ...layers], {});
}
