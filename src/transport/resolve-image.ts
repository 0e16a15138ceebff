// The one resolve: a source's top manifest or index → the platform picked from an index → that manifest → its
// config → the image value (image/image.ts). Every command that reads an image (pull, FROM, inspect, copy) goes
// through here, so mirrors, signature policy and a local store plug in once. The value is lazy where it can be:
// layers are opened only when asked for, and the layers/diffIDs check runs only when the layers are asked for
// (inspect shows an inconsistent image; pull, FROM and copy refuse it).
import { S2IError } from '../errors.js';
import { imageValue, type ResolvedImage } from '../image/image.js';
import { MAX_CONFIG_BYTES, parseImageConfig, parseManifestDocument, type ParsedManifest } from '../oci/manifest.js';
import { formatPlatform, hostPlatform, selectPlatform } from '../oci/platform.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { ImageSource } from './types.js';
import { readCappedStream, skipBytes } from './verify.js';

/** What a source's location names, parsed: a manifest or an index. */
export interface ResolvedTop {
  /** The source's digest; `mediaType` as parsed, `size` the byte count. */
  descriptor: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface ResolveOptions {
  /** The image to pick from an index. Default: this host's. */
  platform?: Platform;
  signal?: AbortSignal;
  /** The top the caller already resolved (resolveTop), so the source is asked once. */
  top?: ResolvedTop;
}

/** An index entry that is an index again. ERR_MANIFEST_INVALID; copy reports it as ERR_FORMAT_UNSUPPORTED. */
export class NestedIndexError extends S2IError {
  constructor(name: string, where: string) {
    super('ERR_MANIFEST_INVALID', `the ${where} entry of ${name} is another index: nested indexes are not supported`);
  }
}

/** The top-level manifest or index of `source`, parsed (the media type the source gives wins when it is set). */
export async function resolveTop(source: ImageSource): Promise<ResolvedTop> {
  const top = await source.resolve();
  const parsed = parseManifestDocument(top.bytes, top.descriptor.mediaType || undefined);
  return { descriptor: { mediaType: parsed.mediaType, digest: top.descriptor.digest, size: top.bytes.length }, bytes: top.bytes, parsed };
}

/** The image `source` names: from an index, the entry for `opts.platform` (default: this host's, selectPlatform). */
export async function resolveImage(source: ImageSource, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const top = opts.top ?? (await resolveTop(source));
  if (top.parsed.kind === 'manifest') return imageOf(source, top.descriptor, top.bytes, top.parsed, undefined, opts.signal);
  const want = opts.platform ?? hostPlatform();
  const chosen = selectPlatform(top.parsed.index, want);
  const index = { descriptor: top.descriptor, bytes: top.bytes, index: top.parsed.index, mediaType: top.parsed.mediaType, format: top.parsed.format, chosen };
  return manifestAt(source, chosen, formatPlatform(want), index, opts.signal);
}

/** The image behind one index entry (copy --all walks every entry with it). */
export function resolveEntry(source: ImageSource, entry: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<ResolvedImage> {
  return manifestAt(source, entry, entry.platform ? formatPlatform(entry.platform) : entry.digest, undefined, opts.signal);
}

async function manifestAt(source: ImageSource, entry: Descriptor, where: string, index: ResolvedImage['index'], signal: AbortSignal | undefined): Promise<ResolvedImage> {
  const bytes = await source.fetchManifest(entry);
  const parsed = parseManifestDocument(bytes, entry.mediaType);
  if (parsed.kind !== 'manifest') throw new NestedIndexError(source.name, where);
  return imageOf(source, { mediaType: parsed.mediaType, digest: entry.digest, size: bytes.length }, bytes, parsed, index, signal);
}

async function imageOf(
  source: ImageSource,
  descriptor: Descriptor,
  bytes: Buffer,
  parsed: ParsedManifest & { kind: 'manifest' },
  index: ResolvedImage['index'],
  signal: AbortSignal | undefined,
): Promise<ResolvedImage> {
  const manifest = parsed.manifest;
  const configDescriptor = manifest.config;
  const what = `the config of ${source.name}`;
  // Refused before a byte is read, whatever the source (a registry's fetchBlobBytes did this already).
  if (configDescriptor.size > MAX_CONFIG_BYTES) {
    throw new S2IError('ERR_BLOB_TOO_LARGE', `${what} (${configDescriptor.digest}) is ${configDescriptor.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit for this kind of content`);
  }
  const configBytes = await readCappedStream(await source.fetchBlob(configDescriptor, signal ? { signal } : {}), MAX_CONFIG_BYTES, what);
  const config = parseImageConfig(configBytes);
  return imageValue(
    {
      name: source.name,
      descriptor,
      ...(index ? { index } : {}),
      manifest: { bytes, mediaType: parsed.mediaType, format: parsed.format, manifest },
      config: { descriptor: configDescriptor, bytes: configBytes, config },
    },
    async (d, offset) => skipBytes(await source.fetchBlob(d, signal ? { signal } : {}), offset),
  );
}
