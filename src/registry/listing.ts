// Content discovery (distribution-spec "Listing Tags", "Listing Referrers"): paged lists, each page read
// under MAX_MANIFEST_BYTES, `Link: rel="next"` followed only on the same origin.
import { S2IError, tagStep, withStep, withStepSync } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifestDocument } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { readCapped } from './auth.js';
import type { RepositoryEndpoint } from './endpoint.js';
import { RegistryError } from './errors.js';
import { discard, header, type HttpResponse } from './http.js';
import { manifestTooLarge, readManifestBody, resolveManifest } from './manifests.js';

export async function listTags(ep: RepositoryEndpoint): Promise<string[]> {
  const out: string[] = [];
  let url: URL | undefined = await ep.url('tags/list');
  for (let page = 0; url && page < 10_000; page++) {
    const pageUrl: URL = url;
    const res: HttpResponse = await withStep('pull', () => ep.send({ method: 'GET', url: pageUrl, scopes: ep.pullScopes, expect: [200], what: `tags of ${ep.registry}/${ep.name}` }));
    const body = await readCapped(res.body, MAX_MANIFEST_BYTES + 1);
    if (body.length > MAX_MANIFEST_BYTES) throw tagStep('pull', manifestTooLarge(`tags of ${ep.name}`, `more than ${MAX_MANIFEST_BYTES}`));
    let doc: { tags?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as { tags?: unknown };
    } catch (e) {
      throw new RegistryError('ERR_REGISTRY_ERROR', `tags of ${ep.registry}/${ep.name}: the registry answered with something that is not JSON`, { cause: e });
    }
    if (doc.tags !== null && doc.tags !== undefined) {
      if (!Array.isArray(doc.tags)) throw new RegistryError('ERR_REGISTRY_ERROR', `tags of ${ep.registry}/${ep.name}: "tags" is not a list`);
      for (const t of doc.tags) if (typeof t === 'string' && isValidTag(t)) out.push(t);
    }
    url = nextLink(header(res.headers, 'link'), res.url);
  }
  return out;
}

/**
 * Manifests whose `subject` is `digest` (distribution-spec v1.1 "Listing Referrers"), optionally only one
 * `artifactType`. Uses `GET /v2/NAME/referrers/DIGEST`; a registry without that API answers 404 and the
 * referrers tag schema is read instead: the index tagged `<alg>-<hex>` ("Referrers Tag Schema"), unless
 * `tagSchema` is false (the caller listed the tags and that one is not among them: no second request).
 */
export async function listReferrers(ep: RepositoryEndpoint, digest: string, opts: { artifactType?: string; tagSchema?: boolean } = {}): Promise<Descriptor[]> {
  parseDigest(digest);
  const what = `referrers of ${ep.ref(digest)}`;
  const keep = (list: Descriptor[], filtered: boolean): Descriptor[] =>
    opts.artifactType === undefined || filtered ? list : list.filter((d) => d.artifactType === opts.artifactType);
  let url: URL | undefined = await ep.url(`referrers/${digest}`);
  if (opts.artifactType !== undefined) url.searchParams.set('artifactType', opts.artifactType);
  const out: Descriptor[] = [];
  for (let page = 0; url && page < 1000; page++) {
    const pageUrl: URL = url;
    const expect = page === 0 ? [200, 404] : [200];
    const res: HttpResponse = await withStep('pull', () =>
      ep.send({ method: 'GET', url: pageUrl, headers: { accept: MediaType.ociIndex }, scopes: ep.pullScopes, expect, what }),
    );
    if (res.status === 404) {
      await discard(res.body);
      return opts.tagSchema === false ? [] : keep(await referrersByTag(ep, digest), false);
    }
    const bytes = await withStep('pull', () => readManifestBody(res, what));
    const index = referrersIndex(bytes, header(res.headers, 'content-type'), what);
    // OCI-Filters-Applied says the registry already filtered; otherwise the client must (spec).
    const filtered = (header(res.headers, 'oci-filters-applied') ?? '').split(',').map((x) => x.trim()).includes('artifactType');
    out.push(...keep(index, filtered));
    url = nextLink(header(res.headers, 'link'), res.url);
  }
  return out;
}

/**
 * Whether the registry serves the referrers API for this repository: `GET /v2/NAME/referrers/DIGEST` answers 200
 * (an empty index for a digest nothing refers to) where it does, 404 where it does not (distribution 2.x).
 */
export async function hasReferrersApi(ep: RepositoryEndpoint, digest: string): Promise<boolean> {
  parseDigest(digest);
  const res = await ep.send({
    method: 'GET',
    url: await ep.url(`referrers/${digest}`),
    headers: { accept: MediaType.ociIndex },
    scopes: ep.pullScopes,
    expect: [200, 404],
    what: `referrers of ${ep.ref(digest)}`,
  });
  await discard(res.body);
  if (res.status !== 200) return false;
  return (header(res.headers, 'content-type') ?? '').split(';')[0]!.trim() === MediaType.ociIndex;
}

async function referrersByTag(ep: RepositoryEndpoint, digest: string): Promise<Descriptor[]> {
  const { algorithm, hex } = parseDigest(digest);
  const tag = `${algorithm}-${hex}`.slice(0, 128);
  let got: { bytes: Buffer; descriptor: Descriptor };
  try {
    got = await resolveManifest(ep, tag);
  } catch (e) {
    if (e instanceof S2IError && e.code === 'ERR_MANIFEST_UNKNOWN') return [];
    throw e;
  }
  return referrersIndex(got.bytes, got.descriptor.mediaType, `referrers tag ${ep.ref(tag)}`);
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
  const parsed = withStepSync('pull', () => parseManifestDocument(bytes, contentType));
  if (parsed.kind !== 'index' || parsed.mediaType !== MediaType.ociIndex) {
    throw new RegistryError('ERR_REGISTRY_ERROR', `${what}: expected an OCI image index, got ${parsed.mediaType}`, { step: 'pull' });
  }
  return parsed.index.manifests;
}
