// What is attached to an image in a registry or an OCI layout (`oci-s2i inspect`): the manifests that name it as their `subject`
// (the referrers API, else the referrers tag schema index) and cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`),
// each sorted into signatures, attestations (by predicateType) and SBOMs by its artifactType, media types and the
// predicateType annotations BuildKit and cosign write. Only manifests are read, never a blob.
import { S2IError } from '../errors.js';
import { parseManifestDocument } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import type { Repository } from '../registry/client.js';

/** Where attachments are looked up: a registry repository, or an OCI layout read the same way (`inspect`). */
type AttachmentSource = Pick<Repository, 'resolve' | 'referrers'>;
import { cosignTagOf, PredicateTypeAnnotation } from './artifacts.js';
import { DsseEnvelopeMediaType } from './dsse.js';

export interface AttachedItem {
  kind: 'signature' | 'attestation' | 'sbom' | 'other';
  /** How it is found: by subject (API or tag index), or under a cosign tag. */
  via: 'referrers' | 'cosign-tag';
  /** The manifest that carries it. */
  digest: string;
  artifactType?: string;
  predicateType?: string;
  /** The document's media type (a cosign image's layer). */
  mediaType?: string;
  tag?: string;
}

const sbomTypes = new Set(['application/spdx+json', 'text/spdx+json', 'text/spdx', 'application/vnd.cyclonedx+json', 'application/vnd.cyclonedx+xml', 'application/vnd.syft+json']);
const signatureTypes = new Set(['application/vnd.dev.cosign.simplesigning.v1+json', 'application/vnd.dev.cosign.artifact.sig.v1+json', 'application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.cncf.notary.signature']);

function kindOf(type: string | undefined, predicateType: string | undefined): AttachedItem['kind'] {
  if (type === undefined) return 'other';
  if (sbomTypes.has(type)) return 'sbom';
  if (signatureTypes.has(type) || type.startsWith('application/vnd.dev.sigstore.bundle')) return predicateType ? 'attestation' : 'signature';
  if (type === DsseEnvelopeMediaType || type === 'application/vnd.in-toto+json' || predicateType) return 'attestation';
  return 'other';
}

function referrerItem(d: Descriptor): AttachedItem {
  const predicateType = d.annotations?.[PredicateTypeAnnotation] ?? d.annotations?.['dev.sigstore.bundle.predicateType'];
  return {
    kind: kindOf(d.artifactType, predicateType),
    via: 'referrers',
    digest: d.digest,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(predicateType ? { predicateType } : {}),
  };
}

/** The layers of the image under a cosign tag, one item each (none when the tag is not there). */
async function cosignItems(repo: AttachmentSource, digest: string, suffix: 'sig' | 'att' | 'sbom'): Promise<AttachedItem[]> {
  const tag = cosignTagOf(digest, suffix);
  let got: { descriptor: Descriptor; bytes: Buffer };
  try {
    got = await repo.resolve(tag);
  } catch (e) {
    if (e instanceof S2IError && (e.code === 'ERR_MANIFEST_UNKNOWN' || e.code === 'ERR_TAG_NOT_FOUND')) return [];
    throw e;
  }
  const parsed = parseManifestDocument(got.bytes, got.descriptor.mediaType);
  if (parsed.kind !== 'manifest') return [{ kind: 'other', via: 'cosign-tag', digest: got.descriptor.digest, tag }];
  return parsed.manifest.layers.map((l) => {
    const predicateType = suffix === 'att' ? l.annotations?.predicateType : undefined;
    const kind: AttachedItem['kind'] = suffix === 'sig' ? 'signature' : suffix === 'sbom' ? 'sbom' : 'attestation';
    return { kind, via: 'cosign-tag', digest: got.descriptor.digest, mediaType: l.mediaType, tag, ...(predicateType ? { predicateType } : {}) };
  });
}

/** Everything attached to the manifest `digest` in `repo`. */
export async function listAttached(repo: AttachmentSource, digest: string): Promise<AttachedItem[]> {
  const referrers = (await repo.referrers(digest)).map(referrerItem);
  const cosign = [];
  for (const suffix of ['sig', 'att', 'sbom'] as const) cosign.push(...(await cosignItems(repo, digest, suffix)));
  return [...referrers, ...cosign];
}
