// Where a sync writes: a registry (each image under its destination name), one OCI layout (each image named by
// its full name in index.json), or an oci-archive (that layout, packed). Every image goes through an
// ImageDestination of transport/ (the one writer writes it); a target adds what a sync needs around that: what
// is under a name now (an image already there is skipped unread), and an end that leaves no half-written
// layout (transport/undo-destination.ts layout sessions) and packs an archive only after a run that was not cut.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import { makeDirs } from '../sys/make-dirs.js';
import { packLayoutArchive, unpackLayoutArchive } from '../transport/oci-archive.js';
import { OciLayout, OciLayoutSource } from '../transport/oci-layout.js';
import { openDestination, openSource } from '../transport/open.js';
import type { ImageDestination, ImageSource } from '../transport/types.js';
import { openLayoutSession, type LayoutSession } from '../transport/undo-destination.js';
import { formatDestination, type SyncDestination } from './names.js';
import { isAbsent } from './sources.js';

export interface SyncTarget {
  /** The destination for the image named `at` (names.ts destinationName). */
  open(at: Reference): Promise<ImageDestination>;
  /** The manifest or index under `at` now; undefined when there is none. */
  current(at: Reference): Promise<{ descriptor: Descriptor; bytes: Buffer } | undefined>;
  /** Ends the writes. `complete`: the run was not interrupted (an archive is packed only then). */
  close(complete: boolean): Promise<void>;
}

function usage(message: string): S2IError {
  return new S2IError('ERR_USAGE', message, { step: 'usage' });
}

async function kindOf(p: string): Promise<'missing' | 'directory' | 'other'> {
  const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  return st === undefined ? 'missing' : st.isDirectory() ? 'directory' : 'other';
}

/** What is under a name, read through an ImageSource; "no such manifest" is undefined. */
async function currentOf(open: () => Promise<ImageSource>): Promise<{ descriptor: Descriptor; bytes: Buffer } | undefined> {
  let src: ImageSource | undefined;
  try {
    src = await open();
    return await src.resolve();
  } catch (e) {
    if (isAbsent(e)) return undefined;
    throw e;
  } finally {
    await src?.close();
  }
}

/** Checks a destination before anything is read from the sources: a layout that is a file is a usage error. */
export async function checkDestination(dest: SyncDestination): Promise<void> {
  if (dest.kind === 'oci' && (await kindOf(dest.dir)) === 'other') {
    throw usage(`the destination ${formatDestination(dest)} is a file; an OCI layout destination is a directory (use oci-archive:FILE for one file)`);
  }
  if (dest.kind === 'oci-archive' && (await kindOf(dest.file)) === 'directory') {
    throw usage(`the destination ${formatDestination(dest)} is a directory; an archive destination is a file path (use oci:DIR for a layout directory)`);
  }
}

/**
 * Images copied at once often share layers (the tags of one repository): a blob one image is uploading to a
 * repository is not uploaded again by another. The second waits for the first: then it is "already there" when
 * it asks, or its own upload returns 'shared' when the first one's ends (if that failed, it uploads itself).
 */
function sharingUploads(dst: ImageDestination, repository: string, uploads: Map<string, Promise<unknown>>): ImageDestination {
  const exists = dst.blobExists.bind(dst);
  const push = dst.pushBlob.bind(dst);
  const key = (d: Descriptor) => `${repository}@${d.digest}`;
  dst.blobExists = async (d) => {
    await uploads.get(key(d))?.catch(() => undefined);
    return exists(d);
  };
  dst.pushBlob = (d, open) => {
    const running = uploads.get(key(d));
    if (running) return running.then(() => 'shared' as const, () => push(d, open));
    const p = push(d, open).finally(() => uploads.delete(key(d)));
    uploads.set(key(d), p);
    return p;
  };
  return dst;
}

/** How a layout target names an image: its full name (sync), or its bare tag (`copy` to `oci:DIR:TAG`). */
type LayoutNames = 'full' | 'tag';

/** A layout holding many images: names are full names (or tags), Docker manifests kept as they are (their digests too). */
function layoutTarget(session: LayoutSession, location: string, names: LayoutNames, onClose: (complete: boolean) => Promise<void>): SyncTarget {
  const nameOf = (at: Reference): string => (names === 'tag' && at.tag !== undefined ? at.tag : formatReference(at));
  return {
    open: async (at) => session.destination(nameOf(at), `${location}:${nameOf(at)}`, ['oci', 'docker']),
    current: (at) => currentOf(async () => new OciLayoutSource(session.layout, nameOf(at), `${location}:${nameOf(at)}`)),
    close: async (complete) => {
      await session.close();
      await onClose(complete);
    },
  };
}

/** Opens `dest` for writing (registry writes go through `client`); checkDestination first. `names`: a layout's naming. */
export async function openTarget(dest: SyncDestination, client: RegistryClient, tmpDir = os.tmpdir(), names: LayoutNames = 'full'): Promise<SyncTarget> {
  switch (dest.kind) {
    case 'docker': {
      const uploads = new Map<string, Promise<unknown>>();
      return {
        open: async (at) => sharingUploads(await openDestination({ transport: 'docker', ref: at }, { client }), at.repository, uploads),
        current: (at) => currentOf(() => openSource({ transport: 'docker', ref: at }, { client })),
        close: async () => {},
      };
    }
    case 'oci':
      return layoutTarget(await openLayoutSession(dest.dir), formatDestination(dest), names, async () => {});
    case 'oci-archive': {
      // The archive is a layout in a temp dir (what the archive held first, so what is there is skipped), packed
      // into FILE (temp file + rename) at the end of a run that was not cut; FILE is never half-written.
      const file = path.resolve(dest.file);
      const tmp = await fs.mkdtemp(path.join(tmpDir, 'oci-s2i-sync-'));
      let created: string | undefined;
      try {
        const existed = (await kindOf(file)) !== 'missing';
        if (existed) await unpackLayoutArchive(file, tmp);
        else await OciLayout.openOrCreate(path.join(tmp, 'layout'));
        created = await makeDirs(path.dirname(file));
        const session = await openLayoutSession(path.join(tmp, 'layout'));
        return layoutTarget(session, formatDestination(dest), names, async (complete) => {
          try {
            if (complete && session.committed) await packLayoutArchive(session.layout, file);
            else if (created !== undefined) await fs.rm(created, { recursive: true, force: true });
          } finally {
            await fs.rm(tmp, { recursive: true, force: true });
          }
        });
      } catch (e) {
        await fs.rm(tmp, { recursive: true, force: true });
        if (created !== undefined) await fs.rm(created, { recursive: true, force: true });
        throw e;
      }
    }
  }
}
