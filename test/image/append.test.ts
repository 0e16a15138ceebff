// `append(image, layer, configEdits)` (image/append.ts), the commit of every `build`: the config and manifest bytes
// are pinned, since a change there changes the digest of every image built.
import t from 'tap';
import { append } from '../../src/image/append.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, ImageConfig, ImageFormat } from '../../src/oci/types.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2020-01-01T00:00:00Z',
  config: { User: '1001', Env: ['PATH=/bin'], Cmd: ['/old'], Labels: { a: '1' } },
  rootfs: { type: 'layers', diff_ids: [d('a')] },
  history: [{ created: '2020-01-01T00:00:00Z', created_by: 'base' }],
};
const baseLayers: Descriptor[] = [{ mediaType: MediaType.ociLayerZstd, digest: d('1'), size: 10, annotations: { k: 'v' } }];
const edits = {
  history: { created: '2024-01-01T00:00:00Z', created_by: 'oci-s2i build: /usr/libexec/s2i/assemble', comment: 'c' },
  fields: { Cmd: ['/usr/libexec/s2i/run'], Env: ['PATH=/bin', 'A=b'], Labels: { a: '2', b: '3' } },
};

const wantConfig =
  '{"architecture":"amd64","config":{"Cmd":["/usr/libexec/s2i/run"],"Env":["PATH=/bin","A=b"],"Labels":{"a":"2","b":"3"},"User":"1001"},' +
  '"created":"2024-01-01T00:00:00Z","history":[{"created":"2020-01-01T00:00:00Z","created_by":"base"},' +
  '{"comment":"c","created":"2024-01-01T00:00:00Z","created_by":"oci-s2i build: /usr/libexec/s2i/assemble"}],' +
  `"os":"linux","rootfs":{"diff_ids":["${d('a')}","${d('b')}"],"type":"layers"}}`;

t.test('append: config edits, diffID and history; manifest in the format (bytes pinned)', async (t) => {
  const cases: Array<[ImageFormat, string, Descriptor[]]> = [
    ['oci', MediaType.ociLayerGzip, baseLayers],
    ['docker', MediaType.dockerLayerGzip, [{ mediaType: MediaType.dockerLayerGzip, digest: d('1'), size: 10 }]],
  ];
  for (const [format, layerType, layers] of cases) {
    const before = structuredClone(base);
    const layer = { descriptor: { mediaType: layerType, digest: d('2'), size: 20 }, diffID: d('b') };
    const out = append({ config: base, layers }, layer, edits, format);
    t.same(base, before, `${format}: the base config is not mutated`);
    t.equal(out.configBytes.toString(), wantConfig, `${format}: config bytes`);
    const configType = format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
    t.same(out.configDescriptor, { mediaType: configType, digest: sha256Digest(out.configBytes), size: out.configBytes.length });
    t.same(out.layers, [...layers, layer.descriptor]);
    const l0 = format === 'oci' ? `{"mediaType":"${MediaType.ociLayerZstd}","digest":"${d('1')}","size":10,"annotations":{"k":"v"}}` : `{"mediaType":"${MediaType.dockerLayerGzip}","digest":"${d('1')}","size":10}`;
    t.equal(
      out.manifest.bytes.toString(),
      `{"schemaVersion":2,"mediaType":"${format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest}",` +
        `"config":{"mediaType":"${configType}","digest":"${out.configDescriptor.digest}","size":${out.configBytes.length}},` +
        `"layers":[${l0},{"mediaType":"${layerType}","digest":"${d('2')}","size":20}]}`,
      `${format}: manifest bytes`,
    );
    t.equal(out.manifest.digest, sha256Digest(out.manifest.bytes));
  }
});

t.test('append: without field edits only the layer and history change; a bad diffID is refused', async (t) => {
  const out = append({ config: base, layers: baseLayers }, { descriptor: { mediaType: MediaType.ociLayerGzip, digest: d('2'), size: 1 }, diffID: d('b') }, { history: { created_by: 'x' } }, 'oci');
  t.same(out.config.config, base.config);
  t.equal(out.config.created, base.created, 'no created in the history: the image keeps its own');
  t.same(out.config.history?.at(-1), { created_by: 'x' });
  t.throws(() => append({ config: base, layers: [] }, { descriptor: baseLayers[0]!, diffID: 'sha256:nope' }, { history: {} }, 'oci'), { code: 'ERR_INVALID_DIGEST' });
  t.throws(() => append({ config: base, layers: [] }, { descriptor: { mediaType: MediaType.ociLayerZstd, digest: d('2'), size: 1 }, diffID: d('b') }, { history: {} }, 'docker'), {
    code: 'ERR_FORMAT_UNSUPPORTED',
  });
});

