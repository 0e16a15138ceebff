// Blob downloads (distribution-spec "Pulling blobs", "Checking if content exists"): every byte is verified
// against the descriptor's digest and size, the stream errors before its end on wrong bytes, and a cut
// connection resumes with Range from where the verified bytes stop.
import { Readable } from 'node:stream';
import { S2IError, withStep } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { RepositoryEndpoint } from './endpoint.js';
import { RegistryError } from './errors.js';
import { discard, dispose, header, type HttpResponse } from './http.js';
import { backoffDelay, isTransientNetworkError, sleep } from './retry.js';
import { ContentVerifier, sizeMismatch } from './verify.js';

export async function fetchBlobBytes(ep: RepositoryEndpoint, desc: Descriptor, maxSize: number): Promise<Buffer> {
  ep.checkDescriptor(desc);
  if (desc.size > maxSize) {
    throw new S2IError('ERR_BLOB_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes, over the ${maxSize}-byte limit for this kind of content`, {
      step: 'pull',
    });
  }
  const stream = await fetchBlob(ep, desc);
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export async function fetchBlob(ep: RepositoryEndpoint, desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
  ep.checkDescriptor(desc);
  const what = `blob ${desc.digest}`;
  const signal = opts.signal ?? ep.ctx.signal;
  const policy = ep.ctx.http.retryPolicy;
  const progress = ep.progress('pull', desc);
  const blobUrl = await ep.url(`blobs/${desc.digest}`);
  // A failed GET of the blob is a failed pull, whoever reads the blob (build, copy, inspect).
  const open = (offset: number): Promise<HttpResponse> =>
    withStep('pull', () => ep.send({
      method: 'GET',
      url: blobUrl,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: ep.pullScopes,
      expect: offset > 0 ? [200, 206] : [200],
      what,
      signal,
    }));
  const first = await open(0);
  const declared = Number(header(first.headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared !== desc.size) {
    dispose(first.body);
    throw sizeMismatch(what, desc.size, `${declared} (Content-Length)`);
  }
  const verifier = new ContentVerifier(what, desc.digest, desc.size);
  progress('start', 0);

  let started = false;
  async function* bytes(): AsyncGenerator<Buffer> {
    started = true;
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
                step: 'pull',
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
  const out = Readable.from(bytes(), { objectMode: false });
  // Destroyed before its first read, the generator never runs, nor its `finally`: the body is let go here, or
  // the request stays open and the client's close() waits for it.
  out.once('close', () => {
    if (!started) dispose(first.body);
  });
  return out;
}

/** HEAD of the blob: true when the repository has it with the descriptor's size (or says no size). */
export async function blobExists(ep: RepositoryEndpoint, desc: Descriptor): Promise<boolean> {
  ep.checkDescriptor(desc);
  const res = await ep.send({
    method: 'HEAD',
    url: await ep.url(`blobs/${desc.digest}`),
    scopes: ep.pullScopes,
    expect: [200, 404],
    what: `blob ${desc.digest}`,
  });
  await discard(res.body);
  if (res.status !== 200) return false;
  const len = header(res.headers, 'content-length');
  return len === undefined || Number(len) === desc.size;
}
