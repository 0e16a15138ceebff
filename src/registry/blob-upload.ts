// Blob uploads (distribution-spec "Pushing blobs", "Mounting a blob from another repository"): POST opens a
// session, PATCH chunks resume from the registry's offset after a cut connection, the PUT with `?digest=`
// closes it; small blobs go as POST + one PUT. Sessions can be opened ahead of the upload (UploadsAhead).
import { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { isValidRepositoryPath } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { repositoryScope } from './auth.js';
import { blobExists } from './blob-download.js';
import { ByteReader, readWhole } from './byte-reader.js';
import { checkAnnouncedDigest, type BlobProgress, type RepositoryEndpoint } from './endpoint.js';
import { RegistryError } from './errors.js';
import { discard, header, type HttpResponse } from './http.js';
import { backoffDelay, isRetryableStatus, isTransientNetworkError, sleep } from './retry.js';
import { sizeMismatch } from './verify.js';

/** Blobs up to this size are uploaded with POST + one PUT carrying the body (held in memory), not PATCH chunks. */
export const WHOLE_UPLOAD_MAX = 256 * 1024;

interface UploadSession {
  location: URL;
  minChunk: number;
}

type Open = (offset: number) => Readable | Promise<Readable>;

/**
 * Upload sessions opened before they are needed, per repository: the next uploads there take them first
 * (startUpload); one that failed to open is skipped. The ones never used are cancelled on close.
 */
export class UploadsAhead {
  private readonly sessions = new Map<string, Array<{ ep: RepositoryEndpoint; session: Promise<UploadSession | undefined> }>>();

  /** Settles when the first of the `count` sessions has opened, or with why it could not (nothing to open: at once). */
  open(ep: RepositoryEndpoint, count: number): Promise<void> {
    const key = `${ep.registry}/${ep.name}`;
    const list = this.sessions.get(key) ?? [];
    let first: Promise<void> = Promise.resolve();
    for (let i = 0; i < count; i++) {
      const opening = openSession(ep, 'open an upload session');
      if (i === 0) first = opening.then(() => undefined);
      list.push({ ep, session: opening.catch(() => undefined) });
    }
    this.sessions.set(key, list);
    return first;
  }

  async take(ep: RepositoryEndpoint): Promise<UploadSession | undefined> {
    const list = this.sessions.get(`${ep.registry}/${ep.name}`);
    while (list && list.length > 0) {
      const s = await list.shift()!.session;
      if (s) return s;
    }
    return undefined;
  }

  /** Cancels the sessions nobody took (best effort, distribution-spec "Canceling an upload"), so the registry does not keep them until it purges old uploads. */
  async cancelAll(): Promise<void> {
    const unused = [...this.sessions.values()].flat();
    this.sessions.clear();
    await Promise.all(
      unused.map(async ({ ep, session }) => {
        const s = await session;
        if (s) await cancelSession(ep, s.location).catch(() => undefined);
      }),
    );
  }
}

export async function mountBlob(ep: RepositoryEndpoint, desc: Descriptor, fromRepository: string): Promise<boolean> {
  ep.checkDescriptor(desc);
  if (!isValidRepositoryPath(fromRepository)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid repository name "${fromRepository.slice(0, 100)}" to mount from`);
  }
  const url = await ep.url('blobs/uploads/');
  url.searchParams.set('mount', desc.digest);
  url.searchParams.set('from', fromRepository);
  const res = await ep.send({
    method: 'POST',
    url,
    headers: { 'content-length': '0' },
    body: '',
    scopes: [...ep.pushScopes, repositoryScope(fromRepository, 'pull')],
    expect: [201, 202],
    what: `mount blob ${desc.digest} from ${fromRepository}`,
  });
  await discard(res.body);
  if (res.status === 201) {
    ep.ctx.onProgress({ type: 'blob', op: 'push', digest: desc.digest, size: desc.size, done: desc.size, state: 'mounted' });
    return true;
  }
  // 202: the registry opened an ordinary upload session instead; cancel it so it does not linger.
  const location = header(res.headers, 'location');
  if (location) {
    try {
      const del = await ep.send({ method: 'DELETE', url: new URL(location, res.url), scopes: ep.pushScopes, expect: [204, 200, 202, 404], retry: false });
      await discard(del.body);
    } catch {
      /* best effort: the registry expires abandoned sessions */
    }
  }
  return false;
}

/**
 * Uploads a blob. One that fits in one chunk goes up as POST + one PUT carrying the body and the digest
 * (distribution-spec "Pushing a blob monolithically", the POST then PUT form): small ones (WHOLE_UPLOAD_MAX)
 * read into memory first, the others streamed. Bigger ones (and any with `chunkSize: 0`, above
 * WHOLE_UPLOAD_MAX) go as PATCH chunks that resume from the registry's offset after a cut connection. A cut
 * single PUT starts over, as a cut single chunk does.
 */
export async function pushBlob(ep: RepositoryEndpoint, desc: Descriptor, open: Open): Promise<void> {
  ep.checkDescriptor(desc);
  const what = `push blob ${desc.digest}`;
  const progress = ep.progress('push', desc);
  progress('start', 0);
  const chunk = ep.ctx.chunkSize > 0 ? ep.ctx.chunkSize : 0;
  if (desc.size <= Math.min(WHOLE_UPLOAD_MAX, chunk || Infinity)) {
    await pushWhole(ep, desc, async () => await readWhole(await open(0), desc.size, what), what);
  } else if (desc.size <= chunk) {
    await pushWhole(ep, desc, async () => await open(0), what);
  } else {
    await pushChunked(ep, desc, open, what, progress);
  }
  progress('end', desc.size);
}

/**
 * POST + one PUT with the whole body (a Buffer, or a stream of exactly desc.size bytes). A failed attempt
 * starts over with a new session (the old one may be gone) and the content opened again.
 */
async function pushWhole(ep: RepositoryEndpoint, desc: Descriptor, content: () => Promise<Buffer | Readable>, what: string): Promise<void> {
  const policy = ep.ctx.http.retryPolicy;
  let sessionLost = false;
  for (let failures = 0; ; ) {
    try {
      const session = await startUpload(ep, what);
      const body = await content();
      if (!Buffer.isBuffer(body)) {
        await putMonolithic(ep, session.location, desc, body, what);
        return;
      }
      await putDigest(ep, session.location, desc, body, {}, what, false);
      return;
    } catch (e) {
      // A session the registry no longer knows (purged, or one opened ahead that expired): a new one, once.
      if (isUploadUnknown(e) && !sessionLost) {
        sessionLost = true;
        continue;
      }
      if (!isTransientUploadError(e) || ++failures >= policy.attempts) throw e;
      await sleep(backoffDelay(failures, policy), ep.ctx.signal);
      if (await blobExists(ep, desc)) return; // the PUT landed; only its answer was lost
    }
  }
}

async function pushChunked(ep: RepositoryEndpoint, desc: Descriptor, open: Open, what: string, progress: BlobProgress): Promise<void> {
  const policy = ep.ctx.http.retryPolicy;
  let session = await startUpload(ep, what);
  const chunk = ep.ctx.chunkSize > 0 ? Math.max(ep.ctx.chunkSize, session.minChunk) : Infinity;
  let offset = 0;
  let failures = 0;
  let source: ByteReader | undefined;
  try {
    for (;;) {
      try {
        if (offset < desc.size) {
          source ??= new ByteReader(await open(offset), what);
          while (offset < desc.size) {
            const len = Math.min(chunk, desc.size - offset);
            session.location = await patch(ep, session.location, source, offset, len, len === desc.size, what);
            offset += len;
            progress('progress', offset);
          }
          if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, desc.size, `more than ${desc.size}`);
        }
        await putDigest(ep, session.location, desc, '', { 'content-length': '0' }, what, true);
        break;
      } catch (e) {
        source?.destroy();
        source = undefined;
        if (offset === 0 && isPatchRejected(e)) {
          // Registries that do not take PATCH: one PUT with the whole body (distribution-spec "monolithic").
          await putMonolithic(ep, session.location, desc, await open(0), what);
          break;
        }
        if (!isTransientUploadError(e) || ++failures >= policy.attempts) throw e;
        await sleep(backoffDelay(failures, policy), ep.ctx.signal);
        if (offset >= desc.size && (await blobExists(ep, desc))) break; // the PUT landed; only its answer was lost
        const status = await uploadStatus(ep, session.location, what);
        if (status) {
          session.location = status.location;
          offset = status.offset;
        } else {
          // The session is gone (distribution invalidates one that took a partial PATCH): start over.
          session = await startUpload(ep, what);
          offset = 0;
        }
      }
    }
  } finally {
    source?.destroy();
  }
}

/** A session for a new upload: one opened ahead (UploadsAhead) when there is one, else a new one. */
async function startUpload(ep: RepositoryEndpoint, what: string): Promise<UploadSession> {
  return (await ep.ctx.ahead.take(ep)) ?? (await openSession(ep, what));
}

/** DELETE of an upload session's Location: the registry drops what it holds of it. */
async function cancelSession(ep: RepositoryEndpoint, location: URL): Promise<void> {
  const res = await ep.send({ method: 'DELETE', url: location, scopes: ep.pushScopes, expect: [204, 404], what: 'cancel an upload session', retry: false });
  await discard(res.body);
}

/** POST …/blobs/uploads/: a new upload session. */
async function openSession(ep: RepositoryEndpoint, what: string): Promise<UploadSession> {
  const res = await ep.send({
    method: 'POST',
    url: await ep.url('blobs/uploads/'),
    headers: { 'content-length': '0' },
    body: '',
    scopes: ep.pushScopes,
    expect: [202],
    what,
  });
  await discard(res.body);
  const location = uploadLocation(res, what);
  const min = Number(header(res.headers, 'oci-chunk-min-length') ?? 0);
  return { location, minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

/** One PATCH of `len` bytes from `source`; returns the next Location. */
async function patch(ep: RepositoryEndpoint, location: URL, source: ByteReader, offset: number, len: number, whole: boolean, what: string): Promise<URL> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(len) };
  // Content-Range is inclusive and has no `bytes=` (distribution-spec "Pushing a blob in chunks").
  if (!whole) headers['content-range'] = `${offset}-${offset + len - 1}`;
  const res = await ep.send({
    method: 'PATCH',
    url: location,
    headers,
    body: Readable.from(source.take(len), { objectMode: false }),
    scopes: ep.pushScopes,
    expect: [202, 204],
    what,
    retry: false,
  });
  await discard(res.body);
  return header(res.headers, 'location') ? uploadLocation(res, what) : location;
}

/** The PUT that closes an upload session with `?digest=`, carrying `body` (the rest of the blob, or nothing). */
async function putDigest(
  ep: RepositoryEndpoint,
  location: URL,
  desc: Descriptor,
  body: Buffer | Readable | string,
  headers: Record<string, string>,
  what: string,
  retry: boolean,
): Promise<void> {
  const res = await ep.send({
    method: 'PUT',
    url: withDigest(location, desc.digest),
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body,
    scopes: ep.pushScopes,
    expect: [201, 204],
    what,
    retry,
  });
  await discard(res.body);
  checkAnnouncedDigest(res, desc.digest, what);
}

async function putMonolithic(ep: RepositoryEndpoint, location: URL, desc: Descriptor, stream: Readable, what: string): Promise<void> {
  const source = new ByteReader(stream, what);
  // Exactly desc.size bytes: a shorter source fails in take(), a longer one after it (the request fails).
  async function* exactly(): AsyncGenerator<Buffer> {
    yield* source.take(desc.size);
    if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, desc.size, `more than ${desc.size}`);
  }
  try {
    await putDigest(ep, location, desc, Readable.from(exactly(), { objectMode: false }), { 'content-length': String(desc.size) }, what, false);
  } finally {
    source.destroy();
  }
}

/** GET <location> → 204 with `Range: 0-N` (or `bytes=0-N`): how much the registry holds; undefined when the session is gone. */
async function uploadStatus(ep: RepositoryEndpoint, location: URL, what: string): Promise<{ offset: number; location: URL } | undefined> {
  const res = await ep.send({ method: 'GET', url: location, scopes: ep.pushScopes, expect: [204, 200, 404, 400], what });
  await discard(res.body);
  if (res.status === 404 || res.status === 400) return undefined;
  const range = header(res.headers, 'range');
  let offset = 0;
  if (range) {
    const m = /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
    if (!m) return undefined;
    // distribution answers `0-0` for an empty session (its end is max(size-1, 0)), so `0-0` is read as
    // "nothing yet" (a session holding exactly one byte is far rarer than an empty one).
    offset = m[1] === '0' ? 0 : Number(m[1]) + 1;
  }
  return { offset, location: header(res.headers, 'location') ? uploadLocation(res, what) : location };
}

/** `Location` is opaque: resolved against the URL that sent it, its query kept (distribution-spec). */
function uploadLocation(res: HttpResponse, what: string): URL {
  const loc = header(res.headers, 'location');
  if (!loc) throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: the registry opened an upload without a Location header`);
  let url: URL;
  try {
    url = new URL(loc, res.url);
  } catch (e) {
    throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: the registry sent an unusable upload Location`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: the upload Location is not http(s)`);
  return url;
}

/** Appends `digest=` to an opaque upload URL without re-encoding its existing query. */
function withDigest(location: URL, digest: string): URL {
  const s = location.toString();
  const sep = location.search ? '&' : '?';
  return new URL(`${s.replace(/#.*$/, '')}${sep}digest=${encodeURIComponent(digest)}`);
}

/** 404 on an upload session URL (distribution-spec BLOB_UPLOAD_UNKNOWN): the session is gone. */
function isUploadUnknown(e: unknown): boolean {
  return e instanceof RegistryError && e.status === 404;
}

/** A dropped connection or a status worth retrying: the upload is tried again. */
function isTransientUploadError(e: unknown): boolean {
  return isTransientNetworkError(e) || (e instanceof RegistryError && e.status !== undefined && isRetryableStatus(e.status));
}

function isPatchRejected(e: unknown): boolean {
  return e instanceof RegistryError && (e.status === 405 || e.status === 501 || e.errors.some((x) => x.code === 'UNSUPPORTED'));
}
