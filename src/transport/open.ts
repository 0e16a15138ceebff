// Opening a location (parse.ts) as a source or a destination of the Target shape (types.ts).
import fs from 'node:fs/promises';
import { S2IError } from '../errors.js';
import { RegistryClient } from '../registry/client.js';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
import { openOciArchiveDestination, openOciArchiveSource } from './oci-archive.js';
import { OciLayout, OciLayoutSource } from './oci-layout.js';
import { formatImageLocation, parseImageLocation, type ImageLocation } from './parse.js';
import { RegistryDestination, RegistrySource } from './registry.js';
import type { ImageDestination, ImageSource, TransportContext } from './types.js';
import { openLayoutDestination, withArchiveParent } from './undo-destination.js';

function location(l: string | ImageLocation): ImageLocation {
  return typeof l === 'string' ? parseImageLocation(l) : l;
}

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
async function withClient<T>(ctx: TransportContext, make: (c: RegistryClient, close: () => Promise<void>) => T): Promise<T> {
  const c = client(ctx);
  try {
    return make(c.client, c.close);
  } catch (e) {
    await c.close();
    throw e;
  }
}

export async function openSource(where: string | ImageLocation, ctx: TransportContext = {}): Promise<ImageSource> {
  const l = location(where);
  const name = formatImageLocation(l);
  switch (l.transport) {
    case 'docker':
      return await withClient(ctx, (c, close) => new RegistrySource(c, l.ref, close));
    case 'oci':
      return new OciLayoutSource(await OciLayout.openExisting(l.dir), l.tag, name);
    case 'oci-archive':
      return openOciArchiveSource(l.file, l.tag, name, ctx.tmpDir);
    case 'docker-archive':
      return DockerArchiveSource.open(l.file, l.ref, name, ctx.tmpDir);
  }
}

export async function openDestination(where: string | ImageLocation, ctx: TransportContext = {}): Promise<ImageDestination> {
  const l = location(where);
  const name = formatImageLocation(l);
  switch (l.transport) {
    case 'docker':
      return await withClient(ctx, (c, close) => new RegistryDestination(c, l.ref, close));
    // Local destinations are put back as they were when closed without a commit (undo-destination.ts).
    case 'oci':
      return openLayoutDestination(l.dir, l.tag, name);
    case 'oci-archive':
      await refuseDirectory(l.file);
      return withArchiveParent(l.file, () => openOciArchiveDestination(l.file, l.tag, name, ctx.tmpDir));
    case 'docker-archive':
      await refuseDirectory(l.file);
      return withArchiveParent(l.file, () => DockerArchiveDestination.open(l.file, l.ref, name, ctx.tmpDir));
  }
}

async function refuseDirectory(file: string): Promise<void> {
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isDirectory()) throw new S2IError('ERR_ARCHIVE_INVALID', `${file} is a directory; an archive destination is a file path (use oci:DIR for a layout directory)`);
}
