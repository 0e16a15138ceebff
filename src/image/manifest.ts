// Building manifests in a chosen format and converting media types between Docker schema 2 and OCI
// (spec/format-rules.md has the tables). Manifest bytes are compact JSON with a fixed key order, so the same
// inputs always give the same digest.
import { S2IError } from '../errors.js';
import { parseDigest, sha256Digest } from '../oci/digest.js';
import { MediaType, type Compression } from '../oci/media-types.js';
import type { Descriptor, ImageFormat, ImageManifest } from '../oci/types.js';
import { canonicalJson } from './canonical-json.js';

/** Docker's uncompressed foreign layer (containers/image names it; media-types.ts does not). */
export const dockerForeignLayer = 'application/vnd.docker.image.rootfs.foreign.diff.tar';

const ZSTD_NO_DOCKER = 'zstd layers have no Docker form: use --format oci or --compression gzip';

function unsupported(message: string): S2IError {
  return new S2IError('ERR_FORMAT_UNSUPPORTED', message);
}

export function layerMediaType(format: ImageFormat, compression: Compression): string {
  if (format === 'docker') {
    if (compression === 'zstd') throw unsupported(ZSTD_NO_DOCKER);
    return compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayer;
  }
  if (compression === 'zstd') return MediaType.ociLayerZstd;
  return compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayer;
}

/** Layer media type → its equivalent in the other format ('' means: no equivalent). */
const toOci: Record<string, string> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerForeignLayerGzip]: MediaType.ociLayerNonDistributableGzip,
  [dockerForeignLayer]: MediaType.ociLayerNonDistributable,
  [MediaType.ociLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.ociLayer]: MediaType.ociLayer,
  [MediaType.ociLayerZstd]: MediaType.ociLayerZstd,
  [MediaType.ociLayerNonDistributable]: MediaType.ociLayerNonDistributable,
  [MediaType.ociLayerNonDistributableGzip]: MediaType.ociLayerNonDistributableGzip,
  [MediaType.ociLayerNonDistributableZstd]: MediaType.ociLayerNonDistributableZstd,
};
const toDocker: Record<string, string> = {
  [MediaType.ociLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.ociLayer]: MediaType.dockerLayer,
  [MediaType.ociLayerNonDistributableGzip]: MediaType.dockerForeignLayerGzip,
  [MediaType.ociLayerNonDistributable]: dockerForeignLayer,
  [MediaType.ociLayerZstd]: '',
  [MediaType.ociLayerNonDistributableZstd]: '',
  [MediaType.dockerLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.dockerLayer]: MediaType.dockerLayer,
  [MediaType.dockerForeignLayerGzip]: MediaType.dockerForeignLayerGzip,
  [dockerForeignLayer]: dockerForeignLayer,
};

/** Converts a layer media type to `to`; zstd → docker and unknown types throw ERR_FORMAT_UNSUPPORTED. */
export function convertLayerMediaType(mt: string, to: ImageFormat): string {
  const table = to === 'docker' ? toDocker : toOci;
  const out = Object.hasOwn(table, mt) ? table[mt] : undefined;
  if (out === '') throw unsupported(ZSTD_NO_DOCKER);
  if (out === undefined) throw unsupported(`layer media type "${mt.slice(0, 200)}" has no ${to === 'docker' ? 'Docker' : 'OCI'} form`);
  return out;
}

/** Config media type → `to`. The config bytes stay the same either way (same digest). */
export function convertConfigMediaType(mt: string, to: ImageFormat): string {
  if (mt !== MediaType.dockerConfig && mt !== MediaType.ociConfig) {
    throw unsupported(`config media type "${mt.slice(0, 200)}" is not an image config`);
  }
  return to === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
}

export function isForeignLayerMediaType(mt: string): boolean {
  return mt === MediaType.dockerForeignLayerGzip || mt === dockerForeignLayer || mt.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

export function manifestMediaType(format: ImageFormat): string {
  return format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest;
}

function checkDescriptor(d: Descriptor, where: string): void {
  parseDigest(d.digest);
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new S2IError('ERR_MANIFEST_INVALID', `${where} size ${String(d.size)} is not a non-negative integer`);
  }
}

/** Copies annotations with sorted keys; undefined when there are none. */
function sortedAnnotations(a: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!a || Object.keys(a).length === 0) return undefined;
  return JSON.parse(canonicalJson(a)) as Record<string, string>;
}

/**
 * A descriptor in a fixed key order: mediaType, digest, size, urls, annotations. Docker (schema2) keeps
 * urls only on foreign layers and has no annotations; OCI keeps both.
 */
function formatDescriptor(format: ImageFormat, mediaType: string, d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType, digest: d.digest, size: d.size };
  const keepUrls = format === 'oci' || isForeignLayerMediaType(mediaType);
  if (keepUrls && d.urls && d.urls.length > 0) out.urls = [...d.urls];
  if (format === 'oci') {
    const a = sortedAnnotations(d.annotations);
    if (a) out.annotations = a;
  }
  return out;
}

export interface BuiltManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  /** The descriptor to push/tag the manifest by. */
  descriptor: Descriptor;
}

export interface BuildManifestOptions {
  /** Manifest-level annotations; OCI only (dropped for Docker, which has none). */
  annotations?: Record<string, string>;
}

/**
 * Builds an image manifest in `format`: config and layer media types converted to the format, fields the
 * format lacks dropped, `mediaType` always in the body (Docker requires it; OCI readers such as
 * OpenShift's importer and containers/image want it).
 */
export function buildManifest(
  format: ImageFormat,
  config: Descriptor,
  layers: Descriptor[],
  opts: BuildManifestOptions = {},
): BuiltManifest {
  checkDescriptor(config, 'config');
  layers.forEach((l, i) => checkDescriptor(l, `layers[${i}]`));
  const mediaType = manifestMediaType(format);
  const doc: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: formatDescriptor(format, convertConfigMediaType(config.mediaType, format), config),
    layers: layers.map((l) => formatDescriptor(format, convertLayerMediaType(l.mediaType, format), l)),
  };
  if (format === 'oci') {
    const a = sortedAnnotations(opts.annotations);
    if (a) doc.annotations = a;
  }
  // Key order is the insertion order above (JSON.stringify keeps it), which is fixed by construction.
  const bytes = Buffer.from(JSON.stringify(doc), 'utf8');
  const digest = sha256Digest(bytes);
  return { bytes, mediaType, digest, descriptor: { mediaType, digest, size: bytes.length } };
}

