import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  MAX_MANIFEST_BYTES,
  normalizeContentType,
  parseImageConfig,
  parseManifestDocument,
} from '../../src/oci/manifest.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const buf = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaType.dockerManifest,
  config: { mediaType: MediaType.dockerConfig, size: 1469, digest: d('a') },
  layers: [{ mediaType: MediaType.dockerLayerGzip, size: 2_000_000, digest: d('b') }],
};
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, size: 100, digest: d('c') },
  layers: [{ mediaType: MediaType.ociLayerGzip, size: 10, digest: d('d'), annotations: { a: 'b' } }],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};
const { mediaType: _omit, ...ociNoMediaType } = ociManifest;
const ociIndex = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [{ mediaType: MediaType.ociManifest, size: 500, digest: d('e'), platform: { os: 'linux', architecture: 'amd64' } }],
};
const dockerList = {
  schemaVersion: 2,
  mediaType: MediaType.dockerList,
  manifests: [
    { mediaType: MediaType.dockerManifest, size: 500, digest: d('e'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ],
};

t.test('media type predicates', async (t) => {
  t.ok(isManifestMediaType(MediaType.ociManifest));
  t.ok(isManifestMediaType(MediaType.dockerManifest));
  t.notOk(isManifestMediaType(MediaType.ociIndex));
  t.ok(isIndexMediaType(MediaType.ociIndex));
  t.ok(isIndexMediaType(MediaType.dockerList));
  t.notOk(isIndexMediaType(MediaType.dockerManifest));
  t.equal(normalizeContentType('application/vnd.oci.image.manifest.v1+json; charset=utf-8'), MediaType.ociManifest);
  t.equal(normalizeContentType(' Application/JSON '), '');
  t.equal(normalizeContentType(undefined), '');
});

t.test('accepted documents', async (t) => {
  const cases: Array<[string, unknown, string | undefined, string, string, 'docker' | 'oci']> = [
    ['docker v2s2', dockerManifest, MediaType.dockerManifest, 'manifest', MediaType.dockerManifest, 'docker'],
    ['docker v2s2, no content type', dockerManifest, undefined, 'manifest', MediaType.dockerManifest, 'docker'],
    ['docker v2s2, generic content type', dockerManifest, 'application/json', 'manifest', MediaType.dockerManifest, 'docker'],
    ['docker v2s2, octet-stream', dockerManifest, 'application/octet-stream', 'manifest', MediaType.dockerManifest, 'docker'],
    ['docker v2s2, text/plain; charset', dockerManifest, 'text/plain; charset=utf-8', 'manifest', MediaType.dockerManifest, 'docker'],
    ['oci with mediaType', ociManifest, `${MediaType.ociManifest}; charset=utf-8`, 'manifest', MediaType.ociManifest, 'oci'],
    ['oci without mediaType', ociNoMediaType, undefined, 'manifest', MediaType.ociManifest, 'oci'],
    ['oci without mediaType, typed by Content-Type', ociNoMediaType, MediaType.ociManifest, 'manifest', MediaType.ociManifest, 'oci'],
    ['oci index', ociIndex, MediaType.ociIndex, 'index', MediaType.ociIndex, 'oci'],
    ['oci index without mediaType', { schemaVersion: 2, manifests: [] }, undefined, 'index', MediaType.ociIndex, 'oci'],
    ['docker list', dockerList, MediaType.dockerList, 'index', MediaType.dockerList, 'docker'],
    ['oci empty layers', { ...ociManifest, layers: [] }, undefined, 'manifest', MediaType.ociManifest, 'oci'],
  ];
  for (const [name, doc, ct, kind, mt, format] of cases) {
    const p = parseManifestDocument(buf(doc), ct);
    t.equal(p.kind, kind, `${name}: kind`);
    t.equal(p.mediaType, mt, `${name}: mediaType`);
    t.equal(p.format, format, `${name}: format`);
    if (p.kind === 'manifest') t.same(p.manifest.config, (doc as typeof dockerManifest).config, `${name}: config descriptor`);
    else t.same(p.index.manifests, (doc as typeof ociIndex).manifests, `${name}: manifests`);
  }
});

t.test('rejected documents', async (t) => {
  const cases: Array<[string, Buffer, string | undefined, string, RegExp]> = [
    ['garbage', buf('{not json'), undefined, 'ERR_MANIFEST_INVALID', /not JSON/],
    ['empty', Buffer.alloc(0), undefined, 'ERR_MANIFEST_INVALID', /not JSON/],
    ['array', buf([1, 2]), undefined, 'ERR_MANIFEST_INVALID', /not a JSON object/],
    ['null', buf('null'), undefined, 'ERR_MANIFEST_INVALID', /not a JSON object/],
    ['schemaVersion 3', buf({ ...dockerManifest, schemaVersion: 3 }), undefined, 'ERR_MANIFEST_INVALID', /schemaVersion/],
    ['schemaVersion missing', buf({ config: dockerManifest.config, layers: [] }), undefined, 'ERR_MANIFEST_INVALID', /schemaVersion/],
    ['schema1 body', buf({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), undefined, 'ERR_MANIFEST_UNSUPPORTED', /schema 1 is not supported.*re-push/],
    ['schema1 content type', buf({ schemaVersion: 1 }), MediaType.dockerManifestV1Signed, 'ERR_MANIFEST_UNSUPPORTED', /schema 1/],
    ['schema1 mediaType in body', buf({ schemaVersion: 2, mediaType: MediaType.dockerManifestV1 }), undefined, 'ERR_MANIFEST_UNSUPPORTED', /schema 1/],
    ['mixed manifests + config (CVE-2021-41190)', buf({ ...ociIndex, config: ociManifest.config }), undefined, 'ERR_MANIFEST_INVALID', /ambiguous/],
    ['mixed manifests + layers, no mediaType', buf({ schemaVersion: 2, manifests: [], layers: [] }), undefined, 'ERR_MANIFEST_INVALID', /ambiguous/],
    ['index typed manifest with manifests', buf({ ...ociIndex, mediaType: MediaType.ociManifest }), undefined, 'ERR_MANIFEST_INVALID', /cannot have "manifests"/],
    ['manifest typed index with config', buf({ ...ociManifest, mediaType: MediaType.ociIndex }), undefined, 'ERR_MANIFEST_INVALID', /cannot have "config"/],
    ['content-type mismatch', buf(dockerManifest), MediaType.ociManifest, 'ERR_MANIFEST_INVALID', /Content-Type/],
    ['content-type mismatch index', buf(ociIndex), MediaType.dockerList, 'ERR_MANIFEST_INVALID', /Content-Type/],
    ['mediaType not a string', buf({ ...dockerManifest, mediaType: 5 }), undefined, 'ERR_MANIFEST_INVALID', /mediaType must be a string/],
    ['no structure', buf({ schemaVersion: 2 }), undefined, 'ERR_MANIFEST_INVALID', /no mediaType/],
    ['unknown media type', buf({ schemaVersion: 2, mediaType: 'application/vnd.example+json', config: ociManifest.config, layers: [] }), undefined, 'ERR_MANIFEST_UNSUPPORTED', /not an image manifest/],
    ['oversize', Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20), undefined, 'ERR_MANIFEST_TOO_LARGE', /limit/],
    ['bad config digest', buf({ ...dockerManifest, config: { ...dockerManifest.config, digest: 'sha256:abc' } }), undefined, 'ERR_MANIFEST_INVALID', /config\.digest/],
    ['traversal layer digest', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], digest: 'sha256:../../../etc/passwd' }] }), undefined, 'ERR_MANIFEST_INVALID', /layers\[0\]\.digest/],
    ['negative size', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], size: -1 }] }), undefined, 'ERR_MANIFEST_INVALID', /layers\[0\]\.size/],
    ['fractional size', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], size: 1.5 }] }), undefined, 'ERR_MANIFEST_INVALID', /size/],
    ['unsafe size', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], size: 2 ** 60 }] }), undefined, 'ERR_MANIFEST_INVALID', /size/],
    ['string size', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], size: '10' }] }), undefined, 'ERR_MANIFEST_INVALID', /size/],
    ['missing layer mediaType', buf({ ...dockerManifest, layers: [{ size: 1, digest: d('b') }] }), undefined, 'ERR_MANIFEST_INVALID', /mediaType/],
    ['layer not an object', buf({ ...dockerManifest, layers: ['x'] }), undefined, 'ERR_MANIFEST_INVALID', /layers\[0\] must be an object/],
    ['layers not an array', buf({ ...dockerManifest, layers: {} }), undefined, 'ERR_MANIFEST_INVALID', /"layers" must be an array/],
    ['config missing', buf({ schemaVersion: 2, mediaType: MediaType.dockerManifest, layers: [] }), undefined, 'ERR_MANIFEST_INVALID', /config must be an object/],
    ['bad urls', buf({ ...dockerManifest, layers: [{ ...dockerManifest.layers[0], urls: [1] }] }), undefined, 'ERR_MANIFEST_INVALID', /urls/],
    ['bad annotations', buf({ ...ociManifest, annotations: { a: 1 } }), undefined, 'ERR_MANIFEST_INVALID', /annotations/],
    ['bad index entry digest', buf({ ...ociIndex, manifests: [{ ...ociIndex.manifests[0], digest: 'sha256:' + 'A'.repeat(64) }] }), undefined, 'ERR_MANIFEST_INVALID', /manifests\[0\]\.digest/],
    ['bad index entry platform', buf({ ...ociIndex, manifests: [{ ...ociIndex.manifests[0], platform: { os: 'linux' } }] }), undefined, 'ERR_MANIFEST_INVALID', /platform/],
    ['manifests not an array', buf({ ...ociIndex, manifests: null }), undefined, 'ERR_MANIFEST_INVALID', /"manifests" must be an array/],
    ['bad subject', buf({ ...ociManifest, subject: { mediaType: MediaType.ociManifest, digest: 'x', size: 1 } }), undefined, 'ERR_MANIFEST_INVALID', /subject/],
  ];
  for (const [name, bytes, ct, code, msg] of cases) {
    t.throws(() => parseManifestDocument(bytes, ct), { code, message: msg }, name);
  }
});

t.test('exactly 4 MiB is accepted by the size cap', async (t) => {
  const doc = JSON.stringify(dockerManifest);
  const padded = Buffer.alloc(MAX_MANIFEST_BYTES, 0x20);
  padded.write(doc, 0);
  t.equal(parseManifestDocument(padded).kind, 'manifest');
});

const config = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/sh'], Labels: { a: 'b' }, User: '1001' },
  rootfs: { type: 'layers', diff_ids: [d('1'), d('2')] },
  history: [{ created_by: 'x' }, { created_by: 'y', empty_layer: true }, { created_by: 'z' }],
  container_config: { Hostname: 'docker-only' },
};

t.test('parseImageConfig accepts', async (t) => {
  const c = parseImageConfig(buf(config));
  t.same(c.rootfs.diff_ids, [d('1'), d('2')]);
  t.equal(c.container_config !== undefined, true, 'docker-only fields kept');
  t.ok(parseImageConfig(buf({ ...config, config: null, history: undefined })));
  t.ok(parseImageConfig(buf({ ...config, rootfs: { type: 'layers', diff_ids: [] } })));
});

t.test('parseImageConfig rejects', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['garbage', buf('nope'), /not JSON/],
    ['array', buf([]), /not a JSON object/],
    ['no architecture', buf({ ...config, architecture: undefined }), /architecture/],
    ['no os', buf({ ...config, os: '' }), /"os"/],
    ['no rootfs', buf({ ...config, rootfs: undefined }), /rootfs.type/],
    ['wrong rootfs type', buf({ ...config, rootfs: { type: 'other', diff_ids: [] } }), /rootfs.type/],
    ['diff_ids not array', buf({ ...config, rootfs: { type: 'layers', diff_ids: 'x' } }), /diff_ids must be an array/],
    ['bad diff_id', buf({ ...config, rootfs: { type: 'layers', diff_ids: [d('1'), 'sha256:../x'] } }), /diff_ids\[1\]/],
    ['diff_id number', buf({ ...config, rootfs: { type: 'layers', diff_ids: [5] } }), /diff_ids\[0\]/],
    ['Env not strings', buf({ ...config, config: { Env: [1] } }), /Env/],
    ['Cmd a string', buf({ ...config, config: { Cmd: '/bin/sh' } }), /Cmd/],
    ['Labels not strings', buf({ ...config, config: { Labels: { a: 1 } } }), /Labels/],
    ['User a number', buf({ ...config, config: { User: 1001 } }), /User/],
    ['config an array', buf({ ...config, config: [] }), /"config" must be an object/],
    ['history not array', buf({ ...config, history: {} }), /history/],
    ['oversize', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), /limit/],
  ];
  for (const [name, bytes, msg] of cases) t.throws(() => parseImageConfig(bytes), { code: 'ERR_CONFIG_INVALID', message: msg }, name);
});
