// /tmp/.s2i/image_metadata.json, written by assemble: {"labels":[{"k":"v"}, …]} (S2I-CONTRACT.md labels).

import { S2IError } from '../errors.js';

export const imageMetadataPath = '/tmp/.s2i/image_metadata.json';
export const maxImageMetadataBytes = 1024 * 1024;

function bad(why: string, cause?: unknown): S2IError {
  return new S2IError('ERR_IMAGE_METADATA', `${imageMetadataPath} written by assemble ${why}; expected {"labels":[{"name":"value"}]} (labels from it are ignored)`, {
    cause,
  });
}

/**
 * Labels from image_metadata.json; later entries win. Errors are ERR_IMAGE_METADATA, meant to be shown as a
 * warning by the caller (the build itself succeeded).
 */
export function parseImageMetadata(json: Buffer): Record<string, string> {
  if (json.length > maxImageMetadataBytes) throw bad(`is ${json.length} bytes, over the ${maxImageMetadataBytes}-byte limit`);
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`, e);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad('is not a JSON object');
  const labels = (doc as { labels?: unknown }).labels;
  if (labels === undefined || labels === null) return {};
  if (!Array.isArray(labels)) throw bad('has "labels" that is not an array');
  const out: Record<string, string> = {};
  for (const item of labels) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw bad('has a "labels" entry that is not an object');
    for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
      if (k === '') throw bad('has an empty label name');
      if (typeof v !== 'string') throw bad(`has label "${k}" whose value is not a string`);
      out[k] = v;
    }
  }
  return out;
}
