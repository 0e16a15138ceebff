// Blobs of one image move `concurrency` at a time: the helper never runs more, does run that many, stops
// starting new work after a failure and settles only when the work in flight has; on the real registry the one
// writer (transport/write-image.ts) skips, mounts and uploads an image's blobs with per-blob progress events,
// and the client's single-blob reads give each blob back verified.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { mapLimit } from '../../src/registry/parallel.js';
import type { ProgressEvent } from '../../src/events.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { buildManifest } from '../../src/image/manifest.js';
import { openDestination } from '../../src/transport/open.js';
import { writeImage } from '../../src/transport/write-image.js';
import { startRegistry } from '../helpers/registry.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });

t.test('mapLimit: exactly `limit` in flight, order kept', async (t) => {
  let inFlight = 0;
  let peak = 0;
  // Each task waits until 4 are running at once (a barrier), so reaching 4 is proven, not hoped for.
  let release!: () => void;
  const full = new Promise<void>((r) => (release = r));
  const results = await mapLimit([...Array(10).keys()], 4, async (i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    if (inFlight === 4) release();
    if (i < 4) await full;
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return i * 2;
  });
  t.same(results, [...Array(10).keys()].map((i) => i * 2));
  t.equal(peak, 4);
});

t.test('mapLimit: the first failure stops new work and waits for the rest', async (t) => {
  const started: number[] = [];
  let finished = 0;
  const err = await mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, async (i) => {
    started.push(i);
    if (i === 1) throw new Error('boom');
    await new Promise((r) => setTimeout(r, 5));
    finished++;
  }).catch((e: unknown) => e);
  t.match(err, { message: 'boom' });
  t.ok(started.length <= 3, `started ${started.length} of 8`);
  t.equal(finished, started.length - 1, 'everything started had finished when it rejected');
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await t.rejects(mapLimit([1], 2, async () => 1, { signal: ac.signal }), { message: 'stop' });
  t.same(await mapLimit([], 4, async () => 1), []);
});

t.test('many blobs of one image on the real registry: the one writer skips, mounts and uploads; single-blob reads verify', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const events: ProgressEvent[] = [];
  const onProgress = (e: ProgressEvent): void => void events.push(e);
  const c = new RegistryClient({ onProgress });
  t.teardown(() => c.close());
  const blobs = Array.from({ length: 7 }, (_, i) => randomBytes(50_000 + i));
  const items = blobs.map((b) => ({ descriptor: blob(b), open: () => Readable.from([b]) }));
  // The repositories are seeded blob by blob (the client's single-blob calls).
  const base = c.repository(reg.host, 'par/base');
  for (const i of items.slice(0, 3)) await base.pushBlob(i.descriptor, i.open);
  const app = c.repository(reg.host, 'par/app');
  await app.pushBlob(items[6]!.descriptor, items[6]!.open);

  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: items.map((i) => i.descriptor.digest) } }));
  const config = { mediaType: MediaType.ociConfig, digest: sha(configBytes), size: configBytes.length };
  const manifest = buildManifest('oci', config, items.map((i) => ({ ...i.descriptor, mediaType: MediaType.ociLayerGzip })));
  const dst = await openDestination(`${reg.host}/par/app:v1`, { client: c });
  t.teardown(() => dst.close());
  events.length = 0;
  const res = await writeImage(
    dst,
    { blobs: [{ descriptor: config, open: () => Readable.from([configBytes]) }, ...items.map((i) => ({ ...i, mountable: true }))], manifest },
    { mountFrom: { host: reg.host, repository: 'par/base' }, concurrency: 3, onProgress },
  );
  t.same(res.mounted.sort(), items.slice(0, 3).map((i) => i.descriptor.digest).sort(), 'the base layers are mounted');
  t.same(res.skipped, [items[6]!.descriptor.digest], 'what the repository has is skipped');
  t.same(res.uploaded.sort(), [config.digest, ...items.slice(3, 6).map((i) => i.descriptor.digest)].sort());
  t.equal((await app.resolve('v1')).descriptor.digest, manifest.digest, 'the manifest last, under the tag');
  const blobEvents = events.filter((e): e is Extract<ProgressEvent, { type: 'blob' }> => e.type === 'blob');
  for (const i of items.slice(3, 6)) {
    const mine = blobEvents.filter((e) => e.digest === i.descriptor.digest).map((e) => e.state);
    t.equal(mine[0], 'start');
    t.equal(mine.at(-1), 'end');
  }
  t.ok(blobEvents.some((e) => e.state === 'mounted'));
  t.ok(blobEvents.some((e) => e.state === 'skipped'));

  const got = new Map<string, Buffer>();
  await mapLimit(items, 3, async ({ descriptor: d }) => {
    const parts: Buffer[] = [];
    for await (const chunk of await app.fetchBlob(d)) parts.push(chunk as Buffer);
    got.set(d.digest, Buffer.concat(parts));
  });
  t.equal(got.size, 7);
  for (const b of blobs) t.ok(got.get(sha(b))?.equals(b));
  await t.rejects(app.fetchBlob(blob(Buffer.from('missing'))), { code: 'ERR_BLOB_UNKNOWN' });

  const ordered = await mapLimit(items, 3, async (i) => i.descriptor.size);
  t.same(ordered, blobs.map((b) => b.length), 'mapLimit keeps order');
});
