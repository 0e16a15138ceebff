// Opening a location (parse.ts) as an ImageSource or an ImageDestination (types.ts): one row per transport.
import fs from 'node:fs/promises';
import { S2IError } from '../errors.js';
import { formatReference } from '../oci/reference.js';
import { RegistryClient } from '../registry/client.js';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
import { localImagesOf, openLocalSource } from './local-store.js';
import { openOciArchiveDestination, openOciArchiveSource } from './oci-archive.js';
import { OciLayout, OciLayoutSource } from './oci-layout.js';
import { formatImageLocation, parseImageLocation, type ImageLocation } from './parse.js';
import { RegistryDestination, RegistrySource } from './registry.js';
import type { ImageDestination, ImageSource, TransportContext, TransportName } from './types.js';
import { openLayoutDestination, withArchiveParent } from './undo-destination.js';

/** The shared client, or a new one that the returned object closes. */
function client(ctx: TransportContext): { client: RegistryClient; close: () => Promise<void> } {
  if (ctx.client) return { client: ctx.client, close: async () => {} };
  const c = new RegistryClient({
    ...ctx.registry,
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return { client: c, close: () => c.close() };
}

/** Builds a registry-backed end with the shared or a new client; a new client is closed if building fails. */
async function withClient<T>(ctx: TransportContext, make: (c: RegistryClient, close: () => Promise<void>) => T | Promise<T>): Promise<T> {
  const c = client(ctx);
  try {
    return await make(c.client, c.close);
  } catch (e) {
    await c.close();
    throw e;
  }
}

type Located<T extends TransportName> = Extract<ImageLocation, { transport: T }>;

/** How one transport's locations open (method syntax: each row takes only its own kind of location). */
interface Ends<T extends TransportName> {
  source(l: Located<T>, name: string, ctx: TransportContext): Promise<ImageSource>;
  destination(l: Located<T>, name: string, ctx: TransportContext): Promise<ImageDestination>;
}

/** One row per transport (with its parse rule in parse.ts, all a new transport needs besides its classes). */
const transports: { [T in TransportName]: Ends<T> } = {
  // registries.conf applies here: the source picks its endpoint, the destination its location (registry.ts).
  docker: {
    source: (l, _name, ctx) =>
      withClient(ctx, (c, onClose) => new RegistrySource(c, l.ref, { onClose, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) })),
    destination: (l, _name, ctx) => withClient(ctx, (c, onClose) => RegistryDestination.open(c, l.ref, { onClose, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) })),
  },
  // Local destinations are put back as they were when closed without a commit (undo-destination.ts).
  oci: {
    source: async (l, name) => new OciLayoutSource(await OciLayout.openExisting(l.dir), l.tag, name),
    destination: (l, name) => openLayoutDestination(l.dir, l.tag, name),
  },
  'oci-archive': {
    source: (l, name, ctx) => openOciArchiveSource(l.file, l.tag, name, ctx.tmpDir),
    destination: (l, name, ctx) => archiveDestination(l.file, () => openOciArchiveDestination(l.file, l.tag, name, ctx.tmpDir)),
  },
  'docker-archive': {
    source: (l, name, ctx) => DockerArchiveSource.open(l.file, l.ref, name, ctx.tmpDir),
    destination: (l, name, ctx) => archiveDestination(l.file, () => DockerArchiveDestination.open(l.file, l.ref, name, ctx.tmpDir)),
  },
  // The engine's local store, reached through the context (local-store.ts).
  local: {
    // A blob the store lacks is read from the base the image records (a registry image, opened as the row above).
    source: (l, name, ctx) => openLocalSource(localImagesOf(ctx, name), l.name ?? '', name, (ref) => transports.docker.source({ transport: 'docker', ref }, formatReference(ref), ctx)),
    destination: (l, name, ctx) => localImagesOf(ctx, name).destination(l.name, ctx),
  },
};

function ends(where: string | ImageLocation): { l: ImageLocation; name: string; row: Ends<TransportName> } {
  const l = typeof where === 'string' ? parseImageLocation(where) : where;
  return { l, name: formatImageLocation(l), row: transports[l.transport] as Ends<TransportName> };
}

export async function openSource(where: string | ImageLocation, ctx: TransportContext = {}): Promise<ImageSource> {
  const { l, name, row } = ends(where);
  return await row.source(l, name, ctx);
}

export async function openDestination(where: string | ImageLocation, ctx: TransportContext = {}): Promise<ImageDestination> {
  const { l, name, row } = ends(where);
  return await row.destination(l, name, ctx);
}

/** An archive file destination: refused when the path is a directory; its parent made and undone (undo-destination.ts). */
async function archiveDestination(file: string, open: () => Promise<ImageDestination>): Promise<ImageDestination> {
  await refuseDirectory(file);
  return withArchiveParent(file, open);
}

async function refuseDirectory(file: string): Promise<void> {
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isDirectory()) throw new S2IError('ERR_ARCHIVE_INVALID', `${file} is a directory; an archive destination is a file path (use oci:DIR for a layout directory)`);
}
