// The engine's local blob store (store/BlobStore: an OCI layout under <root>/oci) as an ImageDestination, so pulls
// write into it through the one writer (write-image.ts) like any other destination: blobs verified as they are
// stored, the manifest last, tagged in the store's index.json under the destination's name. transport/ must not
// import store/ (see README): the store is typed by the shape it has (`LocalBlobStore`).
//
// A pull also unpacks its layers, and a downloaded layer is stored and unpacked from the same bytes in one pass:
// with `layers`, a layer "is there" when it is unpacked (or can be, from the store's copy), and a layer that is
// pushed is handed to the unpacker, which opens it only when it still needs it: the bytes are then teed into the
// store and the unpacker at once, each side verifying them itself.
import { PassThrough, type Readable } from 'node:stream';
import { sha256Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageDestination } from './types.js';
import { park } from './verify.js';

/** What the destination needs of store/BlobStore (its methods, by shape). */
export interface LocalBlobStore {
  has(digest: string): Promise<boolean>;
  /** Verifies while writing; ERR_DIGEST_MISMATCH stores nothing. Consumes or destroys `src`. */
  put(desc: Descriptor, src: Readable, opts?: { signal?: AbortSignal }): Promise<void>;
  putBytes(bytes: Buffer, mediaType: string): Promise<Descriptor>;
  tag(desc: Descriptor, name: string): Promise<void>;
}

/** Where the layers of a pull are unpacked (build/pull.ts: the layer cache). */
export interface LayerSink {
  /** The blobs that are layers to unpack (the others are only stored). */
  readonly digests: ReadonlySet<string>;
  /** Whether the layer needs no bytes from the source: unpacked already, or unpacked now from the store's copy. */
  have(desc: Descriptor): Promise<boolean>;
  /** Unpacks the layer, calling `bytes` only when it needs them: the source's bytes, teed into the store as they are
   *  read. The sink verifies them itself. Not called: nothing is downloaded or stored (unpacked meanwhile). */
  unpack(desc: Descriptor, bytes: () => Promise<Readable>): Promise<void>;
}

export interface StoreDestinationOptions {
  /** For messages. */
  name: string;
  /** The name the top manifest is tagged under in the store's index.json; undefined: stored by digest only. */
  tag?: string;
  layers?: LayerSink;
  signal?: AbortSignal;
}

export function storeDestination(store: LocalBlobStore, opts: StoreDestinationOptions): ImageDestination {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const sink = opts.layers;
  return {
    name: opts.name,
    transport: 'oci',
    accepts: ['oci', 'docker'],
    acceptsIndex: true,
    ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
    blobExists: (desc) => (sink?.digests.has(desc.digest) ? sink.have(desc) : store.has(desc.digest)),
    async pushBlob(desc, open) {
      if (!sink?.digests.has(desc.digest)) return store.put(desc, await open(0), signal);
      let storing: Promise<void> | undefined;
      // Opened only when the sink needs the bytes (under its lock, after looking again: another build may have
      // unpacked the layer meanwhile, and then nothing is downloaded).
      const bytes = async (): Promise<Readable> => {
        const tee = teeBlob(await open(0));
        storing = store.put(desc, tee.toStore, signal);
        // A blob the store refuses (digest mismatch) fails the unpack too; the unpacker checks the digest itself as well.
        storing.catch((e: unknown) => tee.toCache.destroy(e as Error));
        return tee.toCache;
      };
      try {
        await sink.unpack(desc, bytes);
      } catch (e) {
        // Never leave the store write running behind a failed unpack; when the store refused the bytes (digest
        // mismatch), that is the real cause and wins over whatever the decompressor made of them.
        const storeError = storing ? await storing.then(() => undefined, (x: unknown) => x) : undefined;
        throw storeError ?? e;
      }
      if (storing) await storing;
    },
    async pushManifest(tagOrDigest, bytes, mediaType) {
      const desc = await store.putBytes(bytes, mediaType);
      if (opts.tag !== undefined && tagOrDigest === opts.tag) await store.tag(desc, opts.tag);
      return sha256Digest(bytes);
    },
    close: async () => {},
  };
}

/**
 * One pass over a downloaded blob: the same bytes go to the blob store and to the unpacker at once, at the pace of
 * the slower one. Each side verifies the digest itself (the store before its link, the layer cache before its
 * rename, together with the diffID), so neither makes anything visible from bytes the other would refuse. A
 * side that stops early (the store already has the blob, the unpack fails) is unpiped, and the other one goes on.
 */
function teeBlob(src: Readable): { toStore: PassThrough; toCache: PassThrough } {
  // Parked: the store may still wait for its lock when the source fails (a blob that does not match its
  // descriptor); the error then waits in `errored` for its pipeline instead of crashing the process.
  const toStore = park(new PassThrough());
  const toCache = park(new PassThrough());
  let open = 2;
  for (const side of [toStore, toCache]) {
    side.once('close', () => {
      src.unpipe(side);
      // Nobody reads any more: release the source (a registry response body must be consumed or destroyed).
      if (--open === 0 && !src.readableEnded) src.destroy();
    });
    src.pipe(side);
  }
  const fail = (e: Error): void => {
    toStore.destroy(e);
    toCache.destroy(e);
  };
  src.on('error', fail);
  if (src.errored) fail(src.errored);
  return { toStore, toCache };
}
