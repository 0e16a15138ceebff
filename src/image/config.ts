// Image config edits (image-spec config.md). Every function returns a new config and leaves its input as it
// was: configs are shared between the pipeline's steps and a mutated builder config is a subtle bug.
import { S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { ContainerConfig, History, ImageConfig, ImageFormat } from '../oci/types.js';
import { canonicalJson } from './canonical-json.js';

function clone(config: ImageConfig): ImageConfig {
  return structuredClone(config);
}

/** Appends a layer's diffID and its history entry; the image's `created` follows the history entry's. */
export function appendLayer(config: ImageConfig, diffID: string, history: History): ImageConfig {
  parseDigest(diffID);
  const next = clone(config);
  next.rootfs = { type: 'layers', diff_ids: [...(config.rootfs?.diff_ids ?? []), diffID] };
  const entry: History = { ...history };
  delete entry.empty_layer;
  next.history = [...(next.history ?? []), entry];
  if (history.created !== undefined) next.created = history.created;
  return next;
}

/** Records a config-only step (no layer), as `empty_layer: true` history. */
export function addHistory(config: ImageConfig, history: History): ImageConfig {
  const next = clone(config);
  next.history = [...(next.history ?? []), { ...history, empty_layer: true }];
  if (history.created !== undefined) next.created = history.created;
  return next;
}

/**
 * Sets container config fields (Env, Cmd, Labels, User, ...). A field given as `undefined` is removed; other
 * fields are kept.
 */
export function setConfigFields(config: ImageConfig, fields: Partial<ContainerConfig>): ImageConfig {
  const next = clone(config);
  const cc: ContainerConfig = { ...(next.config ?? {}) };
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) delete cc[k];
    else cc[k] = structuredClone(v);
  }
  next.config = cc;
  return next;
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/**
 * Docker's ENV semantics: a name already in `base` keeps its position and takes the new value, new names are
 * appended in order, and a later pair wins over an earlier one.
 */
export function mergeEnv(base: string[] | undefined, add: Array<[string, string]>): string[] {
  const out = [...(base ?? [])];
  const index = new Map<string, number>();
  out.forEach((e, i) => {
    const n = envName(e);
    if (!index.has(n)) index.set(n, i);
  });
  for (const [name, value] of add) {
    if (typeof name !== 'string' || name === '' || name.includes('=') || name.includes('\0') || String(value).includes('\0')) {
      throw new S2IError('ERR_INVALID_ENV', `invalid environment variable name ${JSON.stringify(name)}: it must be non-empty and have no "=" or NUL`);
    }
    const entry = `${name}=${value}`;
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push(entry);
    } else {
      out[at] = entry;
    }
  }
  return out;
}

/** Merges label sets; a later set wins. null/undefined sets are skipped. */
export function mergeLabels(...layers: Array<Record<string, string> | null | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of layers) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l)) {
      // defineProperty: a label named "__proto__" is data, not a prototype switch.
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

/** Config bytes: canonical JSON (compact, sorted keys), so the same config always has the same digest. */
export function serializeConfig(config: ImageConfig): Buffer {
  return Buffer.from(canonicalJson(config), 'utf8');
}

export function configMediaType(format: ImageFormat): string {
  return format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
}
