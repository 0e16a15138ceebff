// The one writer: "skip / mount / upload, manifest last" for any ImageDestination (build/push.ts, copy.ts, the
// Containerfile builder's output and pulls into the local store, store-destination.ts, all go through it). Every
// blob first (at most `concurrency` at once): kept out when the caller says so (foreign layers), skipped when the
// destination has it, mounted across repositories of the same registry when it is the source's, else uploaded
// (resumable: `open(offset)`). Only when every blob is there are the manifests written (children by digest, the top
// one under the tag) and the destination committed, so a failure leaves no tag pointing at missing blobs and no
// half-written archive.
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import { mapLimit } from '../registry/parallel.js';
import type { ImageLocation } from './parse.js';
import { RegistryDestination } from './registry.js';
import { canMount, type ImageDestination } from './types.js';

export type BlobOpener = (offset: number) => Readable | Promise<Readable>;

export interface WriteBlob {
  descriptor: Descriptor;
  /** The blob's bytes from `offset` (called again to resume an upload cut short). */
  open: BlobOpener;
  /** When given, called after the skip and mount checks to pick where the bytes come from (may throw: a blob found nowhere). */
  locate?: () => Promise<BlobOpener>;
  /** The mount source has these bytes: worth a cross-repository mount. */
  mountable?: boolean;
  /** Kept out of the destination; the text is logged (a foreign layer under `--foreign-layers skip-upload`). */
  skip?: string;
  /** Upload without asking the destination first (a small blob the build just made: two round trips, not three). */
  uploadFirst?: () => Promise<boolean>;
}

export interface WriteManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface WritableImage {
  blobs: readonly WriteBlob[];
  /** Manifests an index names, written by digest before `manifest`. */
  children?: readonly WriteManifest[];
  /** The top manifest or index: written under the destination's tag (else its digest). Absent: blobs only (a pull's
   *  layers into the store, whose manifest is there already), no manifest and no commit. */
  manifest?: WriteManifest;
}

export interface WriteOptions {
  /** Where blobs marked `mountable` live: mounted from there when the destination is another repository of that registry. */
  mountFrom?: { host: string; repository: string };
  /** Blobs in flight at once. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Gets `skipped`, `end` for file destinations (registry uploads and mounts report themselves), skip notices. */
  onProgress?: ProgressSink;
  /** Called once every blob is there, before the first manifest (a check that may still refuse to publish, or a
   *  wait for what the manifest must follow: a build's attachments wait for the image's own push). */
  beforeManifest?: () => void | Promise<void>;
}

export interface WriteStats {
  uploaded: string[];
  skipped: string[];
  mounted: string[];
  /** The sizes of the uploaded blobs, summed (what crossed the wire to the destination, resumed uploads counted whole). */
  uploadedBytes: number;
  /** The digest the destination gave the top manifest ('' when only blobs were written). */
  digest: string;
}

export async function writeImage(dst: ImageDestination, image: WritableImage, opts: WriteOptions = {}): Promise<WriteStats> {
  const stats: WriteStats = { uploaded: [], skipped: [], mounted: [], uploadedBytes: 0, digest: '' };
  const seen = new Set<string>();
  const blobs = image.blobs.filter((b) => !seen.has(b.descriptor.digest) && seen.add(b.descriptor.digest));
  const from = opts.mountFrom;
  const mountFrom = canMount(dst) && from && from.host === dst.registry.host && from.repository !== dst.registry.repository ? from.repository : undefined;
  const event = (d: Descriptor, state: 'skipped' | 'end') => opts.onProgress?.({ type: 'blob', op: 'push', digest: d.digest, size: d.size, done: d.size, state });
  await mapLimit(
    blobs,
    opts.concurrency ?? 4,
    async (b) => {
      const d = b.descriptor;
      if (b.skip !== undefined) {
        opts.onProgress?.({ type: 'log', level: 'info', message: b.skip });
        return;
      }
      const uploadFirst = b.uploadFirst ? await b.uploadFirst() : false;
      if (!uploadFirst && (await dst.blobExists(d))) {
        stats.skipped.push(d.digest);
        event(d, 'skipped');
        return;
      }
      if (mountFrom && b.mountable && canMount(dst) && (await dst.mountBlob(d, mountFrom))) {
        stats.mounted.push(d.digest);
        return;
      }
      const open = b.locate ? await b.locate() : b.open;
      if ((await dst.pushBlob(d, open)) === 'shared') {
        stats.skipped.push(d.digest);
        event(d, 'skipped');
        return;
      }
      stats.uploaded.push(d.digest);
      stats.uploadedBytes += d.size;
      if (dst.transport !== 'docker') event(d, 'end');
    },
    opts.signal ? { signal: opts.signal } : {},
  );
  opts.signal?.throwIfAborted();
  if (!image.manifest) return stats;
  await opts.beforeManifest?.();
  opts.signal?.throwIfAborted();
  for (const m of image.children ?? []) await dst.pushManifest(m.digest, m.bytes, m.mediaType);
  stats.digest = await dst.pushManifest(dst.tag ?? image.manifest.digest, image.manifest.bytes, image.manifest.mediaType);
  await dst.commit?.();
  return stats;
}

/**
 * Gets the destination at `where` ready for a write that starts later, without opening it (opening a file
 * destination would start writing it), and says whether it can be written: a registry starts its protocol probe
 * and opens `uploads` upload sessions on the shared `client` the write will use, and the promise settles with the
 * first session (the registry is reachable and takes a push from these credentials); a file destination's
 * nearest existing directory must be writable. Ignoring the promise is safe (never an unhandled rejection): a
 * problem then shows on the write.
 */
export function prepareWrite(where: ImageLocation, client: RegistryClient, opts: { uploads: number }): Promise<void> {
  let ready: Promise<void>;
  try {
    ready =
      where.transport === 'docker'
        ? // At the location registries.conf gives; a bad name or a blocked registry refuses here, before assemble.
          RegistryDestination.open(client, where.ref).then((d) => d.prepareWrite(opts))
        : where.transport === 'local'
          ? Promise.resolve() // the engine's own store, opened (and checked) with the engine
          : checkWritable(where.transport === 'oci' ? where.dir : path.dirname(where.file), where.transport === 'oci' ? `the OCI layout ${where.dir}` : `the archive ${where.file}`);
  } catch (e) {
    ready = Promise.reject(e);
  }
  ready.catch(() => {});
  return ready;
}

/** The nearest existing directory at or above `dir` (where a file destination is created) is one this process may write. */
async function checkWritable(dir: string, what: string): Promise<void> {
  let p = path.resolve(dir);
  for (;;) {
    const st = await fs.stat(p).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) throw new S2IError('ERR_DESTINATION', `cannot write ${what}: ${p} is not a directory; give a path in a directory you can write`);
      await fs.access(p, fsConstants.W_OK | fsConstants.X_OK).catch((e: NodeJS.ErrnoException) => {
        throw new S2IError('ERR_DESTINATION', `cannot write ${what}: ${p} is not writable (${e.code ?? e.message}); give a path in a directory you can write`, { cause: e });
      });
      return;
    }
    const parent = path.dirname(p);
    if (parent === p) return;
    p = parent;
  }
}
