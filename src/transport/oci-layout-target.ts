// An OCI image layout directory as an ORAS Target (oras-go content/oci.Store): blobs and manifests alike live
// under blobs/<alg>/<hex> (image-spec image-layout.md), tags are the `org.opencontainers.image.ref.name`
// annotations of index.json entries. An adapter over OciLayout, which verifies every byte it reads and writes.
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifestDocument } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import { OciLayout, refNameAnnotation } from './oci-layout.js';
import { abortable, abortError, openerOf, type PushContent, type RoleOptions, type TagLister, type Target } from './roles.js';

/** The descriptor without the layout's own naming annotation (a tag is not part of the content). */
export function withoutRefName(desc: Descriptor): Descriptor {
  const { annotations, ...rest } = desc;
  if (!annotations) return rest;
  const { [refNameAnnotation]: _name, ...others } = annotations;
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : rest;
}

/** Tags written to index.json: any non-empty text without control characters (image-spec annotations.md ref.name). */
export function checkRefName(reference: string): void {
  if (reference === '' || reference.length > 1024 || /[\u0000-\u001f]/.test(reference)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid reference ${JSON.stringify(reference.slice(0, 100))}: give a non-empty name without control characters`);
  }
}

export class OciLayoutTarget implements Target, TagLister {
  constructor(readonly layout: OciLayout) {}

  /** Opens the layout at `dir`, creating it when missing. */
  static async open(dir: string): Promise<OciLayoutTarget> {
    return new OciLayoutTarget(await OciLayout.openOrCreate(dir));
  }

  async fetch(desc: Descriptor, opts: RoleOptions = {}): Promise<Readable> {
    const what = `read ${desc.digest} from ${this.layout.dir}`;
    if (opts.signal?.aborted) throw abortError(opts.signal, what);
    return abortable(await this.layout.open(desc), opts.signal, what);
  }

  exists(desc: Descriptor): Promise<boolean> {
    return this.layout.has(desc);
  }

  async push(desc: Descriptor, content: PushContent, opts: RoleOptions = {}): Promise<void> {
    const what = `write ${desc.digest} to ${this.layout.dir}`;
    if (opts.signal?.aborted) {
      if (typeof content !== 'function') content.destroy();
      throw abortError(opts.signal, what);
    }
    await this.layout.put(desc, abortable(await openerOf(content, what)(0), opts.signal, what));
  }

  /** A tag (index.json ref.name) or a digest (an index.json entry, else a stored manifest, typed by parsing it). */
  async resolve(reference: string): Promise<Descriptor> {
    if (!isValidDigest(reference)) {
      checkRefName(reference);
      return withoutRefName(await this.layout.find(reference));
    }
    const index = await this.layout.readIndex();
    const entry = index.manifests.find((m) => m.digest === reference);
    if (entry) return withoutRefName(entry);
    let size: number;
    try {
      const st = await fs.stat(this.layout.blobPath(reference));
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = st.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      throw new S2IError('ERR_MANIFEST_UNKNOWN', `the OCI layout ${this.layout.dir} has no manifest ${reference}`, { cause: e });
    }
    // The size comes from our own disk, and readSmall caps it and verifies the digest.
    const bytes = await this.layout.readSmall({ mediaType: '', digest: reference, size }, MAX_MANIFEST_BYTES);
    const parsed = parseManifestDocument(bytes);
    return { mediaType: parsed.mediaType, digest: reference, size };
  }

  /** Names a manifest already in the layout; the index entry keeps its media type, size and platform. */
  async tag(desc: Descriptor, reference: string): Promise<void> {
    checkRefName(reference);
    if (!(await this.layout.has(desc))) {
      throw new S2IError('ERR_MANIFEST_UNKNOWN', `cannot tag ${desc.digest} as "${reference}": it is not in the OCI layout ${this.layout.dir}; push it first`);
    }
    await this.layout.addToIndex(desc, reference);
  }

  async tags(): Promise<string[]> {
    const index = await this.layout.readIndex();
    return index.manifests.map((m) => m.annotations?.[refNameAnnotation]).filter((n): n is string => n !== undefined);
  }
}
