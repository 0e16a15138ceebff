// The engine's local blob store (store/BlobStore: an OCI layout under <root>/oci with locks and temp dirs) as an
// ORAS Target, so `copy` can fill it from a registry or empty it into one. transport/ must not import store/
// (see README): the adapter is written against the structural `LocalContentStore`, which BlobStore satisfies.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifestDocument } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import { checkRefName, withoutRefName } from './oci-layout-target.js';
import { abortable, abortError, openerOf, type PushContent, type RoleOptions, type Target } from './roles.js';
import { VerifyStream } from './verify.js';

/** What the adapter needs of store/BlobStore (its methods, by shape). */
export interface LocalContentStore {
  readonly root: string;
  size(digest: string): Promise<number | undefined>;
  /** Verifies while writing; ERR_DIGEST_MISMATCH stores nothing. */
  put(desc: Descriptor, src: Readable, opts?: { signal?: AbortSignal }): Promise<void>;
  open(digest: string, start?: number): Readable;
  /** Reads whole and re-verifies; ERR_BLOB_UNKNOWN when absent. */
  readBytes(digest: string, maxSize: number): Promise<Buffer>;
  tag(desc: Descriptor, name: string): Promise<void>;
  resolveTag(name: string): Promise<Descriptor | undefined>;
}

export class BlobStoreTarget implements Target {
  constructor(readonly store: LocalContentStore) {}

  /** A verified stream; ERR_BLOB_UNKNOWN when the store lacks it (checked first: open() fails late). */
  async fetch(desc: Descriptor, opts: RoleOptions = {}): Promise<Readable> {
    const what = `blob ${desc.digest} in the store at ${this.store.root}`;
    if (opts.signal?.aborted) throw abortError(opts.signal, what);
    if ((await this.store.size(desc.digest)) === undefined) throw new S2IError('ERR_BLOB_UNKNOWN', `${what} is missing; pull the image again`);
    const verify = new VerifyStream(desc, what);
    const src = this.store.open(desc.digest);
    src.on('error', (e) => verify.destroy(e));
    return abortable(src.pipe(verify), opts.signal, what);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return (await this.store.size(desc.digest)) === desc.size;
  }

  async push(desc: Descriptor, content: PushContent, opts: RoleOptions = {}): Promise<void> {
    const what = `store ${desc.digest}`;
    if (opts.signal?.aborted) {
      if (typeof content !== 'function') content.destroy();
      throw abortError(opts.signal, what);
    }
    await this.store.put(desc, await openerOf(content, what)(0), opts.signal ? { signal: opts.signal } : {});
  }

  async resolve(reference: string): Promise<Descriptor> {
    if (!isValidDigest(reference)) {
      checkRefName(reference);
      const found = await this.store.resolveTag(reference);
      if (!found) throw new S2IError('ERR_TAG_NOT_FOUND', `the store at ${this.store.root} has no image named "${reference}"`);
      return withoutRefName(found);
    }
    let bytes: Buffer;
    try {
      bytes = await this.store.readBytes(reference, MAX_MANIFEST_BYTES);
    } catch (e) {
      if (e instanceof S2IError && e.code === 'ERR_BLOB_UNKNOWN') {
        throw new S2IError('ERR_MANIFEST_UNKNOWN', `the store at ${this.store.root} has no manifest ${reference}`, { cause: e });
      }
      throw e;
    }
    return { mediaType: parseManifestDocument(bytes).mediaType, digest: reference, size: bytes.length };
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    checkRefName(reference);
    if (!(await this.exists(desc))) {
      throw new S2IError('ERR_MANIFEST_UNKNOWN', `cannot name ${desc.digest} "${reference}": it is not in the store at ${this.store.root}`);
    }
    await this.store.tag(withoutRefName(desc), reference);
  }
}
