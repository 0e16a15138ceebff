// The one resolve (transport/resolve-image.ts), table-driven over an in-memory ImageSource: a top manifest, an
// OCI index, a Docker manifest list, an OCI manifest without its mediaType field, layers and diff_ids that
// disagree, a platform the index lacks, an index inside an index, a config too large to read, and a top the
// caller already resolved. The transports themselves are tested with real files and registries elsewhere; this
// is what every command shares on top of them.
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Digest } from '../../src/oci/digest.js';
import { MAX_CONFIG_BYTES } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { LayerCountError, type ResolvedImage } from '../../src/image/image.js';
import { NestedIndexError, resolveEntry, resolveImage, resolveTop } from '../../src/transport/resolve-image.js';
import type { ImageSource } from '../../src/transport/types.js';
import { exitOf, exitOfSync } from '../helpers/exit-code.js';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const desc = (mediaType: string, b: Buffer, platform?: Platform): Descriptor => ({
  mediaType,
  digest: sha256Digest(b),
  size: b.length,
  ...(platform ? { platform } : {}),
});

/** A source over a map of blobs; counts what it was asked for. */
class MemorySource implements ImageSource {
  readonly transport = 'oci' as const;
  readonly blobs = new Map<string, Buffer>();
  readonly asked: string[] = [];
  constructor(
    readonly name: string,
    private readonly top: { mediaType: string; bytes: Buffer },
  ) {}
  add(b: Buffer): string {
    const d = sha256Digest(b);
    this.blobs.set(d, b);
    return d;
  }
  async resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    this.asked.push('resolve');
    return { descriptor: { mediaType: this.top.mediaType, digest: sha256Digest(this.top.bytes), size: this.top.bytes.length }, bytes: this.top.bytes };
  }
  private get(d: Descriptor): Buffer {
    const b = this.blobs.get(d.digest);
    if (!b) throw Object.assign(new Error(`no ${d.digest}`), { code: 'ERR_BLOB_UNKNOWN' });
    return b;
  }
  async fetchManifest(d: Descriptor): Promise<Buffer> {
    this.asked.push(`manifest ${d.digest}`);
    return this.get(d);
  }
  async fetchBlob(d: Descriptor): Promise<Readable> {
    this.asked.push(`blob ${d.digest}`);
    return Readable.from([this.get(d)]);
  }
  async close(): Promise<void> {}
}

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const layerA = Buffer.from('layer a bytes');
const layerB = Buffer.from('layer b bytes');

interface Image {
  manifest: Buffer;
  config: Buffer;
  diffIDs: string[];
}

/** A manifest of `format` over two layers; `diffIDs` lets a case make the config disagree. */
function image(format: 'oci' | 'docker', arch: string, opts: { diffIDs?: string[]; mediaTypeField?: boolean; configSize?: number } = {}): Image {
  const diffIDs = opts.diffIDs ?? [sha256Digest(Buffer.from(`diff a ${arch}`)), sha256Digest(Buffer.from(`diff b ${arch}`))];
  const config = json({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIDs } });
  const oci = format === 'oci';
  const layerType = oci ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip;
  const configDesc = desc(oci ? MediaType.ociConfig : MediaType.dockerConfig, config);
  if (opts.configSize !== undefined) configDesc.size = opts.configSize;
  const manifest = json({
    schemaVersion: 2,
    ...(opts.mediaTypeField === false ? {} : { mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest }),
    config: configDesc,
    layers: [desc(layerType, layerA), desc(layerType, layerB)],
  });
  return { manifest, config, diffIDs };
}

function sourceOf(name: string, topType: string, top: Buffer, images: Image[]): MemorySource {
  const s = new MemorySource(name, { mediaType: topType, bytes: top });
  for (const i of images) {
    s.add(i.manifest);
    s.add(i.config);
  }
  s.add(layerA);
  s.add(layerB);
  return s;
}

function indexOf(mediaType: string, entries: Array<{ type: string; bytes: Buffer; platform?: Platform }>): Buffer {
  return json({ schemaVersion: 2, mediaType, manifests: entries.map((e) => desc(e.type, e.bytes, e.platform)) });
}

interface Case {
  name: string;
  source: () => { src: MemorySource; chosen: Image };
  platform?: Platform;
  /** What resolveImage must give. */
  want?: { format: 'oci' | 'docker'; mediaType: string; indexType?: string };
  /** Or the error resolveImage must throw. */
  throws?: { code: string; [k: string]: unknown };
  /** Or the error image.layers() must throw (the resolve itself succeeds). */
  layersThrow?: { code: string; [k: string]: unknown };
}

const cases: Case[] = [
  {
    name: 'an OCI manifest',
    source: () => {
      const i = image('oci', 'amd64');
      return { src: sourceOf('oci:img', MediaType.ociManifest, i.manifest, [i]), chosen: i };
    },
    want: { format: 'oci', mediaType: MediaType.ociManifest },
  },
  {
    name: 'an OCI manifest without mediaType, served without a type',
    source: () => {
      const i = image('oci', 'amd64', { mediaTypeField: false });
      return { src: sourceOf('oci:bare', '', i.manifest, [i]), chosen: i };
    },
    want: { format: 'oci', mediaType: MediaType.ociManifest },
  },
  {
    name: 'a Docker manifest',
    source: () => {
      const i = image('docker', 'amd64');
      return { src: sourceOf('docker-archive:a.tar', MediaType.dockerManifest, i.manifest, [i]), chosen: i };
    },
    want: { format: 'docker', mediaType: MediaType.dockerManifest },
  },
  {
    name: 'an OCI index: the platform asked for',
    platform: arm64,
    source: () => {
      const a = image('oci', 'amd64');
      const b = image('oci', 'arm64');
      const top = indexOf(MediaType.ociIndex, [
        { type: MediaType.ociManifest, bytes: a.manifest, platform: amd64 },
        { type: MediaType.ociManifest, bytes: b.manifest, platform: arm64 },
      ]);
      return { src: sourceOf('oci:multi', MediaType.ociIndex, top, [a, b]), chosen: b };
    },
    want: { format: 'oci', mediaType: MediaType.ociManifest, indexType: MediaType.ociIndex },
  },
  {
    name: 'a Docker manifest list: linux/amd64',
    platform: amd64,
    source: () => {
      const a = image('docker', 'amd64');
      const b = image('docker', 'arm64');
      const top = indexOf(MediaType.dockerList, [
        { type: MediaType.dockerManifest, bytes: b.manifest, platform: arm64 },
        { type: MediaType.dockerManifest, bytes: a.manifest, platform: amd64 },
      ]);
      return { src: sourceOf('docker://r/list:1', MediaType.dockerList, top, [a, b]), chosen: a };
    },
    want: { format: 'docker', mediaType: MediaType.dockerManifest, indexType: MediaType.dockerList },
  },
  {
    name: 'a platform the index lacks',
    platform: { os: 'linux', architecture: 's390x' },
    source: () => {
      const a = image('oci', 'amd64');
      const top = indexOf(MediaType.ociIndex, [{ type: MediaType.ociManifest, bytes: a.manifest, platform: amd64 }]);
      return { src: sourceOf('oci:one', MediaType.ociIndex, top, [a]), chosen: a };
    },
    throws: { code: 'ERR_PLATFORM_NOT_FOUND', exitCode: 2, message: 'the image has no linux/s390x variant; available: linux/amd64; choose one with --platform' },
  },
  {
    name: 'an index inside an index',
    platform: amd64,
    source: () => {
      const a = image('oci', 'amd64');
      const inner = indexOf(MediaType.ociIndex, [{ type: MediaType.ociManifest, bytes: a.manifest, platform: amd64 }]);
      const top = indexOf(MediaType.ociIndex, [{ type: MediaType.ociIndex, bytes: inner, platform: amd64 }]);
      const src = sourceOf('oci:nested', MediaType.ociIndex, top, [a]);
      src.add(inner);
      return { src, chosen: a };
    },
    throws: { constructor: NestedIndexError, code: 'ERR_MANIFEST_INVALID', exitCode: 1, message: 'the linux/amd64 entry of oci:nested is another index: nested indexes are not supported' },
  },
  {
    name: 'fewer diff_ids than layers',
    source: () => {
      const i = image('docker', 'amd64', { diffIDs: [sha256Digest(Buffer.from('only one'))] });
      return { src: sourceOf('r/inconsistent:1', MediaType.dockerManifest, i.manifest, [i]), chosen: i };
    },
    want: { format: 'docker', mediaType: MediaType.dockerManifest },
    layersThrow: { constructor: LayerCountError, code: 'ERR_CONFIG_INVALID', exitCode: 1, message: 'image r/inconsistent:1 is inconsistent: 2 layers but 1 diff_ids in its config; rebuild or re-push it' },
  },
  {
    name: 'more diff_ids than layers',
    source: () => {
      const ids = ['x', 'y', 'z'].map((c) => sha256Digest(Buffer.from(c)));
      const i = image('oci', 'amd64', { diffIDs: ids });
      return { src: sourceOf('oci:three', MediaType.ociManifest, i.manifest, [i]), chosen: i };
    },
    want: { format: 'oci', mediaType: MediaType.ociManifest },
    layersThrow: { code: 'ERR_CONFIG_INVALID', message: /2 layers but 3 diff_ids/ },
  },
  {
    name: 'a config descriptor over the limit',
    source: () => {
      const i = image('oci', 'amd64', { configSize: MAX_CONFIG_BYTES + 1 });
      return { src: sourceOf('oci:huge', MediaType.ociManifest, i.manifest, [i]), chosen: i };
    },
    throws: { code: 'ERR_BLOB_TOO_LARGE', message: /^the config of oci:huge \(sha256:[0-9a-f]{64}\) is 4194305 bytes, over the 4194304-byte limit/ },
  },
];

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { src, chosen } = c.source();
    const opts = c.platform ? { platform: c.platform } : {};
    if (c.throws) {
      await t.rejects(exitOf(resolveImage(src, opts)), c.throws);
      if (c.throws.code === 'ERR_BLOB_TOO_LARGE') t.notOk(src.asked.some((a) => a.startsWith('blob')), 'nothing read');
      return;
    }
    const img: ResolvedImage = await resolveImage(src, opts);
    t.equal(img.name, src.name);
    t.equal(img.descriptor.digest, sha256Digest(chosen.manifest), 'the chosen manifest');
    t.same(img.descriptor, { mediaType: c.want!.mediaType, digest: sha256Digest(chosen.manifest), size: chosen.manifest.length });
    t.equal(img.manifest.mediaType, c.want!.mediaType);
    t.equal(img.manifest.format, c.want!.format);
    t.ok(img.manifest.bytes.equals(chosen.manifest), 'manifest bytes as served');
    t.ok(img.config.bytes.equals(chosen.config), 'config bytes as served');
    t.equal(img.config.descriptor.digest, sha256Digest(chosen.config));
    t.same(img.config.config.rootfs.diff_ids, chosen.diffIDs);
    if (c.want!.indexType) {
      t.equal(img.index?.mediaType, c.want!.indexType);
      t.equal(img.index?.chosen.digest, img.descriptor.digest);
      t.same(img.index?.chosen.platform, c.platform);
    } else {
      t.equal(img.index, undefined, 'no index');
    }
    if (c.layersThrow) {
      t.throws(exitOfSync(() => img.layers()), c.layersThrow);
      return;
    }
    const layers = img.layers();
    t.same(
      layers.map((l) => [l.descriptor.digest, l.diffID]),
      [
        [sha256Digest(layerA), chosen.diffIDs[0]],
        [sha256Digest(layerB), chosen.diffIDs[1]],
      ],
    );
    t.equal((await readAll(await layers[0]!.open())).toString(), 'layer a bytes');
    t.equal((await readAll(await layers[1]!.open(6))).toString(), 'b bytes', 'open(offset) resumes');
    t.equal(src.asked.filter((a) => a === 'resolve').length, 1, 'the source resolved once');
  });
}

t.test('a top the caller resolved is not asked for again', async (t) => {
  const i = image('oci', 'amd64');
  const src = sourceOf('oci:once', '', i.manifest, [i]);
  const top = await resolveTop(src);
  t.same(top.descriptor, { mediaType: MediaType.ociManifest, digest: sha256Digest(i.manifest), size: i.manifest.length }, 'the parsed media type');
  const img = await resolveImage(src, { top });
  t.equal(img.descriptor.digest, top.descriptor.digest);
  t.same(src.asked.filter((a) => a === 'resolve'), ['resolve']);
});

t.test('resolveEntry: one index entry; a nested one is named by its digest when it has no platform', async (t) => {
  const a = image('oci', 'amd64');
  const inner = indexOf(MediaType.ociIndex, [{ type: MediaType.ociManifest, bytes: a.manifest, platform: amd64 }]);
  const src = sourceOf('oci:walk', MediaType.ociIndex, inner, [a]);
  src.add(inner);
  const img = await resolveEntry(src, desc(MediaType.ociManifest, a.manifest, amd64));
  t.equal(img.descriptor.digest, sha256Digest(a.manifest));
  t.equal(img.index, undefined);
  t.equal(img.layers().length, 2);
  await t.rejects(resolveEntry(src, desc(MediaType.ociIndex, inner)), {
    constructor: NestedIndexError,
    message: `the ${sha256Digest(inner)} entry of oci:walk is another index: nested indexes are not supported`,
  });
});
