// The registry client (distribution-spec v1.1 "pull", "push", "content discovery", "content management").
// RegistryClient owns the connection pool, credentials, token caches and upload sessions opened ahead;
// Repository is one repository's API, a facade over the modules that do the work: manifests.ts,
// blob-download.ts, blob-upload.ts, listing.ts. Every byte read is verified against the digest and size the
// caller expects; uploads and downloads resume after a cut connection instead of starting over.
import type { Readable } from 'node:stream';
import type { ProgressSink } from '../events.js';
import type { Descriptor } from '../oci/types.js';
import { blobExists, fetchBlob, fetchBlobBytes } from './blob-download.js';
import { mountBlob, pushBlob, UploadsAhead } from './blob-upload.js';
import { findCredentials, type CredentialOptions, type Credentials, type FoundCredentials } from './credentials.js';
import { RepositoryEndpoint, type ClientContext } from './endpoint.js';
import { HttpClient, discard } from './http.js';
import { hasReferrersApi, listReferrers, listTags } from './listing.js';
import { deleteManifest, fetchManifest, pushManifest, resolveManifest } from './manifests.js';
import { checkRegistry, checkRepository } from './names.js';
import type { RegistriesConf } from './registries-conf.js';
import { loadRegistriesConf } from './registries-conf-files.js';
import { retryPolicy } from './retry.js';

export { WHOLE_UPLOAD_MAX } from './blob-upload.js';

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
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  userAgent?: string;
  /**
   * Uploads are sent as PATCH chunks of this many bytes (raised to the registry's OCI-Chunk-Min-Length),
   * so a cut connection costs at most one chunk; a blob that fits in one chunk goes as one PUT instead. 0 sends
   * one streaming PATCH (blobs up to 256 KiB: one PUT). Default 16 MiB. See pushBlob.
   */
  chunkSize?: number;
  /** Environment for credential and registries.conf lookup (tests). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** containers-registries.conf(5) in effect. Default: read from `env` when first asked (registries-conf-files.ts). */
  registriesConf?: RegistriesConf;
}

const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export class RegistryClient {
  private readonly ctx: ClientContext;
  private readonly credentialOptions: CredentialOptions;
  private readonly explicit: Credentials | undefined;
  private conf: Promise<RegistriesConf> | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: RegistryClientOptions = {}) {
    const env = opts.env ?? process.env;
    this.env = env;
    if (opts.registriesConf) this.conf = Promise.resolve(opts.registriesConf);
    const onProgress = opts.onProgress ?? (() => {});
    const http = new HttpClient({
      tlsVerify: opts.tlsVerify ?? true,
      retry: retryPolicy(opts.retry),
      userAgent: opts.userAgent ?? 'oci-s2i/0.1',
      // Without a sink of the caller's, warnings (trust store) go to process warnings rather than nowhere.
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      credentials: async (registry) => (await this.findCredentials(registry))?.credentials,
      tls: { ...(opts.certDir ? { certDir: opts.certDir } : {}), ...(opts.certsDirs ? { certsDirs: opts.certsDirs } : {}), env },
      requestTimeoutMs: Math.max(1, opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    });
    this.credentialOptions = { ...(opts.authFile ? { authFile: opts.authFile } : {}), env };
    this.explicit = opts.credentials;
    this.ctx = {
      http,
      onProgress,
      signal: opts.signal,
      plainHttp: opts.plainHttp,
      chunkSize: Math.max(0, opts.chunkSize ?? DEFAULT_CHUNK_SIZE),
      ahead: new UploadsAhead(),
    };
  }

  /**
   * This client's credentials for `registry` and where they come from (`--creds` for the ones it was given, else
   * the auth file or helper): what a message about a refusal names. Undefined: anonymous.
   */
  async findCredentials(registry: string): Promise<FoundCredentials | undefined> {
    if (this.explicit) return { credentials: this.explicit, from: '--creds' };
    return await findCredentials(registry, this.credentialOptions);
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
   * "Pushing blobs", which answers a Location to upload to): a build knows from its start that it will upload
   * its new layer and config, and on a registry that takes ~65 ms per POST (distribution 2.8 here) the uploads
   * then start with their PUT. The next uploads to that repository take these sessions first; one that failed
   * to open is replaced by a fresh one. The promise settles with the first session: it rejects when the registry
   * cannot be reached or refuses this client a push there (how a build finds that out before it assembles).
   * Ignoring it is safe (it is never an unhandled rejection): a problem then shows on the upload.
   */
  openUploadsAhead(registry: string, repository: string, count: number): Promise<void> {
    let first: Promise<void>;
    try {
      first = this.ctx.ahead.open(this.endpoint(registry, repository), count);
    } catch (e) {
      first = Promise.reject(e);
    }
    first.catch(() => {});
    return first;
  }

  /**
   * registries.conf as this client applies it (mirrors, rewrites, blocked and insecure registries, short names:
   * transport/registry.ts), read once. A file that cannot be used rejects with ERR_REGISTRIES_CONF.
   */
  registries(): Promise<RegistriesConf> {
    if (!this.conf) {
      this.conf = loadRegistriesConf({ env: this.env });
      this.conf.catch(() => {});
    }
    return this.conf;
  }

  /**
   * `registry` is host[:port] as in a Reference (docker.io is mapped to its API host here). `insecure`: TLS not
   * verified and plain HTTP allowed for that registry from now on (registries.conf `insecure = true`).
   */
  repository(registry: string, repository: string, opts: { insecure?: boolean } = {}): Repository {
    const repo = new Repository(this.endpoint(registry, repository));
    if (opts.insecure) this.ctx.http.allowInsecure(registry);
    return repo;
  }

  private endpoint(registry: string, repository: string): RepositoryEndpoint {
    checkRegistry(registry);
    checkRepository(repository);
    return new RepositoryEndpoint(this.ctx, registry, repository);
  }

  async close(): Promise<void> {
    await this.ctx.ahead.cancelAll();
    await this.ctx.http.close();
  }
}

/** One repository of one registry. */
export class Repository {
  readonly registry: string;
  readonly name: string;

  constructor(private readonly ep: RepositoryEndpoint) {
    this.registry = ep.registry;
    this.name = ep.name;
  }

  resolve(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return resolveManifest(this.ep, reference);
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return fetchManifest(this.ep, desc);
  }

  pushManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    return pushManifest(this.ep, reference, bytes, mediaType);
  }

  deleteManifest(digest: string): Promise<void> {
    return deleteManifest(this.ep, digest);
  }

  /** The whole blob in memory, refused up front when the descriptor says more than `maxSize`. */
  fetchBlobBytes(desc: Descriptor, maxSize: number): Promise<Buffer> {
    return fetchBlobBytes(this.ep, desc, maxSize);
  }

  /** A verified stream of the blob that resumes after a cut connection; it errors before its end on wrong bytes. */
  fetchBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return fetchBlob(this.ep, desc, opts);
  }

  blobExists(desc: Descriptor): Promise<boolean> {
    return blobExists(this.ep, desc);
  }

  /** Cross-repository mount on the same registry; false when the registry would not (nothing is left open). */
  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    return mountBlob(this.ep, desc, fromRepository);
  }

  /** Uploads a blob; `open(offset)` is called again to resume. See blob-upload.ts for the protocol. */
  pushBlob(desc: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void> {
    return pushBlob(this.ep, desc, open);
  }

  tags(): Promise<string[]> {
    return listTags(this.ep);
  }

  /** Manifests whose `subject` is `digest`; the referrers API, else the referrers tag schema. */
  referrers(digest: string, opts: { artifactType?: string; tagSchema?: boolean } = {}): Promise<Descriptor[]> {
    return listReferrers(this.ep, digest, opts);
  }

  /** Whether this registry lists referrers by `subject` (the API), or a writer must keep the tag schema index. */
  hasReferrersApi(digest: string): Promise<boolean> {
    return hasReferrersApi(this.ep, digest);
  }
}
