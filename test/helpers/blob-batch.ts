// Many blobs of one repository at once, for tests: skip what the repository has, mount from another
// repository, upload the rest; fetch many and hand each verified stream to the test. Production code writes
// images with transport/write-image.ts; this works on a bare registry Repository and writes no manifest.
import type { Readable } from 'node:stream';
import type { ProgressSink } from '../../src/events.js';
import type { Descriptor } from '../../src/oci/types.js';
import type { Repository } from '../../src/registry/client.js';
import { mapLimit } from '../../src/registry/parallel.js';

export interface PushBlobItem {
  descriptor: Descriptor;
  /** Opens the content at `offset` (called again to resume). */
  open: (offset: number) => Readable | Promise<Readable>;
}

export interface PushBlobsResult {
  uploaded: string[];
  skipped: string[];
  mounted: string[];
}

export interface BatchOptions {
  /** Blobs in flight at once. Default 4. */
  concurrency?: number;
  /** Receives `skipped` for blobs the repository has (the client reports `mounted` and the uploads itself). */
  onProgress?: ProgressSink;
}

/** Each blob is skipped when `repo` has it, mounted from `mountFrom` (same registry) when that works, else uploaded. */
export async function pushBlobs(repo: Repository, items: readonly PushBlobItem[], opts: BatchOptions & { mountFrom?: string } = {}): Promise<PushBlobsResult> {
  const out: PushBlobsResult = { uploaded: [], skipped: [], mounted: [] };
  await mapLimit(items, opts.concurrency ?? 4, async ({ descriptor: d, open }) => {
    if (await repo.blobExists(d)) {
      out.skipped.push(d.digest);
      opts.onProgress?.({ type: 'blob', op: 'push', digest: d.digest, size: d.size, done: d.size, state: 'skipped' });
      return;
    }
    if (opts.mountFrom && opts.mountFrom !== repo.name && (await repo.mountBlob(d, opts.mountFrom))) {
      out.mounted.push(d.digest);
      return;
    }
    await repo.pushBlob(d, open);
    out.uploaded.push(d.digest);
  });
  return out;
}

/** `consume` gets each verified stream and must read it to the end (it errors before its end on wrong bytes). */
export async function fetchBlobs(repo: Repository, descs: readonly Descriptor[], consume: (desc: Descriptor, stream: Readable) => Promise<void>, opts: BatchOptions = {}): Promise<void> {
  await mapLimit(descs, opts.concurrency ?? 4, async (d) => {
    const stream = await repo.fetchBlob(d);
    try {
      await consume(d, stream);
    } finally {
      stream.destroy();
    }
  });
}
