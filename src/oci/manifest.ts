// Parsing and validating manifest documents (image-spec manifest.md / image-index.md, distribution
// manifest-v2-2.md). Everything here reads bytes that came from outside, so every field the engine relies on
// is checked before it is trusted.
import { S2IError } from '../errors.js';
import { parseDigest } from './digest.js';
import { MediaType } from './media-types.js';
import type { Descriptor, ImageConfig, ImageFormat, ImageIndex, ImageManifest, Platform } from './types.js';

/** Manifests and configs larger than this are refused (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export type ParsedManifest =
  | { kind: 'manifest'; format: ImageFormat; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; format: ImageFormat; mediaType: string; index: ImageIndex };

export function isManifestMediaType(mt: string): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

export function isIndexMediaType(mt: string): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerList;
}

export function isSchema1MediaType(mt: string): boolean {
  return mt === MediaType.dockerManifestV1 || mt === MediaType.dockerManifestV1Signed;
}

/** Content-Types that say nothing about the document (registries and file servers send these). */
const genericContentTypes = new Set(['application/json', 'text/plain', 'application/octet-stream', '']);

/** The bare media type of a Content-Type header: parameters dropped, lowercase; '' when generic. */
export function normalizeContentType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const bare = contentType.split(';')[0]!.trim().toLowerCase();
  return genericContentTypes.has(bare) ? '' : bare;
}

function invalid(why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_MANIFEST_INVALID', `invalid manifest: ${why}`, cause === undefined ? {} : { cause });
}

function schema1(): S2IError {
  return new S2IError(
    'ERR_MANIFEST_UNSUPPORTED',
    'image manifest schema 1 is not supported; re-push the image with a current tool (docker, podman, skopeo) to get schema 2 or OCI',
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStringMap(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
}

function checkPlatform(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw invalid(`${where}.platform needs string "os" and "architecture"`);
  }
  if (v.variant !== undefined && typeof v.variant !== 'string') throw invalid(`${where}.platform.variant must be a string`);
}

/** Checks one descriptor in place (image-spec descriptor.md); throws ERR_MANIFEST_INVALID naming `where`. */
export function validateDescriptor(v: unknown, where: string): asserts v is Descriptor {
  if (!isObject(v)) throw invalid(`${where} must be an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof v.digest !== 'string') throw invalid(`${where}.digest must be a string`);
  try {
    parseDigest(v.digest);
  } catch (e) {
    throw invalid(`${where}.digest: ${(e as Error).message}`, e);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  if (v.urls !== undefined && (!Array.isArray(v.urls) || !v.urls.every((u) => typeof u === 'string'))) {
    throw invalid(`${where}.urls must be an array of strings`);
  }
  checkStringMap(v.annotations, `${where}.annotations`);
  checkPlatform(v.platform, where);
}

function formatOf(mediaType: string): ImageFormat {
  return mediaType.startsWith('application/vnd.docker.') ? 'docker' : 'oci';
}

/**
 * Parses a manifest or index. `contentType` is the registry's Content-Type (or the media type a descriptor
 * announced); a specific one must agree with the body's `mediaType`.
 */
export function parseManifestDocument(bytes: Buffer, contentType?: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new S2IError(
      'ERR_MANIFEST_TOO_LARGE',
      `manifest is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit; this is not an image manifest`,
    );
  }
  const declared = normalizeContentType(contentType);
  if (isSchema1MediaType(declared)) throw schema1();

  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`not JSON (${(e as Error).message})`, e);
  }
  if (!isObject(doc)) throw invalid('the document is not a JSON object');
  if (doc.schemaVersion === 1) throw schema1();
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  if (doc.mediaType !== undefined && typeof doc.mediaType !== 'string') throw invalid('mediaType must be a string');
  const bodyType = doc.mediaType as string | undefined;
  if (bodyType !== undefined && isSchema1MediaType(bodyType)) throw schema1();

  const hasManifests = 'manifests' in doc;
  const hasImageFields = 'config' in doc || 'layers' in doc;
  // CVE-2021-41190: a document readable both as an index and as a manifest lets two parties see two images.
  if (hasManifests && hasImageFields) {
    throw invalid('the document has both "manifests" and "config"/"layers", so it is ambiguous (CVE-2021-41190)');
  }
  if (bodyType !== undefined && declared !== '' && bodyType !== declared) {
    throw invalid(`the body says mediaType "${bodyType}" but the Content-Type is "${declared}"`);
  }

  // OCI manifests may omit mediaType (umoci does); the structure then decides.
  const mediaType =
    bodyType ?? (declared !== '' ? declared : hasManifests ? MediaType.ociIndex : hasImageFields ? MediaType.ociManifest : '');
  if (mediaType === '') throw invalid('no mediaType and neither "manifests" nor "config"/"layers"');

  if (isIndexMediaType(mediaType)) {
    if (hasImageFields) throw invalid(`a ${mediaType} cannot have "config" or "layers"`);
    if (!Array.isArray(doc.manifests)) throw invalid('"manifests" must be an array');
    doc.manifests.forEach((d, i) => validateDescriptor(d, `manifests[${i}]`));
    if (doc.subject !== undefined) validateDescriptor(doc.subject, 'subject');
    checkStringMap(doc.annotations, 'annotations');
    return { kind: 'index', format: formatOf(mediaType), mediaType, index: doc as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType)) {
    if (hasManifests) throw invalid(`a ${mediaType} cannot have "manifests"`);
    validateDescriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw invalid('"layers" must be an array');
    doc.layers.forEach((d, i) => validateDescriptor(d, `layers[${i}]`));
    if (doc.subject !== undefined) validateDescriptor(doc.subject, 'subject');
    checkStringMap(doc.annotations, 'annotations');
    return { kind: 'manifest', format: formatOf(mediaType), mediaType, manifest: doc as unknown as ImageManifest };
  }
  throw new S2IError(
    'ERR_MANIFEST_UNSUPPORTED',
    `manifest media type "${mediaType.slice(0, 200)}" is not an image manifest or index this tool reads (Docker schema 2 or OCI)`,
  );
}

function configInvalid(why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_CONFIG_INVALID', `invalid image config: ${why}`, cause === undefined ? {} : { cause });
}

/** Parses and checks an image config (image-spec config.md); diff_ids must be valid digests. */
export function parseImageConfig(bytes: Buffer): ImageConfig {
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw configInvalid(`it is ${bytes.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw configInvalid(`not JSON (${(e as Error).message})`, e);
  }
  if (!isObject(doc)) throw configInvalid('the document is not a JSON object');
  if (typeof doc.architecture !== 'string' || doc.architecture === '') throw configInvalid('"architecture" must be a non-empty string');
  if (typeof doc.os !== 'string' || doc.os === '') throw configInvalid('"os" must be a non-empty string');
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers') throw configInvalid('rootfs.type must be "layers"');
  if (!Array.isArray(rootfs.diff_ids)) throw configInvalid('rootfs.diff_ids must be an array');
  rootfs.diff_ids.forEach((d, i) => {
    try {
      parseDigest(d as string);
    } catch (e) {
      throw configInvalid(`rootfs.diff_ids[${i}]: ${(e as Error).message}`, e);
    }
  });
  if (doc.config !== undefined && doc.config !== null) {
    const c = doc.config;
    if (!isObject(c)) throw configInvalid('"config" must be an object');
    if (c.Env !== undefined && c.Env !== null && (!Array.isArray(c.Env) || !c.Env.every((x) => typeof x === 'string'))) {
      throw configInvalid('config.Env must be an array of strings');
    }
    for (const k of ['Cmd', 'Entrypoint'] as const) {
      const v = c[k];
      if (v !== undefined && v !== null && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) {
        throw configInvalid(`config.${k} must be an array of strings`);
      }
    }
    if (c.Labels !== undefined && c.Labels !== null && (!isObject(c.Labels) || !Object.values(c.Labels).every((x) => typeof x === 'string'))) {
      throw configInvalid('config.Labels must be an object of strings');
    }
    if (c.User !== undefined && typeof c.User !== 'string') throw configInvalid('config.User must be a string');
    if (c.WorkingDir !== undefined && typeof c.WorkingDir !== 'string') throw configInvalid('config.WorkingDir must be a string');
  }
  if (doc.history !== undefined && doc.history !== null) {
    if (!Array.isArray(doc.history) || !doc.history.every(isObject)) throw configInvalid('"history" must be an array of objects');
  }
  return doc as unknown as ImageConfig;
}

/** The platform an image config declares. */
export function configPlatform(config: ImageConfig): Platform {
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (typeof config.variant === 'string' && config.variant !== '') p.variant = config.variant;
  return p;
}
