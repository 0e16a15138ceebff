// `convert(image, format)` as a pure plan (spec/format-rules.md): Docker schema 2 ⇄ OCI media types for the
// manifest, its config (bytes kept, so the config digest stays) and layers, and which layer blobs must be rewritten
// as gzip first (zstd has no Docker form; plain tar is gzipped when asked). The bytes are rewritten by the caller
// (transport/recompress.ts, one pass, diffID checked): `copy` (transport/copy.ts) and `build --format`
// (build/convert-layers.ts) plan with `planConversion`, rewrite what `rewrites` lists, and `copy` then gets the new
// manifest from `convert`. An unchanged image keeps its manifest bytes (same digest). Lists ⇄ indexes: `planIndex`
// and `convertIndex`.
import { S2IError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { layerCompression, MediaType } from '../oci/media-types.js';
import { isAttestation } from '../oci/platform.js';
import type { Descriptor, ImageFormat, ImageIndex, ImageManifest } from '../oci/types.js';
import { buildManifest, convertConfigMediaType, convertLayerMediaType, isForeignLayerMediaType, layerMediaType } from './manifest.js';

function unsupported(message: string): S2IError {
  return new S2IError('ERR_FORMAT_UNSUPPORTED', message);
}

/**
 * Whether a layer of `mediaType` must become gzip to appear in an image of `format`: the Docker format has no zstd
 * layers, and plain-tar layers are gzipped when `plainLayers` says so (`build`: for the Docker format, which
 * OpenShift 4.6 imports only gzipped; `copy`: CopyOptions.compressPlainLayers). A foreign layer is never
 * rewritten. ERR_LAYER_MEDIA_TYPE for a media type that is no layer, once the answer depends on it.
 */
export function needsGzip(mediaType: string, format: ImageFormat, plainLayers: boolean): boolean {
  if (isForeignLayerMediaType(mediaType) || (format !== 'docker' && !plainLayers)) return false;
  const c = layerCompression(mediaType);
  return (c === 'zstd' && format === 'docker') || (c === 'none' && plainLayers);
}

/** The image being converted: its manifest as read (bytes kept for an unchanged result). */
export interface ConvertSource {
  bytes: Buffer;
  mediaType: string;
  format: ImageFormat;
  manifest: ImageManifest;
}

export interface ConversionOptions {
  /** gzip plain-tar layers too (see needsGzip). */
  plainLayers: boolean;
  /** Names the image in the error for a zstd foreign layer to Docker; without it, the generic "no Docker form" error. */
  name?: string;
}

/** One layer of the result: its blob kept (media type converted), or rewritten as gzip by the caller first. */
export type LayerStep =
  | { index: number; rewrite: false; from: Descriptor; to: Descriptor }
  | { index: number; rewrite: 'gzip'; from: Descriptor; mediaType: string };

export interface ConversionPlan {
  format: ImageFormat;
  /** The config descriptor in `format` (same digest and size). */
  config: Descriptor;
  layers: LayerStep[];
  /** The layers whose blob must be gzipped (new digest and size, same diffID) before `convert`. */
  rewrites: Array<LayerStep & { rewrite: 'gzip' }>;
  /** Whether the result is a new manifest (another format, or a rewritten layer). */
  changed: boolean;
  /** What the conversion drops, to tell the user (empty when unchanged). */
  notices: string[];
}

export function planConversion(image: Pick<ConvertSource, 'format' | 'manifest'>, format: ImageFormat, opts: ConversionOptions): ConversionPlan {
  const m = image.manifest;
  const config: Descriptor = { mediaType: convertConfigMediaType(m.config.mediaType, format), digest: m.config.digest, size: m.config.size };
  const layers = m.layers.map((l, index): LayerStep => {
    const compression = layerCompression(l.mediaType); // a media type that is no layer: ERR_LAYER_MEDIA_TYPE first
    if (needsGzip(l.mediaType, format, opts.plainLayers)) return { index, rewrite: 'gzip', from: l, mediaType: layerMediaType(format, 'gzip') };
    if (opts.name !== undefined && format === 'docker' && compression === 'zstd' && isForeignLayerMediaType(l.mediaType)) {
      throw unsupported(`layer ${index} of ${opts.name} is a zstd foreign layer, which has no Docker form`);
    }
    return { index, rewrite: false, from: l, to: { ...l, mediaType: convertLayerMediaType(l.mediaType, format) } };
  });
  const rewrites = layers.filter((s): s is LayerStep & { rewrite: 'gzip' } => s.rewrite === 'gzip');
  const changed = format !== image.format || rewrites.length > 0;
  const notices: string[] = [];
  if (changed && format === 'docker') {
    const dropped = [
      m.annotations && Object.keys(m.annotations).length ? 'manifest annotations' : '',
      m.layers.some((l) => l.annotations) ? 'layer annotations' : '',
      m.subject ? 'subject' : '',
      m.artifactType ? 'artifactType' : '',
    ].filter(Boolean);
    if (dropped.length) notices.push(`the Docker format has no ${dropped.join(', ')}: dropped`);
  } else if (changed && (m.subject || m.artifactType)) {
    notices.push('subject/artifactType dropped by the conversion');
  }
  return { format, config, layers, rewrites, changed, notices };
}

export interface ConvertedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  /** The layer descriptors the result names. */
  layers: Descriptor[];
  changed: boolean;
}

/**
 * The manifest `plan` makes of `image`, given the blob each rewrite became (`gzipped`, by layer index: digest and
 * size). Unchanged: the original bytes. Changed: built in `format` (fixed key order), OCI keeping the manifest's
 * annotations.
 */
export function convert(image: ConvertSource, plan: ConversionPlan, gzipped: ReadonlyMap<number, { digest: string; size: number }>): ConvertedManifest {
  const layers = plan.layers.map((s): Descriptor => {
    if (s.rewrite === false) return s.to;
    const blob = gzipped.get(s.index);
    // A caller that skipped a rewrite: a bug, not an input error.
    if (!blob) throw new Error(`convert: layer ${s.index} (${s.from.digest}) was to be gzipped first`);
    return { mediaType: s.mediaType, digest: blob.digest, size: blob.size };
  });
  if (!plan.changed) return { bytes: image.bytes, mediaType: image.mediaType, digest: sha256Digest(image.bytes), layers, changed: false };
  const m = image.manifest;
  const built = buildManifest(plan.format, plan.config, layers, plan.format === 'oci' && m.annotations ? { annotations: m.annotations } : {});
  return { bytes: built.bytes, mediaType: built.mediaType, digest: built.digest, layers, changed: true };
}

export interface IndexPlan {
  /** The entries the result keeps, in order. */
  entries: Descriptor[];
  notices: string[];
}

/** The entries of an index an image of `format` can hold: a Docker manifest list has no attestations. */
export function planIndex(index: ImageIndex, format: ImageFormat): IndexPlan {
  const entries: Descriptor[] = [];
  const notices: string[] = [];
  for (const d of index.manifests) {
    if (format === 'docker' && isAttestation(d)) {
      notices.push(`index entry ${d.digest} is an attestation, which a Docker manifest list cannot hold: dropped`);
      continue;
    }
    entries.push(d);
  }
  return { entries, notices };
}

export interface ConvertIndexSource {
  bytes: Buffer;
  mediaType: string;
  format: ImageFormat;
  index: ImageIndex;
}

/**
 * The index (or manifest list) naming `children` (one per kept entry, as `convert` made them). Unchanged (same
 * format, no entry dropped, no child changed): the original bytes. Otherwise rebuilt in `format`: entries keep their
 * platform, OCI keeps entry and index annotations (a Docker list drops them, noted).
 */
export function convertIndex(
  index: ConvertIndexSource,
  format: ImageFormat,
  children: ReadonlyArray<{ entry: Descriptor; manifest: { bytes: Buffer; mediaType: string; digest: string; changed: boolean } }>,
): { bytes: Buffer; mediaType: string; notices: string[] } {
  const changed = format !== index.format || children.some((c) => c.manifest.changed) || children.length !== index.index.manifests.length;
  if (!changed) return { bytes: index.bytes, mediaType: index.mediaType, notices: [] };
  const mediaType = format === 'docker' ? MediaType.dockerList : MediaType.ociIndex;
  const manifests = children.map(({ entry, manifest }) => {
    const d: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
    if (entry.platform) d.platform = entry.platform;
    if (format === 'oci' && entry.annotations) d.annotations = entry.annotations;
    return d;
  });
  const out: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  const notices: string[] = [];
  if (format === 'oci' && index.index.annotations) out.annotations = index.index.annotations;
  else if (index.index.annotations) notices.push('a Docker manifest list has no annotations: dropped');
  return { bytes: Buffer.from(JSON.stringify(out), 'utf8'), mediaType, notices };
}
