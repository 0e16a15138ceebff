// Sigstore signatures stored as cosign and containers/image (`use-sigstore-attachments`) store them: the tag
// `sha256-<hex>.sig` in the image's repository names an OCI image manifest whose layers are the signatures, each
// a `application/vnd.dev.cosign.simplesigning.v1+json` blob (the payload) with the signature in the
// `dev.cosignproject.cosign/signature` annotation. Writing follows docker/docker_image_dest.go
// putSignaturesToSigstoreAttachments: the existing manifest's layers are kept and a signature already there is
// not added twice; the config is `{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[…]}}`
// (an empty imgspecv1.Image as Go marshals it), one diff_id per layer, the layer's digest.
import { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import type { Repository } from '../registry/client.js';

/** A signature payload is a few hundred bytes; a registry offering more is not read. */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** containers/image reads at most this many signatures of one image too (a registry cannot make us verify forever). */
const MAX_SIGNATURES = 128;

export interface StoredSignature {
  mediaType: string;
  payload: Buffer;
  annotations: Record<string, string>;
}

/** The cosign tag of a manifest digest: `sha256:abc…` → `sha256-abc….sig`. */
export function signatureTag(manifestDigest: string): string {
  return `${manifestDigest.replace(':', '-')}.sig`;
}

interface SignatureManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The signature manifest under the tag, or undefined when there is none (a missing tag or repository). */
async function currentManifest(repo: Repository, manifestDigest: string): Promise<SignatureManifest | undefined> {
  const tag = signatureTag(manifestDigest);
  let found: { descriptor: Descriptor; bytes: Buffer };
  try {
    found = await repo.resolve(tag);
  } catch (e) {
    if (e instanceof S2IError && (e.code === 'ERR_MANIFEST_UNKNOWN' || e.code === 'ERR_NAME_UNKNOWN')) return undefined;
    throw e;
  }
  if (found.descriptor.mediaType !== MediaType.ociManifest || found.bytes.length > MAX_MANIFEST_BYTES) {
    throw new S2IError('ERR_SIGNATURE_STORE', `${repo.registry}/${repo.name}:${tag} is a ${found.descriptor.mediaType || 'document'}, not an OCI image manifest of signatures; remove that tag`);
  }
  const m = JSON.parse(found.bytes.toString('utf8')) as SignatureManifest;
  if (!Array.isArray(m.layers) || typeof m.config !== 'object' || m.config === null) {
    throw new S2IError('ERR_SIGNATURE_STORE', `${repo.registry}/${repo.name}:${tag} is not an image manifest with layers; remove that tag`);
  }
  return m;
}

/** The signatures attached to `manifestDigest` in `repo` (payloads verified against their digests by the client). */
export async function readSignatures(repo: Repository, manifestDigest: string): Promise<StoredSignature[]> {
  const m = await currentManifest(repo, manifestDigest);
  if (!m) return [];
  if (m.layers.length > MAX_SIGNATURES) {
    throw new S2IError('ERR_SIGNATURE_STORE', `${repo.registry}/${repo.name}:${signatureTag(manifestDigest)} lists ${m.layers.length} signatures, more than ${MAX_SIGNATURES}; remove that tag`);
  }
  const out: StoredSignature[] = [];
  for (const layer of m.layers) {
    out.push({ mediaType: layer.mediaType, payload: await repo.fetchBlobBytes(layer, MAX_PAYLOAD_BYTES), annotations: { ...(layer.annotations ?? {}) } });
  }
  return out;
}

function sameAnnotations(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b).length && ak.every((k) => a![k] === b[k]);
}

async function putBytes(repo: Repository, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  if (!(await repo.blobExists(desc))) await repo.pushBlob(desc, (offset) => Readable.from([bytes.subarray(offset)]));
  return desc;
}

/** Adds `signature` to the signatures of `manifestDigest` in `repo` (kept as they are; the same one not twice). */
export async function attachSignature(repo: Repository, manifestDigest: string, signature: StoredSignature): Promise<void> {
  const current = await currentManifest(repo, manifestDigest);
  let config: { rootfs: { type: string; diff_ids: string[] } } & Record<string, unknown> = { architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
  if (current) {
    const bytes = await repo.fetchBlobBytes(current.config, MAX_CONFIG_BYTES);
    config = JSON.parse(bytes.toString('utf8')) as typeof config;
    config.rootfs ??= { type: 'layers', diff_ids: [] };
    config.rootfs.diff_ids ??= [];
  }
  const layers = [...(current?.layers ?? [])];
  const payloadDigest = sha256Digest(signature.payload);
  if (layers.some((l) => l.mediaType === signature.mediaType && l.digest === payloadDigest && sameAnnotations(l.annotations, signature.annotations))) return;
  const layer = await putBytes(repo, signature.mediaType, signature.payload);
  layers.push({ ...layer, annotations: signature.annotations });
  config.rootfs.diff_ids.push(layer.digest);
  const configDesc = await putBytes(repo, MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifest: SignatureManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers, ...(current?.annotations ? { annotations: current.annotations } : {}) };
  await repo.pushManifest(signatureTag(manifestDigest), Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
}
