// Where a built image goes: a registry (build/push.ts: blobs the registry has are skipped, base layers mounted
// from the base image's repository), or an `oci:` / `oci-archive:` / `docker-archive:` destination (transport/).
// The image is always named in the local store too, so `--no-push` results can be used by later builds.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { formatReference } from '../oci/reference.js';
import type { Engine } from '../pipeline/context.js';
import { pushImage, type PushStats } from '../pipeline/push.js';
import { storeName } from '../pipeline/pull.js';
import { openDestination } from '../transport/open.js';
import type { ImageSource } from '../transport/types.js';
import { formatImageLocation, parseImageLocation } from '../transport/parse.js';
import { skipBytes } from '../transport/verify.js';
import { writeImage, type WriteBlob } from '../transport/write-image.js';

export interface OutputInput {
  tag: string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  /** Layers in order, then the config. */
  blobs: Descriptor[];
  /** The base image's layer digests (readable from `source` when not in the local store). */
  baseBlobs: ReadonlySet<string>;
  source?: ImageSource;
  noPush: boolean;
}

export interface OutputResult {
  /** The normalised destination. */
  reference: string;
  pushed: boolean;
  push?: PushStats;
}

export async function writeOutput(engine: Engine, input: OutputInput): Promise<OutputResult> {
  const loc = parseImageLocation(input.tag);
  const manifestDesc: Descriptor = { mediaType: input.manifest.mediaType, digest: input.manifest.digest, size: input.manifest.bytes.length };
  if (loc.transport === 'docker') {
    const reference = formatReference(loc.ref);
    if (loc.ref.digest) throw new S2IError('ERR_USAGE', `the destination ${input.tag} has a digest: name it by tag`);
    await engine.store.tag(manifestDesc, storeName(loc.ref));
    if (input.noPush) return { reference, pushed: false };
    const push = await pushImage(engine, {
      target: loc.ref,
      manifest: input.manifest,
      blobs: input.blobs,
      ...(input.source ? { source: input.source } : {}),
      sourceBlobs: input.baseBlobs,
    });
    return { reference, pushed: true, push };
  }
  const reference = formatImageLocation(loc);
  await engine.store.tag(manifestDesc, reference);
  if (input.noPush) return { reference, pushed: false };
  const dst = await openDestination(loc, { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root });
  try {
    const format: ImageFormat = input.manifest.mediaType.includes('docker') ? 'docker' : 'oci';
    if (!dst.accepts.includes(format)) {
      throw new S2IError('ERR_FORMAT_UNSUPPORTED', `${reference} holds ${dst.accepts.join('/')} images only; use --format ${dst.accepts[0]}`, { step: 'usage' });
    }
    const src = input.source;
    const blobs: WriteBlob[] = input.blobs.map((d) => ({
      descriptor: d,
      open: (offset) => engine.store.open(d.digest, offset),
      locate: async () => {
        if (await engine.store.has(d.digest)) return (offset) => engine.store.open(d.digest, offset);
        if (src && input.baseBlobs.has(d.digest)) return async (offset): Promise<Readable> => skipBytes(await src.fetchBlob(d, { signal: engine.signal }), offset);
        throw new S2IError('ERR_BLOB_MISSING', `blob ${d.digest} is neither in the local store nor in the base image's registry; build again with --pull-policy always`);
      },
    }));
    // One blob at a time and no progress events, as this output has always written file destinations.
    await writeImage(dst, { blobs, manifest: input.manifest }, { concurrency: 1 });
    return { reference, pushed: true };
  } finally {
    await dst.close();
  }
}
