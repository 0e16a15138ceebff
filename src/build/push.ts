// Pushing an image to a registry: every blob is skipped when the target has it, mounted across repositories of
// the same registry when the source is there, else uploaded from the local store or streamed from the source
// registry. Only then is the manifest PUT: a failed push leaves no tag pointing at missing blobs.
import { Transform, type Readable } from 'node:stream';
import type { Descriptor } from '../oci/types.js';
import type { Reference } from '../oci/reference.js';
import type { Repository } from '../registry/client.js';
import type { Engine } from './context.js';
import { mapLimit } from './limit.js';

export interface PushInput {
  target: Reference;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  /** Config first or last does not matter; layers in image order. */
  blobs: Descriptor[];
  /** Where blobs not in the local store can be read from (the builder's repository). */
  source?: Repository;
  /** Blobs the source repository has (the builder's layers): only these are worth a cross-repo mount. */
  sourceBlobs?: ReadonlySet<string>;
  concurrency?: number;
}

export interface PushStats {
  uploaded: string[];
  skipped: string[];
  mounted: string[];
}

export async function pushImage(engine: Engine, input: PushInput): Promise<PushStats> {
  const dst = engine.client.repository(input.target.registry, input.target.repository);
  const stats: PushStats = { uploaded: [], skipped: [], mounted: [] };
  const src = input.source;
  const sameRegistry = src !== undefined && src.registry === dst.registry && src.name !== dst.name;
  await mapLimit(input.blobs, input.concurrency ?? 4, async (d) => {
    if (await dst.blobExists(d)) {
      stats.skipped.push(d.digest);
      engine.onProgress({ type: 'blob', op: 'push', digest: d.digest, size: d.size, done: d.size, state: 'skipped' });
      return;
    }
    // mountBlob reports 'mounted' itself.
    if (sameRegistry && input.sourceBlobs?.has(d.digest) && (await dst.mountBlob(d, src.name))) {
      stats.mounted.push(d.digest);
      return;
    }
    if (await engine.store.has(d.digest)) {
      await dst.pushBlob(d, (offset) => engine.store.open(d.digest, offset));
    } else if (src && input.sourceBlobs?.has(d.digest)) {
      await dst.pushBlob(d, async (offset) => skipBytes(await src.fetchBlob(d, { signal: engine.signal }), offset));
    } else {
      throw new Error(`blob ${d.digest} is neither in the local store nor in a source repository`);
    }
    stats.uploaded.push(d.digest);
  });
  const tagOrDigest = input.target.tag ?? input.target.digest ?? 'latest';
  await dst.pushManifest(tagOrDigest, input.manifest.bytes, input.manifest.mediaType);
  return stats;
}

/** Drops the first `n` bytes of a stream (resuming an upload from a source that cannot seek). */
function skipBytes(s: Readable, n: number): Readable {
  if (n <= 0) return s;
  let left = n;
  return s.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (left >= chunk.length) {
          left -= chunk.length;
          cb();
        } else {
          const rest = chunk.subarray(left);
          left = 0;
          cb(null, rest);
        }
      },
    }),
  );
}
