// The pure conversion plan (image/convert.ts) that `copy` and `build --format` share: every layer media type into
// each format, with and without plain layers gzipped; which blobs are rewritten; the manifest and index bytes made
// (pinned), the original bytes when nothing changes, and what the conversion drops.
import t from 'tap';
import { convert, convertIndex, planConversion, planIndex, type ConvertSource } from '../../src/image/convert.js';
import { dockerForeignLayer } from '../../src/image/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, ImageFormat, ImageIndex, ImageManifest } from '../../src/oci/types.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const ZSTD = /zstd layers have no Docker form/;

function source(format: ImageFormat, layers: Descriptor[], extra: Partial<ImageManifest> = {}): ConvertSource {
  const mediaType = format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig, digest: d('c'), size: 10 },
    layers,
    ...extra,
  };
  return { bytes: Buffer.from(JSON.stringify(manifest)), mediaType, format, manifest };
}

// [source layer type, target format, plain layers gzipped, expected: kept as <type> | gzip as <type> | error]
type Want = { keep: string } | { gzip: string } | { error: RegExp | string };
const table: Array<[string, ImageFormat, boolean, Want]> = [
  [MediaType.ociLayerGzip, 'oci', false, { keep: MediaType.ociLayerGzip }],
  [MediaType.ociLayerGzip, 'docker', false, { keep: MediaType.dockerLayerGzip }],
  [MediaType.ociLayerGzip, 'docker', true, { keep: MediaType.dockerLayerGzip }],
  [MediaType.dockerLayerGzip, 'oci', true, { keep: MediaType.ociLayerGzip }],
  [MediaType.dockerLayerGzip, 'docker', false, { keep: MediaType.dockerLayerGzip }],
  [MediaType.ociLayer, 'oci', false, { keep: MediaType.ociLayer }],
  [MediaType.ociLayer, 'oci', true, { gzip: MediaType.ociLayerGzip }],
  [MediaType.ociLayer, 'docker', false, { keep: MediaType.dockerLayer }],
  [MediaType.ociLayer, 'docker', true, { gzip: MediaType.dockerLayerGzip }],
  [MediaType.dockerLayer, 'oci', false, { keep: MediaType.ociLayer }],
  [MediaType.dockerLayer, 'oci', true, { gzip: MediaType.ociLayerGzip }],
  [MediaType.dockerLayer, 'docker', true, { gzip: MediaType.dockerLayerGzip }],
  [MediaType.ociLayerZstd, 'oci', false, { keep: MediaType.ociLayerZstd }],
  [MediaType.ociLayerZstd, 'oci', true, { keep: MediaType.ociLayerZstd }],
  [MediaType.ociLayerZstd, 'docker', false, { gzip: MediaType.dockerLayerGzip }],
  [MediaType.ociLayerZstd, 'docker', true, { gzip: MediaType.dockerLayerGzip }],
  [MediaType.ociLayerNonDistributable, 'docker', true, { keep: dockerForeignLayer }],
  [MediaType.ociLayerNonDistributable, 'oci', true, { keep: MediaType.ociLayerNonDistributable }],
  [MediaType.ociLayerNonDistributableGzip, 'docker', false, { keep: MediaType.dockerForeignLayerGzip }],
  [MediaType.dockerForeignLayerGzip, 'oci', true, { keep: MediaType.ociLayerNonDistributableGzip }],
  [MediaType.ociLayerNonDistributableZstd, 'oci', false, { keep: MediaType.ociLayerNonDistributableZstd }],
  [MediaType.ociLayerNonDistributableZstd, 'docker', false, { error: ZSTD }],
  ['application/vnd.oci.image.layer.v1.tar+bzip2', 'oci', false, { error: 'ERR_LAYER_MEDIA_TYPE' }],
  ['application/json', 'docker', true, { error: 'ERR_LAYER_MEDIA_TYPE' }],
];

t.test('planConversion: every layer media type into each format', async (t) => {
  for (const [mt, format, plainLayers, want] of table) {
    const name = `${mt} → ${format}${plainLayers ? ' (plain layers gzipped)' : ''}`;
    const layer: Descriptor = { mediaType: mt, digest: d('1'), size: 5 };
    for (const from of ['docker', 'oci'] as const) {
      if ('error' in want) {
        const e = typeof want.error === 'string' ? { code: want.error } : { code: 'ERR_FORMAT_UNSUPPORTED', message: want.error };
        t.throws(() => planConversion(source(from, [layer]), format, { plainLayers }), e, `${name}: refused`);
        continue;
      }
      const plan = planConversion(source(from, [layer]), format, { plainLayers });
      const step = plan.layers[0]!;
      t.equal(plan.config.mediaType, format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig, `${name}: config type`);
      t.equal(plan.config.digest, d('c'), 'config digest kept');
      if ('keep' in want) {
        t.equal(step.rewrite, false, `${name}: kept`);
        if (step.rewrite === false) t.same(step.to, { ...layer, mediaType: want.keep }, `${name}: as ${want.keep}`);
        t.same(plan.rewrites, []);
      } else {
        t.equal(step.rewrite, 'gzip', `${name}: gzipped`);
        if (step.rewrite === 'gzip') t.equal(step.mediaType, want.gzip);
        t.same(plan.rewrites, [step]);
      }
      t.equal(plan.changed, from !== format || 'gzip' in want, `${name} from ${from}: changed`);
    }
  }
});

t.test('planConversion: a named image gets the zstd foreign layer error naming the layer', async (t) => {
  const src = source('oci', [
    { mediaType: MediaType.ociLayerGzip, digest: d('1'), size: 1 },
    { mediaType: MediaType.ociLayerNonDistributableZstd, digest: d('2'), size: 1 },
  ]);
  t.throws(() => planConversion(src, 'docker', { plainLayers: false, name: 'oci:/x' }), {
    code: 'ERR_FORMAT_UNSUPPORTED',
    message: 'layer 1 of oci:/x is a zstd foreign layer, which has no Docker form',
  });
  t.throws(() => planConversion({ ...src, manifest: { ...src.manifest, config: { mediaType: 'application/vnd.example+json', digest: d('c'), size: 1 } } }, 'oci', { plainLayers: false }), {
    code: 'ERR_FORMAT_UNSUPPORTED',
  });
});

const gz = MediaType.ociLayerGzip;
const annotated = source(
  'oci',
  [
    { mediaType: gz, digest: d('1'), size: 100, annotations: { z: '1', a: '2' }, urls: ['https://example.com/x'] },
    { mediaType: MediaType.ociLayerZstd, digest: d('2'), size: 200 },
    { mediaType: MediaType.ociLayerNonDistributableGzip, digest: d('3'), size: 300, urls: ['https://example.com/foreign'] },
  ],
  { annotations: { 'org.example': 'v' }, subject: { mediaType: MediaType.ociManifest, digest: d('9'), size: 1 } },
);

t.test('convert: unchanged keeps the original bytes; changed builds the manifest in the format (pinned)', async (t) => {
  const same = planConversion(annotated, 'oci', { plainLayers: false });
  t.same(same.notices, [], 'nothing dropped when nothing changes');
  const kept = convert(annotated, same, new Map());
  t.equal(kept.changed, false);
  t.equal(kept.bytes, annotated.bytes, 'the same buffer');
  t.equal(kept.digest, sha256Digest(annotated.bytes));

  const toDocker = planConversion(annotated, 'docker', { plainLayers: false });
  t.same(toDocker.rewrites.map((s) => s.index), [1], 'only the zstd layer is rewritten');
  t.same(toDocker.notices, ['the Docker format has no manifest annotations, layer annotations, subject: dropped']);
  t.throws(() => convert(annotated, toDocker, new Map()), /layer 1 .* was to be gzipped first/, 'a skipped rewrite is a bug');
  const out = convert(annotated, toDocker, new Map([[1, { digest: d('4'), size: 150 }]]));
  t.equal(out.changed, true);
  t.equal(out.mediaType, MediaType.dockerManifest);
  t.equal(
    out.bytes.toString(),
    `{"schemaVersion":2,"mediaType":"${MediaType.dockerManifest}","config":{"mediaType":"${MediaType.dockerConfig}","digest":"${d('c')}","size":10},` +
      `"layers":[{"mediaType":"${MediaType.dockerLayerGzip}","digest":"${d('1')}","size":100},` +
      `{"mediaType":"${MediaType.dockerLayerGzip}","digest":"${d('4')}","size":150},` +
      `{"mediaType":"${MediaType.dockerForeignLayerGzip}","digest":"${d('3')}","size":300,"urls":["https://example.com/foreign"]}]}`,
  );
  t.equal(out.digest, sha256Digest(out.bytes));
  t.same(out.layers.map((l) => l.digest), [d('1'), d('4'), d('3')]);

  // OCI with a rewritten plain layer: annotations (sorted) and urls kept, the subject dropped and said so.
  const plain = source('oci', [{ mediaType: MediaType.ociLayer, digest: d('5'), size: 9, annotations: { b: '1', a: '0' } }], {
    annotations: { y: '2', x: '1' },
    subject: { mediaType: MediaType.ociManifest, digest: d('9'), size: 1 },
  });
  const p = planConversion(plain, 'oci', { plainLayers: true });
  t.same(p.notices, ['subject/artifactType dropped by the conversion']);
  const o = convert(plain, p, new Map([[0, { digest: d('6'), size: 7 }]]));
  t.equal(
    o.bytes.toString(),
    `{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","config":{"mediaType":"${MediaType.ociConfig}","digest":"${d('c')}","size":10},` +
      `"layers":[{"mediaType":"${MediaType.ociLayerGzip}","digest":"${d('6')}","size":7}],"annotations":{"x":"1","y":"2"}}`,
    'a rewritten blob is a new descriptor: the old layer annotations do not follow it',
  );
});

t.test('planIndex and convertIndex: attestations out of Docker lists, bytes kept when nothing changes', async (t) => {
  const amd: Descriptor = { mediaType: MediaType.ociManifest, digest: d('a'), size: 11, platform: { os: 'linux', architecture: 'amd64' }, annotations: { k: 'v' } };
  const att: Descriptor = { mediaType: MediaType.ociManifest, digest: d('b'), size: 12, platform: { os: 'unknown', architecture: 'unknown' } };
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [amd, att], annotations: { i: 'j' } };
  const src = { bytes: Buffer.from(JSON.stringify(index)), mediaType: MediaType.ociIndex, format: 'oci' as const, index };

  t.same(planIndex(index, 'oci'), { entries: [amd, att], notices: [] });
  const same = (e: Descriptor) => ({ entry: e, manifest: { bytes: Buffer.alloc(e.size), mediaType: e.mediaType, digest: e.digest, changed: false } });
  const kept = convertIndex(src, 'oci', [same(amd), same(att)]);
  t.equal(kept.bytes, src.bytes, 'unchanged: the original bytes');
  t.same(kept.notices, []);

  const docker = planIndex(index, 'docker');
  t.same(docker.entries, [amd]);
  t.same(docker.notices, [`index entry ${d('b')} is an attestation, which a Docker manifest list cannot hold: dropped`]);
  const child = { entry: amd, manifest: { bytes: Buffer.from('{}'), mediaType: MediaType.dockerManifest, digest: d('e'), changed: true } };
  const list = convertIndex(src, 'docker', [child]);
  t.equal(list.mediaType, MediaType.dockerList);
  t.same(list.notices, ['a Docker manifest list has no annotations: dropped']);
  t.equal(
    list.bytes.toString(),
    `{"schemaVersion":2,"mediaType":"${MediaType.dockerList}","manifests":[{"mediaType":"${MediaType.dockerManifest}","digest":"${d('e')}","size":2,"platform":{"os":"linux","architecture":"amd64"}}]}`,
  );
  const dropped = convertIndex(src, 'oci', [same(amd)]);
  t.equal(
    dropped.bytes.toString(),
    `{"schemaVersion":2,"mediaType":"${MediaType.ociIndex}","manifests":[{"mediaType":"${MediaType.ociManifest}","digest":"${d('a')}","size":11,"platform":{"os":"linux","architecture":"amd64"},"annotations":{"k":"v"}}],"annotations":{"i":"j"}}`,
    'an entry fewer: rebuilt, OCI annotations kept',
  );
});
