// The one I/O interface for every place images live: an ImageSource to read from, an ImageDestination to write
// to (blobs, then manifests, then commit), and one optional capability, Mounter, found by `canMount`. A registry
// repository, an OCI layout, an oci-archive and a docker-archive each implement both (open.ts: one row per
// transport), so the one resolve (resolve-image.ts), the one writer (write-image.ts) and `copyImage` work across
// any two of them.
import type { Readable } from 'node:stream';
import type { ProgressSink } from '../events.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import type { RegistryClient, RegistryClientOptions } from '../registry/client.js';

export type TransportName = 'docker' | 'oci' | 'oci-archive' | 'docker-archive' | 'local';

/** Where an image is read from. */
export interface ImageSource {
  /** What the user typed, normalised (for messages). */
  readonly name: string;
  readonly transport: TransportName;
  /** The top-level manifest or index and its descriptor (digest computed over the exact bytes). */
  resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }>;
  /** A manifest named by an index entry, digest-verified. */
  fetchManifest(desc: Descriptor): Promise<Buffer>;
  /** A blob as a stream that errors (before 'end') when its bytes do not match `desc`. */
  fetchBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** Registry sources: where they live, so a destination on the same registry can mount instead of upload. */
  readonly registry?: { host: string; repository: string };
  /** Which blobs `registry` holds, where it holds only some (the local store over its base's repository); absent: all. */
  mountable?(digest: string): boolean;
  /** Registry sources, once resolved: the name and the endpoint (a mirror, a rewritten location) that served it. */
  readonly pulledFrom?: PulledFrom;
  close(): Promise<void>;
}

/** Which endpoint served a registry image (registries.conf mirrors and locations, short-name candidates). */
export interface PulledFrom {
  /** The fully qualified name read (a short name's candidate). */
  reference: string;
  /** Where it was read: host/repository[:tag][@digest] of the mirror or location. */
  endpoint: string;
  mirror: boolean;
}

/** Where an image is written. Blobs first, the manifest last, then commit(). */
export interface ImageDestination {
  readonly name: string;
  readonly transport: TransportName;
  /** Manifest formats this destination can hold, preferred first. */
  readonly accepts: ImageFormat[];
  /** Whether it can hold an index / manifest list (docker-archive cannot). */
  readonly acceptsIndex: boolean;
  /** The tag the image gets (the location's tag); undefined: only by digest. */
  readonly tag?: string;
  blobExists(desc: Descriptor): Promise<boolean>;
  /**
   * `open(offset)` gives the blob's bytes from `offset` (a retry after a cut resumes there). Resolves with 'shared'
   * when another write's upload of the same blob carried it (nothing of this one's crossed the wire).
   */
  pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void | 'shared'>;
  /** Stores a manifest under a tag or its digest; returns the manifest digest. */
  pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string>;
  /** Makes the result visible (writes index.json, packs the archive). copyImage calls it after the last manifest. */
  commit?(): Promise<void>;
  /**
   * Blobs up to this size are uploaded in one request (a registry: POST then PUT), so a blob that is most likely
   * new is cheaper to upload than to look for first. Absent: always look first.
   */
  readonly smallUploadMax?: number;
  /**
   * Starts, in the background, what the first writes would wait for (a registry: the protocol probe, TLS set-up
   * and `uploads` upload sessions); the promise says whether the first of them worked (the destination takes
   * writes). Ignoring it is safe: a problem then shows on the write.
   */
  prepareWrite?(opts: { uploads: number }): Promise<void>;
  close(): Promise<void>;
}

/** Cross-repository blob mount (distribution-spec "Mounting a blob from another repository"). */
export interface Mounter {
  readonly registry?: { host: string; repository: string };
  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean>;
}

export function canMount(d: ImageDestination): d is ImageDestination & Mounter & { registry: { host: string; repository: string } } {
  const m = d as Partial<Mounter>;
  return typeof m.mountBlob === 'function' && m.registry !== undefined;
}

/** What opening a location needs. */
export interface TransportContext {
  /** A shared registry client; when absent, one is made from `registry` and closed with the source/destination. */
  client?: RegistryClient;
  registry?: Omit<RegistryClientOptions, 'onProgress' | 'signal'>;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  /** Where archives are unpacked and packed (default os.tmpdir()). */
  tmpDir?: string;
  /** The engine's local image store, for `local:` locations (pipeline/local-images.ts); absent: they are refused. */
  local?: LocalImages;
}

/** The local image store as `local:NAME|ID` opens it (transport/ does not import store/: typed by shape). */
export interface LocalImages {
  /** The store's OCI layout dir and the top manifest NAME|ID stands for (unknown, ambiguous: one-line errors). */
  find(nameOrId: string): Promise<{ layoutDir: string; descriptor: Descriptor }>;
  /** The store as a destination naming the image `name` (a short name: `localhost/NAME:TAG`); none: unnamed. */
  destination(name: string | undefined, ctx: TransportContext): Promise<ImageDestination>;
}
