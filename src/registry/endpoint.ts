// One repository's API as the per-concern modules (manifests, blob download, blob upload, listing) share it:
// the client's context, URLs under /v2/NAME/, requests with the repository's scopes, descriptor checks and
// progress events.
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { repositoryScope } from './auth.js';
import type { UploadsAhead } from './blob-upload.js';
import { header, type HttpClient, type HttpRequest, type HttpResponse } from './http.js';

/** What a RegistryClient shares with its repositories. */
export interface ClientContext {
  /** Upload sessions opened ahead of time (RegistryClient.openUploadsAhead). */
  ahead: UploadsAhead;
  http: HttpClient;
  onProgress: ProgressSink;
  signal: AbortSignal | undefined;
  plainHttp: boolean | undefined;
  chunkSize: number;
}

/** Blob sizes beyond this are not believed (a descriptor from outside could say anything). */
const MAX_BLOB_SIZE = 2 ** 50;
/** Progress events at most every this many bytes. */
const PROGRESS_STEP = 256 * 1024;

export type BlobProgress = (state: 'start' | 'progress' | 'end', done: number) => void;

export class RepositoryEndpoint {
  private readonly apiPath: string;
  readonly pullScopes: string[];
  readonly pushScopes: string[];

  constructor(
    readonly ctx: ClientContext,
    readonly registry: string,
    readonly name: string,
  ) {
    this.apiPath = `/v2/${name}/`;
    this.pullScopes = [repositoryScope(name, 'pull')];
    this.pushScopes = [repositoryScope(name, 'pull', 'push')];
  }

  async url(path: string): Promise<URL> {
    return new URL(this.apiPath + path, await this.ctx.http.originFor(this.registry, this.ctx.plainHttp, this.ctx.signal));
  }

  send(req: Omit<HttpRequest, 'registry' | 'signal'> & { signal?: AbortSignal | undefined }): Promise<HttpResponse> {
    const signal = req.signal ?? this.ctx.signal;
    return this.ctx.http.send({ ...req, registry: this.registry, ...(signal ? { signal } : {}) });
  }

  /** `registry/name:tag` or `registry/name@digest`, for messages. */
  ref(reference: string): string {
    return `${this.registry}/${this.name}${reference.includes(':') ? '@' : ':'}${reference}`;
  }

  checkDescriptor(desc: Descriptor): void {
    parseDigest(desc.digest);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0 || desc.size > MAX_BLOB_SIZE) {
      throw new S2IError('ERR_INVALID_DESCRIPTOR', `descriptor ${desc.digest} has an invalid size ${String(desc.size).slice(0, 30)}`);
    }
  }

  progress(op: 'pull' | 'push', desc: Descriptor): BlobProgress {
    let last = -Infinity;
    return (state, done) => {
      if (state === 'progress' && done - last < PROGRESS_STEP && done !== desc.size) return;
      last = done;
      this.ctx.onProgress({ type: 'blob', op, digest: desc.digest, size: desc.size, done, state });
    };
  }
}

/** Docker-Content-Digest on a push answer: what the registry says it stored must be what we sent. */
export function checkAnnouncedDigest(res: HttpResponse, digest: string, what: string): void {
  const announced = header(res.headers, 'docker-content-digest');
  if (announced && announced !== digest) {
    throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the registry stored digest ${announced.slice(0, 140)}, expected ${digest}`);
  }
}
