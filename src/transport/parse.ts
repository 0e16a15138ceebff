// Image locations: `docker://REF` or a bare REF (registry), `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
// `docker-archive:FILE[:REF]`, `local:NAME|ID` (the engine's local image store: spec/store-format.md "Local images"). As in containers/image, the path ends at the first ':' after the transport
// (paths with ':' are not supported); everything after it is the tag or reference.
import { S2IError } from '../errors.js';
import { parseReference, formatReference, type Reference } from '../oci/reference.js';
import type { ImageFormat } from '../oci/types.js';

export type ImageLocation =
  | { transport: 'docker'; ref: Reference }
  | { transport: 'oci'; dir: string; tag?: string }
  | { transport: 'oci-archive'; file: string; tag?: string }
  | { transport: 'docker-archive'; file: string; ref?: Reference }
  /** An image of the local store, by name or image ID (looked up when opened); no name: a build's unnamed result. */
  | { transport: 'local'; name?: string };

const TRANSPORTS = 'docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF], local:NAME|ID';

/** The value of org.opencontainers.image.ref.name (image-spec annotations.md grammar, loosened for paths). */
const ociTag = /^[A-Za-z0-9](?:[A-Za-z0-9._:@+/-]{0,254})$/;

function invalid(input: string, why: string): S2IError {
  const shown = JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input);
  return new S2IError('ERR_INVALID_REFERENCE', `invalid image location ${shown}: ${why}; use one of ${TRANSPORTS}`, { step: 'usage' });
}

function splitPath(input: string, rest: string): { path: string; suffix?: string } {
  const colon = rest.indexOf(':');
  const p = colon < 0 ? rest : rest.slice(0, colon);
  if (p === '') throw invalid(input, 'the path is empty');
  if (p.includes('\0')) throw invalid(input, 'the path contains a NUL byte');
  return colon < 0 ? { path: p } : { path: p, suffix: rest.slice(colon + 1) };
}

function checkOciTag(input: string, tag: string | undefined): string | undefined {
  if (tag === undefined) return undefined;
  if (!ociTag.test(tag)) throw invalid(input, `"${tag.slice(0, 100)}" is not a valid layout tag (letters, digits and . _ - : @ + /, starting with a letter or digit)`);
  return tag;
}

export function parseImageLocation(s: string): ImageLocation {
  if (typeof s !== 'string' || s === '') throw invalid(String(s), 'empty');
  const m = /^([a-z][a-z-]*):(.*)$/s.exec(s);
  const scheme = m?.[1];
  if (s.startsWith('docker://')) return { transport: 'docker', ref: parseReference(s) };
  switch (scheme) {
    case 'oci': {
      const { path, suffix } = splitPath(s, m![2]!);
      const tag = checkOciTag(s, suffix);
      return tag === undefined ? { transport: 'oci', dir: path } : { transport: 'oci', dir: path, tag };
    }
    case 'oci-archive': {
      const { path, suffix } = splitPath(s, m![2]!);
      const tag = checkOciTag(s, suffix);
      return tag === undefined ? { transport: 'oci-archive', file: path } : { transport: 'oci-archive', file: path, tag };
    }
    case 'docker-archive': {
      const { path, suffix } = splitPath(s, m![2]!);
      if (suffix === undefined || suffix === '') return { transport: 'docker-archive', file: path };
      const ref = parseReference(suffix);
      if (ref.digest) throw invalid(s, 'a docker-archive names images by tag, not by digest');
      return { transport: 'docker-archive', file: path, ref };
    }
    case 'local': {
      const name = m![2]!;
      if (name === '') throw invalid(s, 'the local image name is empty');
      if (name.length > 1024 || /[\0\n]/.test(name)) throw invalid(s, 'not a local image name or ID');
      return { transport: 'local', name };
    }
    case 'containers-storage':
    case 'docker-daemon':
    case 'dir':
    case 'ostree':
    case 'sif':
      throw invalid(s, `the ${scheme}: transport is not supported (this tool has no daemon; its own images are local:NAME)`);
    default:
      try {
        return { transport: 'docker', ref: parseReference(s) };
      } catch (e) {
        // "name:tag" looks like "transport:rest"; only when it is not a reference is it an unknown transport.
        if (scheme !== undefined) throw invalid(s, `unknown transport "${scheme}:"`);
        throw e;
      }
  }
}

export function formatImageLocation(l: ImageLocation): string {
  switch (l.transport) {
    case 'docker':
      return `docker://${formatReference(l.ref)}`;
    case 'oci':
      return `oci:${l.dir}${l.tag ? `:${l.tag}` : ''}`;
    case 'oci-archive':
      return `oci-archive:${l.file}${l.tag ? `:${l.tag}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${l.file}${l.ref ? `:${formatReference(l.ref)}` : ''}`;
    case 'local':
      return `local:${l.name ?? ''}`;
  }
}

/** The manifest format a destination gets when none is asked for: OCI for layouts and oci-archives (they hold
 *  OCI manifests only), Docker otherwise (the local store too: what a registry push then needs no conversion for).
 *  The one rule for `build` and `build-image`. */
export function defaultFormatFor(target: ImageLocation | string): ImageFormat {
  const l = typeof target === 'string' ? parseImageLocation(target) : target;
  return l.transport === 'oci' || l.transport === 'oci-archive' ? 'oci' : 'docker';
}
