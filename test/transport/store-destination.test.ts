// The local blob store as a destination of the one writer (transport/store-destination.ts), over a real BlobStore
// in a temp dir: blobs verified as stored, the manifest tagged in index.json (or stored by digest only), and with a
// layer sink a pushed layer is read ONCE and teed into the store and the sink, each seeing the same bytes; a blob the
// store refuses fails the unpack with the store's error; a sink that needs no bytes (unpacked meanwhile) downloads nothing.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { storeDestination, type LayerSink } from '../../src/transport/store-destination.js';
import { writeImage } from '../../src/transport/write-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-store-dst-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshStore = () => BlobStore.open(path.join(tmp, `s${n++}`));

const blob = (s: string, mediaType: string = MediaType.ociLayerGzip): { bytes: Buffer; desc: Descriptor } => {
  const bytes = Buffer.from(s);
  return { bytes, desc: { mediaType, digest: sha256Digest(bytes), size: bytes.length } };
};
async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

t.test('config, layers and the manifest go in; tagged under the name, or by digest only', async (t) => {
  const config = blob('{"config":1}', MediaType.ociConfig);
  const layer = blob('layer-bytes');
  const manifest = blob('{"manifest":1}', MediaType.ociManifest);
  for (const tag of ['example.com/a:1', undefined]) {
    const store = await freshStore();
    const dst = storeDestination(store, { name: 'store', ...(tag ? { tag } : {}) });
    t.equal(dst.tag, tag);
    const opens: string[] = [];
    const open = (b: { bytes: Buffer; desc: Descriptor }) => (offset: number) => {
      opens.push(b.desc.digest);
      return Readable.from([b.bytes.subarray(offset)]);
    };
    const stats = await writeImage(dst, {
      blobs: [{ descriptor: config.desc, open: open(config) }, { descriptor: layer.desc, open: open(layer) }],
      manifest: { bytes: manifest.bytes, mediaType: MediaType.ociManifest, digest: manifest.desc.digest },
    });
    t.equal(stats.digest, manifest.desc.digest);
    for (const b of [config, layer, manifest]) t.equal((await store.readBytes(b.desc.digest, 1 << 20)).toString(), b.bytes.toString());
    t.same(await store.resolveTag('example.com/a:1'), tag ? { ...manifest.desc, annotations: { 'org.opencontainers.image.ref.name': tag } } : undefined, tag ? 'tagged' : 'by digest: no tag');
    // Again: everything is there, nothing is read.
    opens.length = 0;
    const again = await writeImage(dst, { blobs: [{ descriptor: config.desc, open: open(config) }, { descriptor: layer.desc, open: open(layer) }] });
    t.same(opens, [], 'blobs the store has are not read');
    t.same(again.skipped.sort(), [config.desc.digest, layer.desc.digest].sort());
    t.equal(again.digest, '', 'blobs only: no manifest written');
  }
});

t.test('a blob that does not match its descriptor is refused and not stored', async (t) => {
  const store = await freshStore();
  const good = blob('good');
  await t.rejects(writeImage(storeDestination(store, { name: 'store' }), { blobs: [{ descriptor: good.desc, open: () => Readable.from([Buffer.from('evil')]) }] }), { code: 'ERR_DIGEST_MISMATCH' });
  t.equal(await store.has(good.desc.digest), false);
});

/** A sink that records the bytes it was given (or leaves them unread) and what it was asked. */
function sinkFor(layers: Descriptor[], opts: { have?: Set<string>; read?: boolean; fail?: Error } = {}) {
  const got = new Map<string, Buffer>();
  const asked: string[] = [];
  const sink: LayerSink = {
    digests: new Set(layers.map((l) => l.digest)),
    async have(d) {
      asked.push(d.digest);
      return opts.have?.has(d.digest) ?? false;
    },
    async unpack(d, open) {
      if (opts.read === false) return;
      const all = await readAll(await open());
      if (opts.fail) throw opts.fail;
      got.set(d.digest, all);
    },
  };
  return { sink, got, asked };
}

t.test('layers: one read of the source, the same bytes to the store and the sink', async (t) => {
  const store = await freshStore();
  const a = blob('A'.repeat(300_000));
  const b = blob('B'.repeat(1000));
  const c = blob('C');
  const config = blob('{}', MediaType.ociConfig);
  const { sink, got, asked } = sinkFor([a.desc, b.desc, c.desc], { have: new Set([c.desc.digest]) });
  const reads = new Map<string, number>();
  const open = (x: { bytes: Buffer; desc: Descriptor }) => () => {
    reads.set(x.desc.digest, (reads.get(x.desc.digest) ?? 0) + 1);
    return Readable.from([x.bytes.subarray(0, 100), x.bytes.subarray(100)]);
  };
  await writeImage(storeDestination(store, { name: 'store', layers: sink }), {
    blobs: [config, a, b, c].map((x) => ({ descriptor: x.desc, open: open(x) })),
  });
  t.same([...reads.entries()].sort(), [[a.desc.digest, 1], [b.desc.digest, 1], [config.desc.digest, 1]].sort(), 'each fetched blob read once; the one the sink has, never');
  t.same(asked.sort(), [a.desc.digest, b.desc.digest, c.desc.digest].sort(), 'the sink decides for layers; the config is the store’s');
  t.same(got.get(a.desc.digest), a.bytes, 'the sink got the bytes');
  t.same(got.get(b.desc.digest), b.bytes);
  t.equal(got.has(config.desc.digest), false, 'the config is not a layer');
  t.ok(await store.has(a.desc.digest), 'and the store has them');
  t.ok(await store.has(b.desc.digest));
  t.equal(await store.has(c.desc.digest), false, 'a layer the sink has is not fetched into the store');
});

t.test("layers: the store's refusal is the error; no bytes asked, none fetched; a failed unpack does not stall the store", async (t) => {
  const a = blob('A'.repeat(200_000));
  {
    const store = await freshStore();
    const { sink } = sinkFor([a.desc]);
    const bad = Buffer.from('X'.repeat(a.bytes.length));
    await t.rejects(writeImage(storeDestination(store, { name: 'store', layers: sink }), { blobs: [{ descriptor: a.desc, open: () => Readable.from([bad]) }] }), { code: 'ERR_DIGEST_MISMATCH' });
    t.equal(await store.has(a.desc.digest), false);
  }
  {
    const store = await freshStore();
    const { sink } = sinkFor([a.desc], { read: false });
    let opened = 0;
    await writeImage(storeDestination(store, { name: 'store', layers: sink }), {
      blobs: [{ descriptor: a.desc, open: () => (opened++, Readable.from([a.bytes])) }],
    });
    t.equal(opened, 0, 'a sink that finds the layer unpacked meanwhile asks for no bytes: nothing is downloaded');
    t.equal(await store.has(a.desc.digest), false, 'and nothing stored');
  }
  {
    const store = await freshStore();
    const { sink } = sinkFor([a.desc], { fail: Object.assign(new Error('not a tar'), { code: 'ERR_LAYER_CORRUPT' }) });
    await t.rejects(writeImage(storeDestination(store, { name: 'store', layers: sink }), { blobs: [{ descriptor: a.desc, open: () => Readable.from([a.bytes]) }] }), { code: 'ERR_LAYER_CORRUPT' });
    t.ok(await store.has(a.desc.digest), 'the store write ran to its end (the bytes were good)');
  }
});
