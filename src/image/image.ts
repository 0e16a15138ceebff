// The image value (go-containerregistry's v1.Image / v1.Layer): what one resolve (transport/resolve-image.ts)
// gives every command. Manifest and config are read when it is made; layers are paired with their diffIDs only
// when asked for, and a layer's bytes are read only when it is opened. No I/O here: the opener comes from the
// place the image lives (the one type-only import of node:stream in image/, for the stream it gives).
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { ParsedManifest } from '../oci/manifest.js';
import type { Descriptor, ImageConfig, ImageFormat, ImageIndex, ImageManifest } from '../oci/types.js';

export interface ImageLayer {
  /** As the manifest lists it. */
  descriptor: Descriptor;
  /** From the config's rootfs.diff_ids, same position. */
  diffID: string;
  /** The blob from byte `offset` (default 0), verified against `descriptor` by the place it lives. */
  open(offset?: number): Promise<Readable>;
}

export interface ResolvedImage {
  /** Where it was read from, for messages. */
  name: string;
  /** The manifest actually chosen (the index entry's digest when the location named an index). */
  descriptor: Descriptor;
  /** When the location named an index or manifest list: it, and the entry picked from it. */
  index?: { descriptor: Descriptor; bytes: Buffer; index: ImageIndex; mediaType: string; format: ImageFormat; chosen: Descriptor };
  manifest: { bytes: Buffer; mediaType: string; format: ImageFormat; manifest: ImageManifest };
  config: { descriptor: Descriptor; bytes: Buffer; config: ImageConfig };
  /** The layers in image order; ERR_CONFIG_INVALID (LayerCountError) when the config has another number of diffIDs. */
  layers(): ImageLayer[];
}

/** Opens the blob `desc` from byte `offset` (a source's verified stream). */
export type BlobOpener = (desc: Descriptor, offset: number) => Promise<Readable>;

/** A manifest and its config disagree on the number of layers. ERR_CONFIG_INVALID. */
export class LayerCountError extends S2IError {
  constructor(name: string, layers: number, diffIDs: number) {
    super('ERR_CONFIG_INVALID', `image ${name} is inconsistent: ${layers} layers but ${diffIDs} diff_ids in its config; rebuild or re-push it`);
  }
}

/** The manifest's layers paired with the config's diff_ids by position; LayerCountError when the counts differ. */
export function imageLayers(name: string, manifest: ImageManifest, config: ImageConfig, open: BlobOpener): ImageLayer[] {
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) throw new LayerCountError(name, manifest.layers.length, diffIDs.length);
  return manifest.layers.map((descriptor, i) => ({ descriptor, diffID: diffIDs[i]!, open: (offset = 0) => open(descriptor, offset) }));
}

/** The image value over what a resolve read; `layers()` checks and pairs on each call (an inconsistent image can still be shown). */
export function imageValue(parts: Omit<ResolvedImage, 'layers'>, open: BlobOpener): ResolvedImage {
  return { ...parts, layers: () => imageLayers(parts.name, parts.manifest.manifest, parts.config.config, open) };
}

/** The image's manifest as `parseManifestDocument` gives it (what the importer checks in image/compat.ts take). */
export function manifestDocument(image: Pick<ResolvedImage, 'manifest'>): ParsedManifest & { kind: 'manifest' } {
  const m = image.manifest;
  return { kind: 'manifest', format: m.format, mediaType: m.mediaType, manifest: m.manifest };
}
