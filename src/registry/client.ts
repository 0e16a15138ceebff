// The registry client (distribution-spec v1.1 "pull", "push", "content discovery", "content management").
// RegistryClient owns the connection pool, credentials and token caches; Repository is one repository's
// API. Every byte read is verified against the digest and size the caller expects; uploads and downloads
// resume after a cut connection instead of starting over.
import { Readable } from 'node:stream';
import { ExitCode, S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { parseDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifestDocument } from '../oci/manifest.js';
import { manifestAcceptTypes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { readCapped, repositoryScope } from './auth.js';
import { findCredentials, type Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { HttpClient, discard, dispose, header, type HttpRequest, type HttpResponse } from './http.js';
import { backoffDelay, isRetryableStatus, isTransientNetworkError, retryPolicy, sleep } from './retry.js';
import { ContentVerifier, digestMismatch, digestOf, sizeMismatch } from './verify.js';
import { mapLimit } from './parallel.js';
import { MediaType } from '../oci/media-types.js';

export interface RegistryClientOptions {
  /** --authfile; else the standard search order (credentials.ts). */
  authFile?: string;
  /** Verify TLS certificates. Default true. */
  tlsVerify?: boolean;
  /**
   * Plain HTTP: true forces it, false forbids it. Default: HTTPS; for loopback registries and with
   * `tlsVerify: false`, HTTPS first and plain HTTP when the server does not speak TLS.
   */
  plainHttp?: boolean;
  /** --cert-dir: CA (`*.crt`) and client (`*.cert` + `*.key`) files for every registry, instead of certs.d. */
  certDir?: string;
  /** Roots of HOST[:PORT] certificate directories. Default: $OCI_S2I_CERTS_D, else ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d. */
  certsDirs?: string[];
  /** A request with no progress (no response headers, no next body bytes) for this long fails and is retried. Default 60 000 ms. */
  requestTimeoutMs?: number;
  /** Use these credentials for every registry instead of the auth files (login checks them this way). */
  credentials?: Credentials;
  /** Defaults: 4 attempts, 200 ms base delay, 5000 ms max delay. */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Parallel blob transfers for helpers that copy many blobs. Default 4. */
  concurrency?: number;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  userAgent?: string;
  /**
   * Uploads are sent as PATCH chunks of this many bytes (raised to the registry's OCI-Chunk-Min-Length),
   * so a cut connection costs at most one chunk; a blob that fits in one chunk goes as one PUT instead. 0 sends
   * one streaming PATCH (blobs up to 256 KiB: one PUT). Default 16 MiB. See pushBlob.
   */
  chunkSize?: number;
  /** Environment for credential lookup (tests). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
/** Blobs up to this size are uploaded with POST + one PUT carrying the body (held in memory), not PATCH chunks. */
export const WHOLE_UPLOAD_MAX = 256 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Blob sizes beyond this are not believed (a descriptor from outside could say anything). */
const MAX_BLOB_SIZE = 2 ** 50;
/** Progress events at most every this many bytes. */
const PROGRESS_STEP = 256 * 1024;

// distribution/reference grammar: path components and tags.
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const repositoryRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const hostLabel = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const registryRe = new RegExp(`^(?:${hostLabel}(?:\\.${hostLabel})*|\\[[0-9A-Fa-f:.]+\\])(?::\\d{1,5})?$`);

interface UploadSession {
  location: URL;
  minChunk: number;
}

interface ClientContext {
  /** Upload sessions opened ahead of time, per `registry/repository` (RegistryClient.openUploadsAhead). */
  ahead: Map<string, Array<Promise<UploadSession | undefined>>>;
  http: HttpClient;
  onProgress: ProgressSink;
  signal: AbortSignal | undefined;
  plainHttp: boolean | undefined;
  chunkSize: number;
  concurrency: number;
}

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

export class RegistryClient {
  private readonly ctx: ClientContext;
  /** Parallel blob transfers helpers should use. */
  readonly concurrency: number;

  constructor(opts: RegistryClientOptions = {}) {
    const env = opts.env ?? process.env;
    const onProgress = opts.onProgress ?? (() => {});
    const http = new HttpClient({
      tlsVerify: opts.tlsVerify ?? true,
      retry: retryPolicy(opts.retry),
      userAgent: opts.userAgent ?? 'oci-s2i/0.1',
      onProgress,
      ...(opts.signal ? { signal: opts.signal } : {}),
      credentials: (registry) =>
        opts.credentials ? Promise.resolve(opts.credentials) : findCredentials(registry, { ...(opts.authFile ? { authFile: opts.authFile } : {}), env }),
      tls: { ...(opts.certDir ? { certDir: opts.certDir } : {}), ...(opts.certsDirs ? { certsDirs: opts.certsDirs } : {}), env },
      requestTimeoutMs: Math.max(1, opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    });
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
    this.ctx = {
      http,
      onProgress,
      signal: opts.signal,
      plainHttp: opts.plainHttp,
      chunkSize: Math.max(0, opts.chunkSize ?? DEFAULT_CHUNK_SIZE),
      concurrency: this.concurrency,
      ahead: new Map(),
    };
  }

  /**
   * Runs `fn` over the blobs of one image, `concurrency` (default 4) at a time; results in input order. After
   * the first failure nothing new starts, and it rejects once the transfers in flight have settled.
   */
  transfer<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
    return mapLimit(items, this.concurrency, fn, this.ctx.signal ? { signal: this.ctx.signal } : {});
  }

  /**
   * `GET /v2/` with this client's credentials, answering the registry's challenge on the way (token endpoint
   * or Basic): resolves when the registry accepts them, rejects with ERR_UNAUTHORIZED when it does not.
   */
  async ping(registry: string): Promise<void> {
    checkRegistry(registry);
    const origin = await this.ctx.http.originFor(registry, this.ctx.plainHttp, this.ctx.signal);
    const res = await this.ctx.http.send({
      registry,
      method: 'GET',
      url: new URL('/v2/', origin),
      scopes: [],
      expect: [200],
      what: `registry ${registry}`,
      ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
    });
    await discard(res.body);
  }

  /**
   * Starts, in the background, what the first request to `registry` would otherwise wait for: the choice of
   * HTTPS or plain HTTP for loopback and --tls-verify=false registries (a probe, originFor) and the TLS files.
   * A build calls it at its start so that its push, seconds later, finds them done. Never fails: a problem shows
   * on the first real request.
   */
  prepare(registry: string): void {
    try {
      checkRegistry(registry);
    } catch {
      return;
    }
    this.ctx.http.originFor(registry, this.ctx.plainHttp, this.ctx.signal).catch(() => {});
  }

  /**
   * Opens `count` blob upload sessions in `repository` now, in the background (the POST of distribution-spec
   * "Pushing blobs", which answers a Location to upload to): a build knows while its assemble runs that it
   * will upload its new layer and config, and on a registry that takes ~65 ms per POST (distribution 2.8 here)
   * the uploads then start with their PUT. The next uploads to that repository take these sessions first; one
   * that fails is replaced by a fresh one. Never fails: a problem shows on the upload.
   */
  openUploadsAhead(registry: string, repository: string, count: number): void {
    let repo: Repository;
    try {
      repo = this.repository(registry, repository);
    } catch {
      return;
    }
    const key = `${registry}/${repository}`;
    const list = this.ctx.ahead.get(key) ?? [];
    for (let i = 0; i < count; i++) {
      const s = repo.openSession('open an upload session ahead').catch(() => undefined);
      list.push(s);
    }
    this.ctx.ahead.set(key, list);
  }

  /** `registry` is host[:port] as in a Reference (docker.io is mapped to its API host here). */
  repository(registry: string, repository: string): Repository {
    checkRegistry(registry);
    if (repository.length > 255 || !repositoryRe.test(repository)) {
      throw new S2IError(
        'ERR_INVALID_REFERENCE',
        `invalid repository name "${repository.slice(0, 100)}": lowercase letters, digits and separators (. _ __ -) in /-separated parts`,
      );
    }
    return new Repository(this.ctx, registry, repository);
  }

  async close(): Promise<void> {
    // Sessions opened ahead and never used: cancel them (best effort, distribution-spec "Canceling an upload"),
    // so the registry does not keep them until it purges old uploads.
    const unused = [...this.ctx.ahead].flatMap(([key, list]) => list.map((p) => ({ key, p })));
    this.ctx.ahead.clear();
    await Promise.all(
      unused.map(async ({ key, p }) => {
        const s = await p;
        const slash = key.indexOf('/');
        if (s) await this.repository(key.slice(0, slash), key.slice(slash + 1)).cancelSession(s.location).catch(() => undefined);
      }),
    );
    await this.ctx.http.close();
  }
}

export class Repository {
  private readonly apiPath: string;
  private readonly pullScopes: string[];
  private readonly pushScopes: string[];

  constructor(
    private readonly ctx: ClientContext,
    readonly registry: string,
    readonly name: string,
  ) {
    this.apiPath = `/v2/${name}/`;
    this.pullScopes = [repositoryScope(name, 'pull')];
    this.pushScopes = [repositoryScope(name, 'pull', 'push')];
  }

  private async url(path: string): Promise<URL> {
    return new URL(this.apiPath + path, await this.ctx.http.originFor(this.registry, this.ctx.plainHttp, this.ctx.signal));
  }

  private send(req: Omit<HttpRequest, 'registry' | 'signal'> & { signal?: AbortSignal | undefined }): Promise<HttpResponse> {
    const signal = req.signal ?? this.ctx.signal;
    return this.ctx.http.send({ ...req, registry: this.registry, ...(signal ? { signal } : {}) });
  }

  private ref(reference: string): string {
    return `${this.registry}/${this.name}${reference.includes(':') ? '@' : ':'}${reference}`;
  }

  /** A tag or a digest; digests are validated before they go near a URL (CVE-2024-3727). */
  private checkReference(reference: string): void {
    if (reference.includes(':')) parseDigest(reference);
    else if (!tagRe.test(reference)) {
      throw new S2IError('ERR_INVALID_REFERENCE', `invalid tag "${reference.slice(0, 140)}": up to 128 of [A-Za-z0-9_.-], not starting with . or -`);
    }
  }

  private checkDescriptor(desc: Descriptor): void {
    parseDigest(desc.digest);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0 || desc.size > MAX_BLOB_SIZE) {
      throw new S2IError('ERR_INVALID_DESCRIPTOR', `descriptor ${desc.digest} has an invalid size ${String(desc.size).slice(0, 30)}`);
    }
  }

  /** Reads a manifest body up to MAX_MANIFEST_BYTES, refusing early when Content-Length already says more. */
  private async readManifestBody(res: HttpResponse, what: string): Promise<Buffer> {
    const declared = Number(header(res.headers, 'content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_MANIFEST_BYTES) {
      dispose(res.body);
      throw tooLarge(what, `${declared}`);
    }
    const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES + 1);
    if (bytes.length > MAX_MANIFEST_BYTES) throw tooLarge(what, `more than ${MAX_MANIFEST_BYTES}`);
    return bytes;
  }

  async resolve(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    this.checkReference(reference);
    const what = `manifest ${this.ref(reference)}`;
    const res = await this.send({
      method: 'GET',
      url: await this.url(`manifests/${reference}`),
      headers: { accept: manifestAcceptTypes.join(', ') },
      scopes: this.pullScopes,
      expect: [200],
      what,
      pulling: true,
    });
    const bytes = await this.readManifestBody(res, what);
    const announced = header(res.headers, 'docker-content-digest');
    // Docker-Content-Digest is a claim; it is checked against the bytes, never trusted alone.
    if (announced !== undefined && announced !== '') {
      let algorithm: 'sha256' | 'sha512';
      try {
        algorithm = parseDigest(announced).algorithm;
      } catch (e) {
        throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the registry sent an invalid Docker-Content-Digest; nothing was kept`, { cause: e, exitCode: ExitCode.pull });
      }
      const actual = digestOf(bytes, algorithm);
      if (actual !== announced) throw digestMismatch(what, announced, actual);
    }
    let digest: string;
    if (reference.includes(':')) {
      const actual = digestOf(bytes, parseDigest(reference).algorithm);
      if (actual !== reference) throw digestMismatch(what, reference, actual);
      digest = reference;
    } else {
      digest = digestOf(bytes, 'sha256');
    }
    const parsed = withPullExit(() => parseManifestDocument(bytes, header(res.headers, 'content-type')));
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes };
  }

  async fetchManifest(desc: Descriptor): Promise<Buffer> {
    this.checkDescriptor(desc);
    const what = `manifest ${this.ref(desc.digest)}`;
    if (desc.size > MAX_MANIFEST_BYTES) throw tooLarge(what, `${desc.size}`);
    const accept = [desc.mediaType, ...manifestAcceptTypes.filter((t) => t !== desc.mediaType)].filter(Boolean);
    const res = await this.send({
      method: 'GET',
      url: await this.url(`manifests/${desc.digest}`),
      headers: { accept: accept.join(', ') },
      scopes: this.pullScopes,
      expect: [200],
      what,
      pulling: true,
    });
    const bytes = await this.readManifestBody(res, what);
    const v = new ContentVerifier(what, desc.digest, desc.size);
    v.update(bytes.subarray(0, Math.min(bytes.length, desc.size + 1)));
    v.final();
    return bytes;
  }

  async fetchBlobBytes(desc: Descriptor, maxSize: number): Promise<Buffer> {
    this.checkDescriptor(desc);
    if (desc.size > maxSize) {
      throw new S2IError('ERR_BLOB_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes, over the ${maxSize}-byte limit for this kind of content`, {
        exitCode: ExitCode.pull,
      });
    }
    const stream = await this.fetchBlob(desc);
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    this.checkDescriptor(desc);
    const what = `blob ${desc.digest}`;
    const signal = opts.signal ?? this.ctx.signal;
    const policy = this.ctx.http.retryPolicy;
    const progress = this.progress('pull', desc);
    const blobUrl = await this.url(`blobs/${desc.digest}`);
    const open = (offset: number): Promise<HttpResponse> =>
      this.send({
        method: 'GET',
        url: blobUrl,
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        scopes: this.pullScopes,
        expect: offset > 0 ? [200, 206] : [200],
        what,
        pulling: true,
        signal,
      });
    const first = await open(0);
    const declared = Number(header(first.headers, 'content-length') ?? NaN);
    if (Number.isFinite(declared) && declared !== desc.size) {
      dispose(first.body);
      throw sizeMismatch(what, desc.size, `${declared} (Content-Length)`);
    }
    const verifier = new ContentVerifier(what, desc.digest, desc.size);
    progress('start', 0);

    async function* bytes(): AsyncGenerator<Buffer> {
      let res = first;
      let failures = 0;
      try {
        for (;;) {
          // After a resume: 206 must start where we are; a 200 repeats the whole blob, so skip what we have.
          let skip = 0;
          if (verifier.size > 0) {
            if (res.status === 206) {
              const m = /^bytes (\d+)-/.exec(header(res.headers, 'content-range') ?? '');
              if (!m || Number(m[1]) !== verifier.size) {
                throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: the registry answered a resumed download with the wrong range; retry the pull`, {
                  exitCode: ExitCode.pull,
                });
              }
            } else {
              skip = verifier.size;
            }
          }
          try {
            for await (const raw of res.body) {
              let chunk = raw as Buffer;
              if (skip > 0) {
                const drop = Math.min(skip, chunk.length);
                skip -= drop;
                chunk = chunk.subarray(drop);
                if (chunk.length === 0) continue;
              }
              verifier.update(chunk);
              progress('progress', verifier.size);
              yield chunk;
            }
            break;
          } catch (e) {
            dispose(res.body);
            if (e instanceof S2IError || signal?.aborted || !isTransientNetworkError(e) || ++failures >= policy.attempts) throw e;
            await sleep(backoffDelay(failures, policy), signal);
            res = await open(verifier.size);
          }
        }
        // Throwing here errors the stream before 'end': consumers never see a clean end on bad bytes.
        verifier.final();
        progress('end', verifier.size);
      } finally {
        dispose(res.body);
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  async blobExists(desc: Descriptor): Promise<boolean> {
    this.checkDescriptor(desc);
    const res = await this.send({
      method: 'HEAD',
      url: await this.url(`blobs/${desc.digest}`),
      scopes: this.pullScopes,
      expect: [200, 404],
      what: `blob ${desc.digest}`,
    });
    await discard(res.body);
    if (res.status !== 200) return false;
    const len = header(res.headers, 'content-length');
    return len === undefined || Number(len) === desc.size;
  }

  async mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    this.checkDescriptor(desc);
    if (!repositoryRe.test(fromRepository)) {
      throw new S2IError('ERR_INVALID_REFERENCE', `invalid repository name "${fromRepository.slice(0, 100)}" to mount from`);
    }
    const url = await this.url('blobs/uploads/');
    url.searchParams.set('mount', desc.digest);
    url.searchParams.set('from', fromRepository);
    const res = await this.send({
      method: 'POST',
      url,
      headers: { 'content-length': '0' },
      body: '',
      scopes: [...this.pushScopes, repositoryScope(fromRepository, 'pull')],
      expect: [201, 202],
      what: `mount blob ${desc.digest} from ${fromRepository}`,
    });
    await discard(res.body);
    if (res.status === 201) {
      this.ctx.onProgress({ type: 'blob', op: 'push', digest: desc.digest, size: desc.size, done: desc.size, state: 'mounted' });
      return true;
    }
    // 202: the registry opened an ordinary upload session instead; cancel it so it does not linger.
    const location = header(res.headers, 'location');
    if (location) {
      try {
        const del = await this.send({ method: 'DELETE', url: new URL(location, res.url), scopes: this.pushScopes, expect: [204, 200, 202, 404], retry: false });
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
  async pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    this.checkDescriptor(desc);
    const what = `push blob ${desc.digest}`;
    const progress = this.progress('push', desc);
    progress('start', 0);
    const chunk = this.ctx.chunkSize > 0 ? this.ctx.chunkSize : 0;
    if (desc.size <= Math.min(WHOLE_UPLOAD_MAX, chunk || Infinity)) {
      await this.pushWhole(desc, async () => await readWhole(await open(0), desc.size, what), what);
    } else if (desc.size <= chunk) {
      await this.pushWhole(desc, async () => await open(0), what);
    } else {
      await this.pushChunked(desc, open, what, progress);
    }
    progress('end', desc.size);
  }

  /**
   * POST + one PUT with the whole body (a Buffer, or a stream of exactly desc.size bytes). A failed attempt
   * starts over with a new session (the old one may be gone) and the content opened again.
   */
  private async pushWhole(desc: Descriptor, content: () => Promise<Buffer | Readable>, what: string): Promise<void> {
    const policy = this.ctx.http.retryPolicy;
    let sessionLost = false;
    for (let failures = 0; ; ) {
      try {
        const session = await this.startUpload(what);
        const body = await content();
        if (!Buffer.isBuffer(body)) {
          await this.putMonolithic(session.location, desc, body, what);
          return;
        }
        await this.putDigest(session.location, desc, body, {}, what, false);
        return;
      } catch (e) {
        // A session the registry no longer knows (purged, or one opened ahead that expired): a new one, once.
        if (isUploadUnknown(e) && !sessionLost) {
          sessionLost = true;
          continue;
        }
        if (!isTransientUploadError(e) || ++failures >= policy.attempts) throw e;
        await sleep(backoffDelay(failures, policy), this.ctx.signal);
        if (await this.blobExists(desc)) return; // the PUT landed; only its answer was lost
      }
    }
  }

  private async pushChunked(
    desc: Descriptor,
    open: (offset: number) => Readable | Promise<Readable>,
    what: string,
    progress: (state: 'start' | 'progress' | 'end', done: number) => void,
  ): Promise<void> {
    const policy = this.ctx.http.retryPolicy;
    let session = await this.startUpload(what);
    const chunk = this.ctx.chunkSize > 0 ? Math.max(this.ctx.chunkSize, session.minChunk) : Infinity;
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
              session.location = await this.patch(session.location, source, offset, len, len === desc.size, what);
              offset += len;
              progress('progress', offset);
            }
            if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, desc.size, `more than ${desc.size}`);
          }
          await this.completeUpload(session.location, desc, what);
          break;
        } catch (e) {
          source?.destroy();
          source = undefined;
          if (offset === 0 && isPatchRejected(e)) {
            // Registries that do not take PATCH: one PUT with the whole body (distribution-spec "monolithic").
            await this.putMonolithic(session.location, desc, await open(0), what);
            break;
          }
          if (!isTransientUploadError(e) || ++failures >= policy.attempts) throw e;
          await sleep(backoffDelay(failures, policy), this.ctx.signal);
          if (offset >= desc.size && (await this.blobExists(desc))) break; // the PUT landed; only its answer was lost
          const status = await this.uploadStatus(session.location, what);
          if (status) {
            session.location = status.location;
            offset = status.offset;
          } else {
            // The session is gone (distribution invalidates one that took a partial PATCH): start over.
            session = await this.startUpload(what);
            offset = 0;
          }
        }
      }
    } finally {
      source?.destroy();
    }
  }

  /** A session for a new upload: one opened ahead (openUploadsAhead) when there is one, else a new one. */
  private async startUpload(what: string): Promise<UploadSession> {
    const ahead = this.ctx.ahead.get(`${this.registry}/${this.name}`);
    while (ahead && ahead.length > 0) {
      const s = await ahead.shift();
      if (s) return s;
    }
    return this.openSession(what);
  }

  /** DELETE of an upload session's Location: the registry drops what it holds of it. */
  async cancelSession(location: URL): Promise<void> {
    const res = await this.send({ method: 'DELETE', url: location, scopes: this.pushScopes, expect: [204, 404], what: 'cancel an upload session', retry: false });
    await discard(res.body);
  }

  /** POST …/blobs/uploads/: a new upload session. */
  async openSession(what: string): Promise<UploadSession> {
    const res = await this.send({
      method: 'POST',
      url: await this.url('blobs/uploads/'),
      headers: { 'content-length': '0' },
      body: '',
      scopes: this.pushScopes,
      expect: [202],
      what,
    });
    await discard(res.body);
    const location = uploadLocation(res, what);
    const min = Number(header(res.headers, 'oci-chunk-min-length') ?? 0);
    return { location, minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
  }

  /** One PATCH of `len` bytes from `source`; returns the next Location. */
  private async patch(location: URL, source: ByteReader, offset: number, len: number, whole: boolean, what: string): Promise<URL> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(len) };
    // Content-Range is inclusive and has no `bytes=` (distribution-spec "Pushing a blob in chunks").
    if (!whole) headers['content-range'] = `${offset}-${offset + len - 1}`;
    const res = await this.send({
      method: 'PATCH',
      url: location,
      headers,
      body: Readable.from(source.take(len), { objectMode: false }),
      scopes: this.pushScopes,
      expect: [202, 204],
      what,
      retry: false,
    });
    await discard(res.body);
    return header(res.headers, 'location') ? uploadLocation(res, what) : location;
  }

  private async completeUpload(location: URL, desc: Descriptor, what: string): Promise<void> {
    await this.putDigest(location, desc, '', { 'content-length': '0' }, what, true);
  }

  /** The PUT that closes an upload session with `?digest=`, carrying `body` (the rest of the blob, or nothing). */
  private async putDigest(location: URL, desc: Descriptor, body: Buffer | Readable | string, headers: Record<string, string>, what: string, retry: boolean): Promise<void> {
    const res = await this.send({
      method: 'PUT',
      url: withDigest(location, desc.digest),
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body,
      scopes: this.pushScopes,
      expect: [201, 204],
      what,
      retry,
    });
    await discard(res.body);
    checkAnnouncedDigest(res, desc.digest, what);
  }

  private async putMonolithic(location: URL, desc: Descriptor, stream: Readable, what: string): Promise<void> {
    const source = new ByteReader(stream, what);
    // Exactly desc.size bytes: a shorter source fails in take(), a longer one after it (the request fails).
    async function* exactly(): AsyncGenerator<Buffer> {
      yield* source.take(desc.size);
      if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, desc.size, `more than ${desc.size}`);
    }
    try {
      await this.putDigest(location, desc, Readable.from(exactly(), { objectMode: false }), { 'content-length': String(desc.size) }, what, false);
    } finally {
      source.destroy();
    }
  }

  /** GET <location> → 204 with `Range: 0-N` (or `bytes=0-N`): how much the registry holds; undefined when the session is gone. */
  private async uploadStatus(location: URL, what: string): Promise<{ offset: number; location: URL } | undefined> {
    const res = await this.send({ method: 'GET', url: location, scopes: this.pushScopes, expect: [204, 200, 404, 400], what });
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

  async pushManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    this.checkReference(reference);
    const what = `push manifest ${this.ref(reference)}`;
    if (bytes.length > MAX_MANIFEST_BYTES) throw tooLarge(what, `${bytes.length}`);
    const digest = reference.includes(':') ? digestOf(bytes, parseDigest(reference).algorithm) : digestOf(bytes, 'sha256');
    if (reference.includes(':') && digest !== reference) {
      throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the manifest bytes have digest ${digest}, not ${reference}`);
    }
    const res = await this.send({
      method: 'PUT',
      url: await this.url(`manifests/${reference}`),
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: this.pushScopes,
      expect: [201, 200, 204],
      what,
    });
    await discard(res.body);
    checkAnnouncedDigest(res, digest, what);
    return digest;
  }

  async tags(): Promise<string[]> {
    const out: string[] = [];
    let url: URL | undefined = await this.url('tags/list');
    for (let page = 0; url && page < 10_000; page++) {
      const res: HttpResponse = await this.send({ method: 'GET', url, scopes: this.pullScopes, expect: [200], what: `tags of ${this.registry}/${this.name}`, pulling: true });
      const body = await readCapped(res.body, MAX_MANIFEST_BYTES + 1);
      if (body.length > MAX_MANIFEST_BYTES) throw tooLarge(`tags of ${this.name}`, `more than ${MAX_MANIFEST_BYTES}`);
      let doc: { tags?: unknown };
      try {
        doc = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      } catch (e) {
        throw new RegistryError('ERR_REGISTRY_ERROR', `tags of ${this.registry}/${this.name}: the registry answered with something that is not JSON`, { cause: e });
      }
      if (doc.tags !== null && doc.tags !== undefined) {
        if (!Array.isArray(doc.tags)) throw new RegistryError('ERR_REGISTRY_ERROR', `tags of ${this.registry}/${this.name}: "tags" is not a list`);
        for (const t of doc.tags) if (typeof t === 'string' && tagRe.test(t)) out.push(t);
      }
      url = nextLink(header(res.headers, 'link'), res.url);
    }
    return out;
  }

  async deleteManifest(digest: string): Promise<void> {
    parseDigest(digest);
    const res = await this.send({
      method: 'DELETE',
      url: await this.url(`manifests/${digest}`),
      scopes: [repositoryScope(this.name, 'delete'), ...this.pushScopes],
      expect: [202, 200, 204],
      what: `delete manifest ${this.ref(digest)}`,
    });
    await discard(res.body);
  }

  /**
   * Pushes the blobs of one image, `concurrency` at a time: each is skipped when the repository has it,
   * mounted from `mountFrom` (a repository of the same registry) when that works, else uploaded. Emits
   * per-blob progress events (`skipped`, `mounted`, `start`/`progress`/`end`).
   */
  async pushBlobs(items: readonly PushBlobItem[], opts: { mountFrom?: string } = {}): Promise<PushBlobsResult> {
    const out: PushBlobsResult = { uploaded: [], skipped: [], mounted: [] };
    await mapLimit(items, this.ctx.concurrency, async ({ descriptor: d, open }) => {
      if (await this.blobExists(d)) {
        out.skipped.push(d.digest);
        this.ctx.onProgress({ type: 'blob', op: 'push', digest: d.digest, size: d.size, done: d.size, state: 'skipped' });
        return;
      }
      if (opts.mountFrom && opts.mountFrom !== this.name && (await this.mountBlob(d, opts.mountFrom))) {
        out.mounted.push(d.digest);
        return;
      }
      await this.pushBlob(d, open);
      out.uploaded.push(d.digest);
    }, this.ctx.signal ? { signal: this.ctx.signal } : {});
    return out;
  }

  /**
   * Fetches blobs `concurrency` at a time; `consume` gets each verified stream and must read it to the end
   * (the stream errors before its end on wrong bytes). Per-blob progress events come from fetchBlob.
   */
  async fetchBlobs(descs: readonly Descriptor[], consume: (desc: Descriptor, stream: Readable) => Promise<void>): Promise<void> {
    await mapLimit(descs, this.ctx.concurrency, async (d) => {
      const stream = await this.fetchBlob(d);
      try {
        await consume(d, stream);
      } finally {
        stream.destroy();
      }
    }, this.ctx.signal ? { signal: this.ctx.signal } : {});
  }

  /**
   * Manifests whose `subject` is `digest` (distribution-spec v1.1 "Listing Referrers"), optionally only one
   * `artifactType`. Uses `GET /v2/NAME/referrers/DIGEST`; a registry without that API answers 404 and the
   * referrers tag schema is read instead: the index tagged `<alg>-<hex>` ("Referrers Tag Schema").
   */
  async referrers(digest: string, opts: { artifactType?: string } = {}): Promise<Descriptor[]> {
    parseDigest(digest);
    const what = `referrers of ${this.ref(digest)}`;
    const keep = (list: Descriptor[], filtered: boolean): Descriptor[] =>
      opts.artifactType === undefined || filtered ? list : list.filter((d) => d.artifactType === opts.artifactType);
    let url: URL | undefined = await this.url(`referrers/${digest}`);
    if (opts.artifactType !== undefined) url.searchParams.set('artifactType', opts.artifactType);
    const out: Descriptor[] = [];
    for (let page = 0; url && page < 1000; page++) {
      const res: HttpResponse = await this.send({
        method: 'GET',
        url,
        headers: { accept: MediaType.ociIndex },
        scopes: this.pullScopes,
        expect: page === 0 ? [200, 404] : [200],
        what,
        pulling: true,
      });
      if (res.status === 404) {
        await discard(res.body);
        return keep(await this.referrersByTag(digest), false);
      }
      const bytes = await this.readManifestBody(res, what);
      const index = referrersIndex(bytes, header(res.headers, 'content-type'), what);
      // OCI-Filters-Applied says the registry already filtered; otherwise the client must (spec).
      const filtered = (header(res.headers, 'oci-filters-applied') ?? '').split(',').map((x) => x.trim()).includes('artifactType');
      out.push(...keep(index, filtered));
      url = nextLink(header(res.headers, 'link'), res.url);
    }
    return out;
  }

  private async referrersByTag(digest: string): Promise<Descriptor[]> {
    const { algorithm, hex } = parseDigest(digest);
    const tag = `${algorithm}-${hex}`.slice(0, 128);
    let got: { bytes: Buffer; descriptor: Descriptor };
    try {
      got = await this.resolve(tag);
    } catch (e) {
      if (e instanceof S2IError && e.code === 'ERR_MANIFEST_UNKNOWN') return [];
      throw e;
    }
    return referrersIndex(got.bytes, got.descriptor.mediaType, `referrers tag ${this.ref(tag)}`);
  }

  private progress(op: 'pull' | 'push', desc: Descriptor): (state: 'start' | 'progress' | 'end', done: number) => void {
    let last = -Infinity;
    return (state, done) => {
      if (state === 'progress' && done - last < PROGRESS_STEP && done !== desc.size) return;
      last = done;
      this.ctx.onProgress({ type: 'blob', op, digest: desc.digest, size: desc.size, done, state });
    };
  }
}

/** Reads exact byte counts off a stream, for chunked uploads from one source. */
class ByteReader {
  private readonly it: AsyncIterator<unknown>;
  private leftover: Buffer | undefined;
  constructor(
    private readonly stream: Readable,
    private readonly what: string,
  ) {
    this.it = stream[Symbol.asyncIterator]();
    // The iterator listens only from its first next(); an error before that (a file that cannot be opened
    // emits ENOENT on the next tick) would otherwise be an uncaught 'error' event that kills the process. The
    // error is not lost: the iterator finds the stream errored and rejects with it.
    stream.on('error', () => {});
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const b = this.leftover;
      this.leftover = undefined;
      return b;
    }
    let r: IteratorResult<unknown>;
    try {
      r = await this.it.next();
    } catch (e) {
      if (e instanceof S2IError) throw e;
      // The local content failed (a missing or unreadable file): say so, not "connection lost" — and it is not
      // retried as a network fault would be.
      throw new S2IError('ERR_UPLOAD_SOURCE', `${this.what}: cannot read the content to upload: ${(e as Error).message}`, { cause: e });
    }
    if (r.done) return undefined;
    return Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const buf = await this.next();
      if (!buf) throw sizeMismatch(`${this.what}: the content to upload`, n, `only ${n - left} of the chunk`);
      if (buf.length > left) {
        this.leftover = buf.subarray(left);
        yield buf.subarray(0, left);
        return;
      }
      left -= buf.length;
      if (buf.length > 0) yield buf;
    }
  }

  async atEnd(): Promise<boolean> {
    for (;;) {
      const b = await this.next();
      if (!b) return true;
      if (b.length > 0) {
        this.leftover = b;
        return false;
      }
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
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

function checkAnnouncedDigest(res: HttpResponse, digest: string, what: string): void {
  const announced = header(res.headers, 'docker-content-digest');
  if (announced && announced !== digest) {
    throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the registry stored digest ${announced.slice(0, 140)}, expected ${digest}`);
  }
}

/** A dropped connection or a status worth retrying: the upload is tried again. */
/** 404 on an upload session URL (distribution-spec BLOB_UPLOAD_UNKNOWN): the session is gone. */
function isUploadUnknown(e: unknown): boolean {
  return e instanceof RegistryError && e.status === 404;
}

function isTransientUploadError(e: unknown): boolean {
  return isTransientNetworkError(e) || (e instanceof RegistryError && e.status !== undefined && isRetryableStatus(e.status));
}

/** Reads exactly `size` bytes of an upload's content (size is small: WHOLE_UPLOAD_MAX); more or fewer is ERR_SIZE_MISMATCH. */
async function readWhole(stream: Readable, size: number, what: string): Promise<Buffer> {
  const source = new ByteReader(stream, what);
  try {
    const parts: Buffer[] = [];
    for await (const b of source.take(size)) parts.push(b);
    if (!(await source.atEnd())) throw sizeMismatch(`${what}: the content to upload`, size, `more than ${size}`);
    return Buffer.concat(parts, size);
  } finally {
    source.destroy();
  }
}

function isPatchRejected(e: unknown): boolean {
  return e instanceof RegistryError && (e.status === 405 || e.status === 501 || e.errors.some((x) => x.code === 'UNSUPPORTED'));
}

/** RFC 8288 `Link: <url>; rel="next"`, followed only on the same origin. */
function nextLink(link: string | undefined, base: URL): URL | undefined {
  if (!link) return undefined;
  const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link);
  if (!m) return undefined;
  try {
    const u = new URL(m[1]!, base);
    return u.origin === base.origin ? u : undefined;
  } catch {
    return undefined;
  }
}

/** The `manifests` of a referrers index (an OCI index, validated like any index). */
function referrersIndex(bytes: Buffer, contentType: string | undefined, what: string): Descriptor[] {
  const parsed = withPullExit(() => parseManifestDocument(bytes, contentType));
  if (parsed.kind !== 'index' || parsed.mediaType !== MediaType.ociIndex) {
    throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: expected an OCI image index, got ${parsed.mediaType}`, { exitCode: ExitCode.pull });
  }
  return parsed.index.manifests;
}

/** host[:port] (or [IPv6]:port), nothing else: it becomes part of URLs and of a certs.d path. */
export function checkRegistry(registry: string): void {
  if (!registryRe.test(registry)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid registry host "${registry.slice(0, 100)}": expected host[:port]`);
  }
}

function tooLarge(what: string, size: string): S2IError {
  return new S2IError('ERR_MANIFEST_TOO_LARGE', `${what}: ${size} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit for manifests; refusing to read it`, {
    exitCode: ExitCode.pull,
  });
}

function withPullExit<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof S2IError && e.exitCode !== ExitCode.pull) throw new S2IError(e.code, e.message, { cause: e.cause, exitCode: ExitCode.pull });
    throw e;
  }
}
