// A copy or push that fails leaves a local destination as it found it. The destination directories are made
// with a bounded mkdir (sys/make-dirs.ts: Node's recursive mkdir spins forever under /proc), and what was made
// is removed again when the destination is closed without a commit: the directories this call created (all of
// them when the destination did not exist), the layout files it added to an existing directory, and, in an
// existing layout, the blobs it added and index.json as it was (a tag pushed before the failure is undone).
// A layout session is the same for many images at once (`sync`): put back as it was when none was committed,
// else only the blobs of the images that were not are removed (those no index.json entry reaches).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import type { Descriptor, ImageFormat } from '../oci/types.js';
import { readInputFile } from '../sys/input-file.js';
import { makeDirs } from '../sys/make-dirs.js';
import { walkGraph } from './copy-as-is.js';
import { OciLayout, OciLayoutDestination } from './oci-layout.js';
import type { ImageDestination } from './types.js';

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** makeDirs with the error worded for a destination (`what` names it, e.g. "the OCI layout DIR"). */
async function makeDestinationDirs(dir: string, what: string): Promise<string | undefined> {
  try {
    return await makeDirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new S2IError('ERR_DESTINATION', `cannot create ${what} (${code}); give a path in a directory you can write`, { cause: e });
  }
}

/** Whether `p` is `top` or inside it. */
function within(p: string, top: string): boolean {
  return p === top || p.startsWith(top.endsWith(path.sep) ? top : top + path.sep);
}

/** What a layout destination tells its session: the blobs it added, and that it committed. */
interface SessionRecord {
  added: string[];
  committed: boolean;
}

class UndoableLayoutDestination extends OciLayoutDestination {
  override readonly accepts: ImageFormat[];

  constructor(
    layout: OciLayout,
    tag: string | undefined,
    name: string,
    private readonly record: SessionRecord,
    accepts: ImageFormat[],
  ) {
    super(layout, tag, name);
    this.accepts = accepts;
  }

  override async pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    const had = await this.layout.has(desc);
    await super.pushBlob(desc, open);
    if (!had) this.record.added.push(desc.digest);
  }

  override async pushManifest(tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string> {
    const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    const had = await this.layout.has(desc);
    const digest = await super.pushManifest(tagOrDigest, bytes, mediaType);
    if (!had) this.record.added.push(desc.digest);
    return digest;
  }

  override async commit(): Promise<void> {
    await super.commit();
    this.record.committed = true;
  }
}

/** Images written into one OCI layout, each through its own destination (`sync` writes many at once). */
export interface LayoutSession {
  readonly layout: OciLayout;
  /**
   * A destination for one image, named `tag` in index.json; closing it leaves the session open. `accepts`:
   * the formats it holds (default OCI only, as containers/image and umoci expect; `sync` keeps Docker
   * manifests as they are, so their digests, and the signatures naming them, stay valid).
   */
  destination(tag: string | undefined, name: string, accepts?: ImageFormat[]): ImageDestination;
  /** Whether an image was committed (the layout changed). */
  readonly committed: boolean;
  /**
   * Ends the session. When no image was committed the layout is put back as it was (see the top of this file);
   * otherwise the blobs added for images that were not (a failed or interrupted one) are removed unless an
   * index.json entry reaches them, so every image the layout names is whole and nothing else was added.
   */
  close(): Promise<void>;
}

/** The digests index.json reaches (its entries and all they name); undefined when a manifest cannot be read. */
async function reachable(layout: OciLayout): Promise<Set<string> | undefined> {
  const out = new Set<string>();
  const read = (d: Descriptor) => layout.readSmall(d, MAX_MANIFEST_BYTES);
  try {
    for (const entry of (await layout.readIndex()).manifests) {
      out.add(entry.digest);
      const graph = await walkGraph({ bytes: await read(entry), mediaType: entry.mediaType }, read);
      for (const d of [...graph.manifests, ...graph.blobs]) out.add(d.digest);
    }
  } catch {
    return undefined; // keep every blob rather than remove one an image might need
  }
  return out;
}

/** `oci:DIR` opened for writing images into it, put back as it was when the session ends with none committed. */
export async function openLayoutSession(dir: string): Promise<LayoutSession> {
  const abs = path.resolve(dir);
  const marker = path.join(abs, 'oci-layout');
  const indexFile = path.join(abs, 'index.json');
  const hadMarker = await exists(marker);
  const hadIndex = await exists(indexFile);
  // The index as it was, to put back: only a layout's own index, read like any input (no FIFO waits).
  const index = hadMarker && hadIndex ? await readInputFile(indexFile).catch(() => undefined) : undefined;
  const created = await makeDestinationDirs(path.join(abs, 'blobs', 'sha256'), `the OCI layout ${dir}`);
  const undo = async (addedBlobs: string[]): Promise<void> => {
    if (created !== undefined && within(abs, created)) {
      await fs.rm(created, { recursive: true, force: true });
      return;
    }
    for (const b of addedBlobs) await fs.rm(b, { force: true });
    if (created !== undefined) await fs.rm(created, { recursive: true, force: true }); // blobs/ or blobs/sha256/
    if (!hadMarker) await fs.rm(marker, { force: true });
    if (!hadIndex) await fs.rm(indexFile, { force: true });
    else if (index !== undefined) {
      const now = await fs.readFile(indexFile).catch(() => undefined);
      if (now === undefined || !now.equals(index)) {
        const tmp = `${indexFile}.${process.pid}-undo.tmp`;
        await fs.writeFile(tmp, index, { mode: 0o644 });
        await fs.rename(tmp, indexFile);
      }
    }
  };
  let layout: OciLayout;
  try {
    layout = await OciLayout.openOrCreate(abs);
  } catch (e) {
    await undo([]).catch(() => undefined);
    throw e;
  }
  const records: SessionRecord[] = [];
  let closed: Promise<void> | undefined;
  const end = async (): Promise<void> => {
    if (!records.some((r) => r.committed)) {
      await undo(records.flatMap((r) => r.added.map((d) => layout.blobPath(d))));
      return;
    }
    const candidates = records.filter((r) => !r.committed).flatMap((r) => r.added);
    if (candidates.length === 0) return;
    const keep = await reachable(layout);
    if (!keep) return;
    for (const d of candidates) if (!keep.has(d)) await fs.rm(layout.blobPath(d), { force: true });
  };
  return {
    layout,
    get committed() {
      return records.some((r) => r.committed);
    },
    destination(tag, name, accepts = ['oci']) {
      const record: SessionRecord = { added: [], committed: false };
      records.push(record);
      return new UndoableLayoutDestination(layout, tag, name, record, accepts);
    },
    close: () => (closed ??= end()),
  };
}

/** `oci:DIR` as a destination that is put back as it was when it is closed without a commit. */
export async function openLayoutDestination(dir: string, tag: string | undefined, name: string): Promise<ImageDestination> {
  const session = await openLayoutSession(dir);
  const dst = session.destination(tag, name);
  const close = dst.close.bind(dst);
  dst.close = async () => {
    try {
      await close();
    } finally {
      await session.close();
    }
  };
  return dst;
}

/**
 * An archive destination (written to a temp file and renamed into place on commit, so FILE itself is never
 * half-written): its parent directories are made here, bounded, and removed again when nothing was committed.
 */
export async function withArchiveParent<T extends ImageDestination>(file: string, open: () => Promise<T>): Promise<T> {
  const parent = path.dirname(path.resolve(file));
  const created = await makeDestinationDirs(parent, `the directory ${parent} for ${file}`);
  const removeCreated = async (): Promise<void> => {
    if (created !== undefined) await fs.rm(created, { recursive: true, force: true });
  };
  let dst: T;
  try {
    dst = await open();
  } catch (e) {
    await removeCreated().catch(() => undefined);
    throw e;
  }
  let committed = false;
  const commit = dst.commit?.bind(dst);
  const close = dst.close.bind(dst);
  if (commit) {
    dst.commit = async () => {
      await commit();
      committed = true;
    };
  }
  dst.close = async () => {
    try {
      await close();
    } finally {
      if (!committed) await removeCreated();
    }
  };
  return dst;
}
