import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import { parseManifestDocument } from '../../src/oci/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import type { Descriptor } from '../../src/oci/types.js';
import {
  buildManifest,
  convertConfigMediaType,
  convertLayerMediaType,
  dockerForeignLayer,
  layerMediaType,
} from '../../src/image/manifest.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const ZSTD = /zstd layers have no Docker form: use --format oci or --compression gzip/;

t.test('layerMediaType', async (t) => {
  t.equal(layerMediaType('docker', 'gzip'), MediaType.dockerLayerGzip);
  t.equal(layerMediaType('docker', 'none'), MediaType.dockerLayer);
  t.equal(layerMediaType('oci', 'gzip'), MediaType.ociLayerGzip);
  t.equal(layerMediaType('oci', 'none'), MediaType.ociLayer);
  t.equal(layerMediaType('oci', 'zstd'), MediaType.ociLayerZstd);
  t.throws(() => layerMediaType('docker', 'zstd'), { code: 'ERR_FORMAT_UNSUPPORTED', message: ZSTD });
});

t.test('convertLayerMediaType both ways', async (t) => {
  const pairs: Array<[string, string]> = [
    [MediaType.dockerLayerGzip, MediaType.ociLayerGzip],
    [MediaType.dockerLayer, MediaType.ociLayer],
    [MediaType.dockerForeignLayerGzip, MediaType.ociLayerNonDistributableGzip],
    [dockerForeignLayer, MediaType.ociLayerNonDistributable],
  ];
  for (const [docker, oci] of pairs) {
    t.equal(convertLayerMediaType(docker, 'oci'), oci, `${docker} → oci`);
    t.equal(convertLayerMediaType(oci, 'docker'), docker, `${oci} → docker`);
    t.equal(convertLayerMediaType(docker, 'docker'), docker, 'docker identity');
    t.equal(convertLayerMediaType(oci, 'oci'), oci, 'oci identity');
  }
  t.equal(convertLayerMediaType(MediaType.ociLayerZstd, 'oci'), MediaType.ociLayerZstd);
  t.equal(convertLayerMediaType(MediaType.ociLayerNonDistributableZstd, 'oci'), MediaType.ociLayerNonDistributableZstd);
  t.throws(() => convertLayerMediaType(MediaType.ociLayerZstd, 'docker'), { code: 'ERR_FORMAT_UNSUPPORTED', message: ZSTD });
  t.throws(() => convertLayerMediaType(MediaType.ociLayerNonDistributableZstd, 'docker'), { code: 'ERR_FORMAT_UNSUPPORTED', message: ZSTD });
  for (const bad of ['application/octet-stream', '', 'constructor', '__proto__', 'application/vnd.oci.image.layer.v1.tar+bzip2']) {
    t.throws(() => convertLayerMediaType(bad, 'oci'), { code: 'ERR_FORMAT_UNSUPPORTED' }, `${bad} → oci`);
    t.throws(() => convertLayerMediaType(bad, 'docker'), { code: 'ERR_FORMAT_UNSUPPORTED' }, `${bad} → docker`);
  }
});

t.test('convertConfigMediaType', async (t) => {
  t.equal(convertConfigMediaType(MediaType.ociConfig, 'docker'), MediaType.dockerConfig);
  t.equal(convertConfigMediaType(MediaType.dockerConfig, 'oci'), MediaType.ociConfig);
  t.throws(() => convertConfigMediaType('application/vnd.example.artifact+json', 'oci'), { code: 'ERR_FORMAT_UNSUPPORTED' });
});

const config: Descriptor = { mediaType: MediaType.ociConfig, digest: d('c'), size: 1234, annotations: { a: 'b' } };
const layers: Descriptor[] = [
  { mediaType: MediaType.ociLayerGzip, digest: d('1'), size: 100, annotations: { z: '1', a: '2' }, urls: ['https://example.com/x'] },
  { mediaType: MediaType.dockerLayerGzip, digest: d('2'), size: 200 },
  { mediaType: MediaType.ociLayerNonDistributableGzip, digest: d('3'), size: 300, urls: ['https://example.com/foreign'] },
];

t.test('buildManifest docker', async (t) => {
  const m = buildManifest('docker', config, layers, { annotations: { dropped: 'yes' } });
  t.equal(m.mediaType, MediaType.dockerManifest);
  t.equal(m.digest, sha256Digest(m.bytes));
  t.same(m.descriptor, { mediaType: MediaType.dockerManifest, digest: m.digest, size: m.bytes.length });
  const doc = JSON.parse(m.bytes.toString());
  t.equal(doc.mediaType, MediaType.dockerManifest, 'mediaType in the body');
  t.equal(doc.schemaVersion, 2);
  t.same(doc.config, { mediaType: MediaType.dockerConfig, digest: d('c'), size: 1234 }, 'config type converted, annotations dropped');
  t.same(doc.layers[0], { mediaType: MediaType.dockerLayerGzip, digest: d('1'), size: 100 }, 'urls and annotations dropped');
  t.same(doc.layers[1], { mediaType: MediaType.dockerLayerGzip, digest: d('2'), size: 200 });
  t.same(doc.layers[2], { mediaType: MediaType.dockerForeignLayerGzip, digest: d('3'), size: 300, urls: ['https://example.com/foreign'] }, 'urls kept on foreign');
  t.notOk('annotations' in doc);
  t.notMatch(m.bytes.toString(), /\n/, 'compact');
  const parsed = parseManifestDocument(m.bytes, m.mediaType);
  t.equal(parsed.kind, 'manifest');
  t.equal(parsed.format, 'docker');
});

t.test('buildManifest oci', async (t) => {
  const m = buildManifest('oci', { ...config, mediaType: MediaType.dockerConfig }, layers, { annotations: { 'org.z': '1', 'org.a': '2' } });
  t.equal(m.mediaType, MediaType.ociManifest);
  const doc = JSON.parse(m.bytes.toString());
  t.equal(doc.mediaType, MediaType.ociManifest);
  t.equal(doc.config.mediaType, MediaType.ociConfig);
  t.same(doc.config.annotations, { a: 'b' });
  t.same(doc.layers.map((l: Descriptor) => l.mediaType), [MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerNonDistributableGzip]);
  t.same(Object.keys(doc.layers[0].annotations), ['a', 'z'], 'annotations sorted');
  t.same(doc.layers[0].urls, ['https://example.com/x']);
  t.same(Object.keys(doc.annotations), ['org.a', 'org.z']);
  t.same(Object.keys(doc), ['schemaVersion', 'mediaType', 'config', 'layers', 'annotations'], 'fixed key order');
  t.same(Object.keys(doc.layers[0]), ['mediaType', 'digest', 'size', 'urls', 'annotations']);
  t.equal(parseManifestDocument(m.bytes, m.mediaType).format, 'oci');
  t.same(layers[0]!.mediaType, MediaType.ociLayerGzip, 'input descriptors not mutated');
});

t.test('buildManifest is deterministic', async (t) => {
  const shuffled: Descriptor = { size: 1234, annotations: { a: 'b' }, digest: d('c'), mediaType: MediaType.ociConfig };
  for (const format of ['docker', 'oci'] as const) {
    const a = buildManifest(format, config, layers);
    const b = buildManifest(format, shuffled, layers.map((l) => JSON.parse(JSON.stringify(l))));
    t.equal(a.digest, b.digest, `${format}: same input → same digest`);
    t.ok(a.bytes.equals(b.bytes));
  }
  t.not(buildManifest('docker', config, layers).digest, buildManifest('oci', config, layers).digest);
  // Pinned so an accidental change of serialisation (and so of every digest we push) fails loudly.
  const pinned = buildManifest('docker', { mediaType: MediaType.dockerConfig, digest: d('c'), size: 1 }, [
    { mediaType: MediaType.dockerLayerGzip, digest: d('1'), size: 2 },
  ]);
  t.equal(
    pinned.bytes.toString(),
    `{"schemaVersion":2,"mediaType":"${MediaType.dockerManifest}","config":{"mediaType":"${MediaType.dockerConfig}","digest":"${d('c')}","size":1},"layers":[{"mediaType":"${MediaType.dockerLayerGzip}","digest":"${d('1')}","size":2}]}`,
  );
});

t.test('buildManifest rejects', async (t) => {
  const zstd: Descriptor = { mediaType: MediaType.ociLayerZstd, digest: d('4'), size: 1 };
  t.throws(() => buildManifest('docker', config, [zstd]), { code: 'ERR_FORMAT_UNSUPPORTED', message: ZSTD });
  t.ok(buildManifest('oci', config, [zstd]), 'zstd is fine for OCI');
  t.throws(() => buildManifest('oci', { ...config, digest: 'sha256:../../x' }, []), { code: 'ERR_INVALID_DIGEST' });
  t.throws(() => buildManifest('oci', config, [{ ...zstd, digest: 'md5:x' }]), { code: 'ERR_INVALID_DIGEST' });
  t.throws(() => buildManifest('oci', config, [{ ...zstd, size: -1 }]), { code: 'ERR_MANIFEST_INVALID' });
  t.throws(() => buildManifest('oci', config, [{ ...zstd, size: 0.5 }]), { code: 'ERR_MANIFEST_INVALID' });
  t.throws(() => buildManifest('oci', { ...config, mediaType: 'application/json' }, []), { code: 'ERR_FORMAT_UNSUPPORTED' });
  t.throws(() => buildManifest('oci', config, [{ ...zstd, mediaType: 'application/x-tar' }]), { code: 'ERR_FORMAT_UNSUPPORTED' });
});

