// The local store in front of a source while pulling, so the one resolve (transport/resolve-image.ts) reads what
// the store already has and the pull policy decides the rest: blobs (the config) are read from the store when it
// has them; with `manifests`, index entries too, and the ones fetched are kept. What the store hands out is
// verified again as it is read, as any source's bytes are.
import type { Readable } from 'node:stream';
import type { S2IError } from '../errors.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ImageSource } from '../transport/types.js';
import { verifiedFileStream } from '../transport/verify.js';

export interface StoreFirstOptions {
  /** Read index entries from the store when it has them, and store those fetched (registry pulls). */
  manifests?: boolean;
  /** With `manifests`: the error for an entry the store lacks when nothing may be fetched (--pull-policy never). */
  offline?: (desc: Descriptor) => S2IError;
}

export function storeFirst(store: BlobStore, inner: ImageSource, opts: StoreFirstOptions = {}): ImageSource {
  return {
    name: inner.name,
    transport: inner.transport,
    ...(inner.registry ? { registry: inner.registry } : {}),
    ...(inner.mountable ? { mountable: (digest: string) => inner.mountable!(digest) } : {}),
    resolve: () => inner.resolve(),
    async fetchManifest(desc: Descriptor): Promise<Buffer> {
      if (!opts.manifests) return inner.fetchManifest(desc);
      if (await store.has(desc.digest)) return store.readBytes(desc.digest, MAX_MANIFEST_BYTES);
      if (opts.offline) throw opts.offline(desc);
      const bytes = await inner.fetchManifest(desc);
      await store.putBytes(bytes, desc.mediaType);
      return bytes;
    },
    async fetchBlob(desc: Descriptor, o: { signal?: AbortSignal } = {}): Promise<Readable> {
      if (!(await store.has(desc.digest))) return inner.fetchBlob(desc, o);
      store.touch(desc.digest);
      return verifiedFileStream(store.path(desc.digest), desc, `stored blob ${desc.digest} (run \`oci-s2i cache verify\`)`);
    },
    close: () => inner.close(),
  };
}
