// A small registry for tests that implements the part of the OCI distribution spec v1.1 Debian's docker-registry
// (distribution 2.8) lacks: manifests with `subject` answered with the `OCI-Subject` header, and the referrers API
// (`GET /v2/NAME/referrers/DIGEST`, an OCI index of the manifests whose subject is DIGEST, with their artifactType
// and annotations; `?artifactType=` filters, and `OCI-Filters-Applied: artifactType` says so). Enough of the rest
// for a push and a pull: blobs (HEAD, GET, monolithic and chunked uploads; no cross-repository mounts), manifests by
// tag and digest, tags/list. In memory, no auth, loopback only, on a free port. Test-only code: digests are checked
// (a client bug must fail here), nothing else that a client cannot get wrong.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReferrersRegistry {
  host: string;
  url: string;
  /** Every request as `METHOD path?query` (tests check which endpoints a client used). */
  requests: string[];
  /** Every blob and manifest body stored (tests search their bytes). */
  stored(): Buffer[];
  stop(): Promise<void>;
}

interface Repo {
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  tags: Map<string, string>;
  uploads: Map<string, Buffer[]>;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ociIndex = 'application/vnd.oci.image.index.v1+json';
const name = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*';
const route = new RegExp(`^/v2/(${name})/(blobs/uploads/([^/]*)|blobs/([^/]+)|manifests/([^/]+)|referrers/([^/]+)|tags/list)$`);

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body?: Buffer | object, headers: Record<string, string> = {}): void {
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-length': String(bytes.length), 'docker-distribution-api-version': 'registry/2.0', ...headers });
  res.end(bytes);
}

function error(res: http.ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { errors: [{ code, message }] }, { 'content-type': 'application/json' });
}

export async function startReferrersRegistry(): Promise<ReferrersRegistry> {
  const repos = new Map<string, Repo>();
  const requests: string[] = [];
  const repo = (n: string): Repo => {
    let r = repos.get(n);
    if (!r) repos.set(n, (r = { blobs: new Map(), manifests: new Map(), tags: new Map(), uploads: new Map() }));
    return r;
  };
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => error(res, 500, 'UNKNOWN', (e as Error).message));
  });
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const body = await readBody(req);
    if (url.pathname === '/v2/' || url.pathname === '/v2') return send(res, 200, {}, { 'content-type': 'application/json' });
    const m = route.exec(url.pathname);
    if (!m) return error(res, 404, 'NAME_UNKNOWN', 'no such route');
    const r = repo(m[1]!);
    const [, n, what, uploadId, blob, manifest, referrers] = m;
    if (what!.startsWith('blobs/uploads/')) {
      const finish = (id: string | undefined, parts: Buffer[]): void => {
        const digest = url.searchParams.get('digest') ?? '';
        const bytes = Buffer.concat(parts);
        if (sha256(bytes) !== digest) return error(res, 400, 'DIGEST_INVALID', `uploaded bytes have digest ${sha256(bytes)}, not ${digest}`);
        r.blobs.set(digest, bytes);
        if (id) r.uploads.delete(id);
        send(res, 201, undefined, { location: `/v2/${n}/blobs/${digest}`, 'docker-content-digest': digest });
      };
      if (req.method === 'POST') {
        if (url.searchParams.has('digest')) return finish(undefined, [body]);
        const id = randomUUID();
        r.uploads.set(id, body.length ? [body] : []);
        return send(res, 202, undefined, { location: `/v2/${n}/blobs/uploads/${id}`, range: '0-0', 'docker-upload-uuid': id });
      }
      const parts = r.uploads.get(uploadId ?? '');
      if (!parts) return error(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'no such upload');
      if (req.method === 'PATCH') {
        parts.push(body);
        const size = parts.reduce((a, b) => a + b.length, 0);
        return send(res, 202, undefined, { location: `/v2/${n}/blobs/uploads/${uploadId}`, range: `0-${Math.max(0, size - 1)}`, 'docker-upload-uuid': uploadId! });
      }
      if (req.method === 'PUT') return finish(uploadId, [...parts, body]);
      if (req.method === 'GET') {
        const size = parts.reduce((a, b) => a + b.length, 0);
        return send(res, 204, undefined, { location: `/v2/${n}/blobs/uploads/${uploadId}`, range: `0-${Math.max(0, size - 1)}` });
      }
      if (req.method === 'DELETE') {
        r.uploads.delete(uploadId!);
        return send(res, 204);
      }
      return error(res, 405, 'UNSUPPORTED', 'method');
    }
    if (blob !== undefined) {
      const bytes = r.blobs.get(blob);
      if (!bytes) return error(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
      const headers = { 'docker-content-digest': blob, 'content-type': 'application/octet-stream' };
      if (req.method === 'HEAD') {
        res.writeHead(200, { ...headers, 'content-length': String(bytes.length) });
        return void res.end();
      }
      return send(res, 200, bytes, headers);
    }
    if (manifest !== undefined) {
      if (req.method === 'PUT') {
        const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const digest = sha256(body);
        if (manifest.startsWith('sha256:') && manifest !== digest) return error(res, 400, 'DIGEST_INVALID', 'manifest digest');
        let doc: { subject?: { digest?: string }; layers?: Array<{ digest: string }>; config?: { digest: string }; manifests?: Array<{ digest: string }> };
        try {
          doc = JSON.parse(body.toString('utf8')) as typeof doc;
        } catch {
          return error(res, 400, 'MANIFEST_INVALID', 'not JSON');
        }
        for (const d of [...(doc.layers ?? []), ...(doc.config ? [doc.config] : [])]) if (!r.blobs.has(d.digest)) return error(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob ${d.digest} unknown`);
        for (const d of doc.manifests ?? []) if (!r.manifests.has(d.digest)) return error(res, 400, 'MANIFEST_BLOB_UNKNOWN', `manifest ${d.digest} unknown`);
        r.manifests.set(digest, { bytes: body, mediaType });
        if (!manifest.startsWith('sha256:')) r.tags.set(manifest, digest);
        const headers: Record<string, string> = { location: `/v2/${n}/manifests/${digest}`, 'docker-content-digest': digest };
        if (doc.subject?.digest) headers['oci-subject'] = doc.subject.digest;
        return send(res, 201, undefined, headers);
      }
      const digest = manifest.startsWith('sha256:') ? manifest : r.tags.get(manifest);
      const got = digest ? r.manifests.get(digest) : undefined;
      if (!got || !digest) return error(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      const headers = { 'docker-content-digest': digest, 'content-type': got.mediaType };
      if (req.method === 'HEAD') {
        res.writeHead(200, { ...headers, 'content-length': String(got.bytes.length) });
        return void res.end();
      }
      return send(res, 200, got.bytes, headers);
    }
    if (referrers !== undefined) {
      const want = url.searchParams.get('artifactType');
      const manifests: object[] = [];
      for (const [digest, { bytes, mediaType }] of r.manifests) {
        const doc = JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
        if (doc.subject?.digest !== referrers) continue;
        const artifactType = doc.artifactType ?? doc.config?.mediaType;
        if (want !== null && artifactType !== want) continue;
        manifests.push({ mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(doc.annotations ? { annotations: doc.annotations } : {}) });
      }
      const headers: Record<string, string> = { 'content-type': ociIndex };
      if (want !== null) headers['oci-filters-applied'] = 'artifactType';
      return send(res, 200, { schemaVersion: 2, mediaType: ociIndex, manifests }, headers);
    }
    return send(res, 200, { name: n, tags: [...r.tags.keys()].sort() }, { 'content-type': 'application/json' });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    stored: () => [...repos.values()].flatMap((r) => [...r.blobs.values(), ...[...r.manifests.values()].map((m) => m.bytes)]),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
