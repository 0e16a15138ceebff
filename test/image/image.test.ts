// The image value (image/image.ts), table-driven and without I/O: layers are paired with the config's diff_ids by
// position, a count mismatch is LayerCountError (ERR_CONFIG_INVALID) only when the layers are asked for, and a
// layer's open(offset) reaches the opener with its own descriptor and the offset (0 by default).
import { Readable } from 'node:stream';
import t from 'tap';
import { imageLayers, imageValue, LayerCountError, manifestDocument, type BlobOpener } from '../../src/image/image.js';
import { parseManifestDocument } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../../src/oci/types.js';

const hex = (c: string): string => `sha256:${c.repeat(64)}`;
const layer = (c: string): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: hex(c), size: 10 });
const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: hex('c'), size: 2 };
const manifestOf = (layers: Descriptor[]): ImageManifest => ({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers });
const configOf = (diffIDs: string[]): ImageConfig => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } });

/** An opener that records what it was asked for and gives the request back as the stream's one chunk. */
function recordingOpener(): { open: BlobOpener; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    open: async (d, offset) => {
      asked.push(`${d.digest}@${offset}`);
      return Readable.from([`${d.digest}@${offset}`]);
    },
  };
}

const cases: Array<{ name: string; layers: Descriptor[]; diffIDs: string[]; want: Array<[string, string]> | RegExp }> = [
  { name: 'no layers', layers: [], diffIDs: [], want: [] },
  { name: 'one layer', layers: [layer('a')], diffIDs: [hex('1')], want: [[hex('a'), hex('1')]] },
  { name: 'order kept, position by position', layers: [layer('a'), layer('b'), layer('a')], diffIDs: [hex('1'), hex('2'), hex('1')], want: [[hex('a'), hex('1')], [hex('b'), hex('2')], [hex('a'), hex('1')]] },
  { name: 'more layers than diff_ids', layers: [layer('a'), layer('b')], diffIDs: [hex('1')], want: /2 layers but 1 diff_ids/ },
  { name: 'more diff_ids than layers', layers: [layer('a')], diffIDs: [hex('1'), hex('2')], want: /1 layers but 2 diff_ids/ },
  { name: 'diff_ids but no layers', layers: [], diffIDs: [hex('1')], want: /0 layers but 1 diff_ids/ },
];

for (const c of cases) {
  t.test(`imageLayers: ${c.name}`, async (t) => {
    const { open } = recordingOpener();
    if (c.want instanceof RegExp) {
      const err = (() => {
        try {
          imageLayers('img', manifestOf(c.layers), configOf(c.diffIDs), open);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      t.ok(err instanceof LayerCountError, 'a LayerCountError');
      t.match(err, { code: 'ERR_CONFIG_INVALID', message: c.want });
      t.match(err, { message: /^image img is inconsistent: .*; rebuild or re-push it$/ });
      return;
    }
    const got = imageLayers('img', manifestOf(c.layers), configOf(c.diffIDs), open);
    t.same(got.map((l) => [l.descriptor.digest, l.diffID]), c.want);
  });
}

t.test('a layer opens its own blob, from the offset asked (0 by default)', async (t) => {
  const { open, asked } = recordingOpener();
  const [a, b] = imageLayers('img', manifestOf([layer('a'), layer('b')]), configOf([hex('1'), hex('2')]), open);
  t.same(asked, [], 'nothing is opened until asked');
  const read = async (s: Readable): Promise<string> => {
    let out = '';
    for await (const chunk of s) out += String(chunk);
    return out;
  };
  t.equal(await read(await b!.open(7)), `${hex('b')}@7`);
  t.equal(await read(await a!.open()), `${hex('a')}@0`);
  t.same(asked, [`${hex('b')}@7`, `${hex('a')}@0`]);
});

t.test('imageValue: what the resolve read is kept; layers() checks on each call, not when the value is made', async (t) => {
  const { open } = recordingOpener();
  const parts = {
    name: 'example.com/app:v1',
    descriptor: { mediaType: MediaType.ociManifest, digest: hex('m'), size: 100 },
    manifest: { bytes: Buffer.from('m'), mediaType: MediaType.ociManifest, format: 'oci' as const, manifest: manifestOf([layer('a')]) },
    config: { descriptor: configDesc, bytes: Buffer.from('{}'), config: configOf([]) },
  };
  const image = imageValue(parts, open);
  t.equal(image.name, parts.name);
  t.same(image.descriptor, parts.descriptor);
  t.equal(image.manifest, parts.manifest);
  t.equal(image.config, parts.config);
  t.notOk('index' in image, 'no index when none was named');
  t.throws(() => image.layers(), { code: 'ERR_CONFIG_INVALID', message: /image example\.com\/app:v1 is inconsistent: 1 layers but 0 diff_ids/ });
  t.throws(() => image.layers(), { code: 'ERR_CONFIG_INVALID' }, 'every time it is asked');
  t.ok((() => { try { image.layers(); } catch (e) { return e instanceof LayerCountError; } return false; })(), 'a LayerCountError');

  const ok = imageValue({ ...parts, config: { ...parts.config, config: configOf([hex('1')]) } }, open);
  t.same(ok.layers().map((l) => l.diffID), [hex('1')]);
  t.not(ok.layers(), ok.layers(), 'a fresh list each call (callers may keep or drop it)');
});

t.test('manifestDocument: the chosen manifest as parseManifestDocument gives it', async (t) => {
  const rows: Array<{ name: string; mediaType: string; doc: Record<string, unknown> }> = [
    { name: 'OCI', mediaType: MediaType.ociManifest, doc: manifestOf([layer('a')]) as unknown as Record<string, unknown> },
    { name: 'Docker', mediaType: MediaType.dockerManifest, doc: { schemaVersion: 2, mediaType: MediaType.dockerManifest, config: { ...configDesc, mediaType: MediaType.dockerConfig }, layers: [{ ...layer('b'), mediaType: MediaType.dockerLayerGzip }] } },
    { name: 'OCI without its mediaType field', mediaType: MediaType.ociManifest, doc: { schemaVersion: 2, config: configDesc, layers: [] } },
  ];
  for (const row of rows) {
    const bytes = Buffer.from(JSON.stringify(row.doc));
    const parsed = parseManifestDocument(bytes, row.mediaType);
    if (parsed.kind !== 'manifest') throw new Error('not a manifest');
    const got = manifestDocument({ manifest: { bytes, mediaType: parsed.mediaType, format: parsed.format, manifest: parsed.manifest } });
    t.same(got, parsed, row.name);
  }
});
