// The engine's local store as `local:NAME|ID` opens it (transport/types.ts LocalImages): a name or image ID looked
// up by store/local-images.ts, the store as a destination through transport/store-destination.ts (named as
// `localName` says, or unnamed: a build without a TAG). Commands that have no engine open the store here.
import path from 'node:path';
import { BlobStore } from '../store/blob-store.js';
import { findLocalImage, keepUnnamed, localName } from '../store/local-images.js';
import { layoutDir, prepareStoreRoot } from '../store/store-paths.js';
import { storeDestination } from '../transport/store-destination.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageDestination, LocalImages } from '../transport/types.js';
import { defaultRoot } from './context.js';

export function localImages(root: string, store: BlobStore): LocalImages {
  return {
    async find(nameOrId) {
      const img = await findLocalImage(root, nameOrId);
      return { layoutDir: path.join(root, layoutDir), descriptor: img.descriptor };
    },
    async destination(name, ctx): Promise<ImageDestination> {
      const tag = name === undefined ? undefined : localName(name);
      const inner = storeDestination(store, { name: `local:${tag ?? '<none>'}`, ...(tag !== undefined ? { tag } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
      const dst: ImageDestination = { ...inner, transport: 'local' };
      if (tag !== undefined) return dst;
      // Unnamed: the top manifest (pushed last) is listed in index.json without a name when the write commits.
      let top: Descriptor | undefined;
      return {
        ...dst,
        async pushManifest(tagOrDigest, bytes, mediaType) {
          const digest = await dst.pushManifest(tagOrDigest, bytes, mediaType);
          top = { mediaType, digest, size: bytes.length };
          return digest;
        },
        async commit() {
          if (top) await keepUnnamed(root, top);
        },
      };
    },
  };
}

/** The local store at `root` (default: the engine's), for commands that open no engine (`copy`, `images`, …). */
export async function openLocalImages(root: string | undefined): Promise<{ root: string; store: BlobStore; local: LocalImages }> {
  const abs = path.resolve(root ?? defaultRoot());
  await prepareStoreRoot(abs);
  const store = await BlobStore.open(abs);
  return { root: abs, store, local: localImages(abs, store) };
}
