// Manifests (distribution-spec "Pulling manifests", "Pushing manifests", "Deleting manifests"): read up to
// MAX_MANIFEST_BYTES, checked against the digest asked for and the registry's Docker-Content-Digest claim,
// parsed before they are handed on.
import { S2IError, tagStep, withStep, withStepSync } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifestDocument } from '../oci/manifest.js';
import { manifestAcceptTypes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { readCapped, repositoryScope } from './auth.js';
import { checkAnnouncedDigest, type RepositoryEndpoint } from './endpoint.js';
import { discard, dispose, header, type HttpResponse } from './http.js';
import { checkReference } from './names.js';
import { ContentVerifier, digestMismatch, digestOf } from './verify.js';

export async function resolveManifest(ep: RepositoryEndpoint, reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  checkReference(reference);
  const what = `manifest ${ep.ref(reference)}`;
  const { headers, bytes } = await getManifest(ep, reference, manifestAcceptTypes, what);
  const announced = header(headers, 'docker-content-digest');
  // Docker-Content-Digest is a claim; it is checked against the bytes, never trusted alone.
  if (announced !== undefined && announced !== '') {
    let algorithm: 'sha256' | 'sha512';
    try {
      algorithm = parseDigest(announced).algorithm;
    } catch (e) {
      throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the registry sent an invalid Docker-Content-Digest; nothing was kept`, { cause: e, step: 'pull' });
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
  const parsed = withStepSync('pull', () => parseManifestDocument(bytes, header(headers, 'content-type')));
  return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes };
}

export async function fetchManifest(ep: RepositoryEndpoint, desc: Descriptor): Promise<Buffer> {
  ep.checkDescriptor(desc);
  const what = `manifest ${ep.ref(desc.digest)}`;
  if (desc.size > MAX_MANIFEST_BYTES) throw tagStep('pull', manifestTooLarge(what, `${desc.size}`));
  const accept = [desc.mediaType, ...manifestAcceptTypes.filter((t) => t !== desc.mediaType)].filter(Boolean);
  const { bytes } = await getManifest(ep, desc.digest, accept, what);
  const v = new ContentVerifier(what, desc.digest, desc.size);
  v.update(bytes.subarray(0, Math.min(bytes.length, desc.size + 1)));
  v.final();
  return bytes;
}

export async function pushManifest(ep: RepositoryEndpoint, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
  checkReference(reference);
  const what = `push manifest ${ep.ref(reference)}`;
  if (bytes.length > MAX_MANIFEST_BYTES) throw manifestTooLarge(what, `${bytes.length}`);
  const digest = reference.includes(':') ? digestOf(bytes, parseDigest(reference).algorithm) : digestOf(bytes, 'sha256');
  if (reference.includes(':') && digest !== reference) {
    throw new S2IError('ERR_DIGEST_MISMATCH', `${what}: the manifest bytes have digest ${digest}, not ${reference}`);
  }
  const res = await ep.send({
    method: 'PUT',
    url: await ep.url(`manifests/${reference}`),
    headers: { 'content-type': mediaType },
    body: bytes,
    scopes: ep.pushScopes,
    expect: [201, 200, 204],
    what,
  });
  await discard(res.body);
  checkAnnouncedDigest(res, digest, what);
  return digest;
}

export async function deleteManifest(ep: RepositoryEndpoint, digest: string): Promise<void> {
  parseDigest(digest);
  const res = await ep.send({
    method: 'DELETE',
    url: await ep.url(`manifests/${digest}`),
    scopes: [repositoryScope(ep.name, 'delete'), ...ep.pushScopes],
    expect: [202, 200, 204],
    what: `delete manifest ${ep.ref(digest)}`,
  });
  await discard(res.body);
}

/** GET of a manifest by tag or digest, its body read under MAX_MANIFEST_BYTES; what fails is a failed pull. */
async function getManifest(ep: RepositoryEndpoint, reference: string, accept: readonly string[], what: string): Promise<{ headers: HttpResponse['headers']; bytes: Buffer }> {
  return withStep('pull', async () => {
    const res = await ep.send({
    method: 'GET',
    url: await ep.url(`manifests/${reference}`),
    headers: { accept: accept.join(', ') },
    scopes: ep.pullScopes,
    expect: [200],
    what,
    });
    return { headers: res.headers, bytes: await readManifestBody(res, what) };
  });
}

/** Reads a manifest body up to MAX_MANIFEST_BYTES, refusing early when Content-Length already says more. */
export async function readManifestBody(res: HttpResponse, what: string): Promise<Buffer> {
  const declared = Number(header(res.headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_MANIFEST_BYTES) {
    dispose(res.body);
    throw manifestTooLarge(what, `${declared}`);
  }
  const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES + 1);
  if (bytes.length > MAX_MANIFEST_BYTES) throw manifestTooLarge(what, `more than ${MAX_MANIFEST_BYTES}`);
  return bytes;
}

export function manifestTooLarge(what: string, size: string): S2IError {
  return new S2IError('ERR_MANIFEST_TOO_LARGE', `${what}: ${size} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit for manifests; refusing to read it`);
}
