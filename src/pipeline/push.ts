// Writing an image to its destination (any transport: a registry, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
// `docker-archive:FILE[:REF]`): every blob is skipped when the destination has it, mounted across repositories
// of the same registry when the source is there, else uploaded from the local store or streamed from the source.
// Only then is the manifest written and the destination committed: a failed push leaves no tag pointing at
// missing blobs, and no half-written archive.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { Reference } from '../oci/reference.js';
import { openDestination } from '../transport/open.js';
import type { ImageLocation } from '../transport/parse.js';
import type { ImageSource } from '../transport/types.js';
import { prepareWrite, writeImage, type WriteBlob } from '../transport/write-image.js';
import { skipBytes } from '../transport/verify.js';
import type { Engine } from './context.js';
import { parentLost } from '../sys/parent-death.js';
import { locationName, toLocation, type BlobFetcher } from './pull.js';
import type { SigningKey } from '../sign/key.js';
import { signImage } from '../sign/sign-image.js';

export interface PushInput {
  /** A registry Reference, a location, or a location string (`docker-archive:app.tar:app:latest`, …). */
  target: Reference | ImageLocation | string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  /** Config first or last does not matter; layers in image order. */
  blobs: Descriptor[];
  /** Where blobs not in the local store can be read from (the builder's repository or source). */
  source?: ImageSource;
  /** Blobs the source has (the builder's layers): only these are worth a cross-repo mount or a fetch. */
  sourceBlobs?: ReadonlySet<string>;
  concurrency?: number;
}

export interface PushStats {
  uploaded: string[];
  skipped: string[];
  mounted: string[];
}

/**
 * Throws when the command that started this engine is gone (sys/parent-death.ts): a build that lost its parent
 * publishes nothing. Its parent-death signal normally ends it first; this covers a signal that did not fire.
 */
export function assertParentAlive(nothing: string): void {
  if (parentLost()) {
    throw new S2IError('ERR_PARENT_GONE', `the oci-s2i command that started this engine is gone: nothing ${nothing}`);
  }
}

/**
 * Where a build's result is pushed: nowhere with --no-push, nor for a local image (`local:NAME`, a TAG that names
 * no registry, no TAG at all): the result is then in the local store only.
 */
export function pushTargetOf(opts: { noPush?: boolean; target: ImageLocation }): ImageLocation | undefined {
  return opts.noPush || opts.target.transport === 'local' ? undefined : opts.target;
}

/**
 * Called when a build starts, so it runs while the source and the builder are fetched: the push's destination
 * starts what its first writes would wait for (a registry's protocol probe, TLS set-up, a push token and the
 * upload sessions of the new layer and the config, which the push then uses; a file destination: its directory
 * is writable). The build awaits the promise before assemble runs, so a missing login or an unreachable registry
 * is found before the work, in one line that names the destination and what to do. Ignoring it is safe.
 */
export function preparePush(engine: Engine, target: ImageLocation): Promise<void> {
  const ready = prepareWrite(target, engine.client, { uploads: 2 }).catch(async (e: unknown) => {
    throw await cannotPush(engine, target, e);
  });
  ready.catch(() => {});
  return ready;
}

/** Why the destination cannot be pushed to, said as what to do about it (the credentials named by where they are, never shown). */
async function cannotPush(engine: Engine, target: ImageLocation, e: unknown): Promise<unknown> {
  if (!(e instanceof S2IError) || target.transport !== 'docker') return e;
  const name = locationName(target);
  const host = target.ref.registry;
  const advice = `run \`oci-s2i login ${host}\` or give --creds USER[:PASS]`;
  if (e.code === 'ERR_UNAUTHORIZED' || e.code === 'ERR_DENIED') {
    const found = await engine.client.findCredentials(host).catch(() => undefined);
    const who = found ? `the credentials from ${found.from}` : 'no credentials (none found for it)';
    const why = e.code === 'ERR_DENIED' ? `${host} denies a push to ${target.ref.repository} with ${who}` : found ? `${host} refused ${who}` : `${host} asks for credentials and none were found for it`;
    return new S2IError(e.code, `cannot push to ${name}: ${why}; ${advice}`, { cause: e });
  }
  return new S2IError(e.code, `cannot push to ${name}: ${e.message}`, { cause: e });
}

export async function pushImage(engine: Engine, input: PushInput): Promise<PushStats> {
  assertParentAlive('pushed');
  const dst = await openDestination(toLocation(input.target), { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root });
  try {
    const format = input.manifest.mediaType.includes('.docker.') ? 'docker' : 'oci';
    if (!dst.accepts.includes(format)) {
      throw new S2IError('ERR_FORMAT_UNSUPPORTED', `${dst.name} holds ${dst.accepts.join('/')} images only; use --format ${dst.accepts[0]}`, { step: 'usage' });
    }
    const src: BlobFetcher | undefined = input.source;
    const from = input.source?.registry;
    const blobs: WriteBlob[] = input.blobs.map((d) => {
      const fromSource = input.sourceBlobs?.has(d.digest) === true;
      return {
        descriptor: d,
        open: (offset) => engine.store.open(d.digest, offset),
        // The local store first, else the source; asked only when the blob has to be uploaded.
        locate: async () => {
          if (await engine.store.has(d.digest)) return (offset) => engine.store.open(d.digest, offset);
          if (src && fromSource) return async (offset): Promise<Readable> => skipBytes(await src.fetchBlob(d, { signal: engine.signal }), offset);
          throw new S2IError('ERR_BLOB_MISSING', `blob ${d.digest} is neither in the local store nor in the source image; build again with --pull-policy always`);
        },
        mountable: fromSource,
        // A small blob the build made itself (its new layer, its config) is almost never in the registry yet: its
        // upload (POST + one PUT) takes two round trips where HEAD first would make it three, and a registry that
        // has it already just keeps its copy. Big blobs and the source's are looked for first.
        uploadFirst: async () => dst.smallUploadMax !== undefined && d.size <= dst.smallUploadMax && !fromSource && (await engine.store.has(d.digest)),
      };
    });
    const { uploaded, skipped, mounted } = await writeImage(
      dst,
      { blobs, manifest: input.manifest },
      { ...(from ? { mountFrom: from } : {}), concurrency: input.concurrency ?? 4, onProgress: engine.onProgress, beforeManifest: () => assertParentAlive('pushed') },
    );
    return { uploaded, skipped, mounted };
  } finally {
    await dst.close();
  }
}

/**
 * Signs the image just pushed to `target` (a registry: the signature goes under the cosign tag of `manifestDigest`
 * in the same repository, sign/sign-image.ts); the identity signed is the reference as pushed. Called after the
 * manifest is written. Returns that identity.
 */
export async function signPushed(engine: Engine, target: ImageLocation, manifestDigest: string, key: SigningKey): Promise<string> {
  if (target.transport !== 'docker') {
    throw new S2IError('ERR_USAGE', `--sign-by-sigstore-private-key signs images in registries; ${locationName(target)} is not one`, { step: 'usage' });
  }
  assertParentAlive('signed');
  const identity = await signImage(engine.client, target.ref, manifestDigest, key);
  engine.onProgress({ type: 'log', level: 'info', message: `signed ${identity} (${manifestDigest})` });
  return identity;
}
