// The one writer (transport/write-image.ts) over an in-memory ImageDestination: what it skips, mounts and
// uploads, that an upload cut short resumes from its offset, that the manifest and commit come only after every
// blob, and that a failed blob or an abort leaves no manifest, no tag and no commit.
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ProgressEvent } from '../../src/events.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import type { ImageDestination, TransportName } from '../../src/transport/types.js';
import { writeImage, type WriteBlob, type WriteOptions } from '../../src/transport/write-image.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const desc = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

/** An in-memory destination; `log` records every call in order. `cutAt` makes the first upload of a blob stop after that many bytes. */
class FakeDestination implements ImageDestination {
  readonly name = 'fake';
  readonly accepts = ['oci' as const, 'docker' as const];
  readonly acceptsIndex = true;
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  readonly log: string[] = [];
  committed = false;
  registry?: { host: string; repository: string };
  mountable = new Set<string>();
  cutAt = new Map<string, number>();
  failOn = new Set<string>();
  /** Blobs another write is uploading: this one's push waits for it and says 'shared' (sync's shared uploads). */
  sharedWith = new Set<string>();
  offsets: number[] = [];
  constructor(
    readonly transport: TransportName,
    readonly tag?: string,
  ) {}
  async blobExists(d: Descriptor): Promise<boolean> {
    this.log.push(`exists ${d.digest}`);
    return this.blobs.has(d.digest);
  }
  async pushBlob(d: Descriptor, open: (offset: number) => Readable | Promise<Readable>): Promise<void | 'shared'> {
    this.log.push(`push ${d.digest}`);
    if (this.failOn.has(d.digest)) throw new Error(`upload of ${d.digest} failed`);
    if (this.sharedWith.has(d.digest)) return 'shared';
    let have: Buffer = Buffer.alloc(0);
    const cut = this.cutAt.get(d.digest);
    if (cut !== undefined) {
      this.offsets.push(0);
      have = (await readAll(await open(0))).subarray(0, cut);
    }
    this.offsets.push(have.length);
    const rest = await readAll(await open(have.length));
    const all = Buffer.concat([have, rest]);
    if (sha(all) !== d.digest) throw new Error(`digest mismatch for ${d.digest}`);
    this.blobs.set(d.digest, all);
  }
  async pushManifest(ref: string, bytes: Buffer, _mediaType: string): Promise<string> {
    this.log.push(`manifest ${ref}`);
    this.manifests.set(ref, bytes);
    return sha(bytes);
  }
  async commit(): Promise<void> {
    this.log.push('commit');
    this.committed = true;
  }
  async close(): Promise<void> {}
}

class FakeRegistryDestination extends FakeDestination {
  async mountBlob(d: Descriptor, from: string): Promise<boolean> {
    this.log.push(`mount ${d.digest} from ${from}`);
    if (!this.mountable.has(d.digest)) return false;
    this.blobs.set(d.digest, Buffer.from('mounted'));
    return true;
  }
}

const a = Buffer.from('layer a '.repeat(100));
const b = Buffer.from('layer b '.repeat(100));
const c = Buffer.from('{"config":true}');
const manifestBytes = Buffer.from('{"schemaVersion":2}');
const manifest = { bytes: manifestBytes, mediaType: MediaType.ociManifest, digest: sha(manifestBytes) };
const item = (data: Buffer, extra: Partial<WriteBlob> = {}): WriteBlob => ({ descriptor: desc(data), open: (o) => Readable.from([data.subarray(o)]), ...extra });

interface Case {
  name: string;
  dst: () => FakeDestination;
  blobs: WriteBlob[];
  opts?: WriteOptions;
  want: { uploaded: Buffer[]; skipped: Buffer[]; mounted: Buffer[]; offsets?: number[]; events?: string[] };
}

const cases: Case[] = [
  {
    name: 'uploads what the destination lacks, skips what it has (file destination: end and skipped events)',
    dst: () => {
      const d = new FakeDestination('oci', 'v1');
      d.blobs.set(desc(a).digest, a);
      return d;
    },
    blobs: [item(a), item(b), item(c)],
    opts: { concurrency: 1 },
    want: { uploaded: [b, c], skipped: [a], mounted: [], events: [`skipped ${desc(a).digest}`, `end ${desc(b).digest}`, `end ${desc(c).digest}`] },
  },
  {
    name: 'mounts the source\'s blobs from another repository of the same registry; the rest is uploaded',
    dst: () => {
      const d = new FakeRegistryDestination('docker', 'v1');
      d.registry = { host: 'reg.test', repository: 'team/app' };
      d.mountable.add(desc(a).digest);
      return d;
    },
    blobs: [item(a, { mountable: true }), item(b, { mountable: true }), item(c)],
    opts: { mountFrom: { host: 'reg.test', repository: 'team/base' }, concurrency: 1 },
    // registry destinations report their own uploads and mounts: no events from the writer
    want: { uploaded: [b, c], skipped: [], mounted: [a], events: [] },
  },
  {
    name: 'no mount from another registry or the same repository',
    dst: () => {
      const d = new FakeRegistryDestination('docker', 'v1');
      d.registry = { host: 'reg.test', repository: 'team/app' };
      d.mountable.add(desc(a).digest);
      return d;
    },
    blobs: [item(a, { mountable: true })],
    opts: { mountFrom: { host: 'other.test', repository: 'team/base' } },
    want: { uploaded: [a], skipped: [], mounted: [] },
  },
  {
    name: 'a blob another write was already uploading is counted as there, not as sent again (file destination: a skipped event)',
    dst: () => {
      const d = new FakeDestination('oci', 'v1');
      d.sharedWith.add(desc(a).digest);
      return d;
    },
    blobs: [item(a), item(b)],
    opts: { concurrency: 1 },
    want: { uploaded: [b], skipped: [a], mounted: [], events: [`skipped ${desc(a).digest}`, `end ${desc(b).digest}`] },
  },
  {
    name: 'an upload cut short resumes from its offset',
    dst: () => {
      const d = new FakeDestination('oci');
      d.cutAt.set(desc(a).digest, 123);
      return d;
    },
    blobs: [item(a)],
    want: { uploaded: [a], skipped: [], mounted: [], offsets: [0, 123] },
  },
  {
    name: 'uploadFirst does not ask the destination; a skip is logged and nothing written; duplicates go once',
    dst: () => {
      const d = new FakeDestination('oci');
      d.blobs.set(desc(a).digest, a);
      return d;
    },
    blobs: [item(a, { uploadFirst: async () => true }), item(b, { skip: 'foreign layer not copied' }), item(c), item(c)],
    opts: { concurrency: 1 },
    want: { uploaded: [a, c], skipped: [], mounted: [], events: [`end ${desc(a).digest}`, 'log foreign layer not copied', `end ${desc(c).digest}`] },
  },
  {
    name: 'locate picks where the bytes come from only when an upload is needed',
    dst: () => new FakeDestination('oci'),
    blobs: [item(a, { open: () => Promise.reject(new Error('not this one')), locate: async () => (o: number) => Readable.from([a.subarray(o)]) })],
    want: { uploaded: [a], skipped: [], mounted: [] },
  },
];

for (const tc of cases) {
  t.test(tc.name, async (t) => {
    const dst = tc.dst();
    const events: string[] = [];
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'blob') events.push(`${e.state} ${e.digest}`);
      else if (e.type === 'log') events.push(`log ${e.message}`);
    };
    const stats = await writeImage(dst, { blobs: tc.blobs, manifest }, { ...tc.opts, onProgress });
    t.same(stats.uploaded, tc.want.uploaded.map((x) => desc(x).digest), 'uploaded');
    t.same(stats.skipped, tc.want.skipped.map((x) => desc(x).digest), 'skipped');
    t.same(stats.mounted, tc.want.mounted.map((x) => desc(x).digest), 'mounted');
    t.equal(stats.uploadedBytes, tc.want.uploaded.reduce((n, x) => n + x.length, 0), 'uploadedBytes: only what this write sent');
    for (const x of tc.want.uploaded) t.same(dst.blobs.get(desc(x).digest), x, 'uploaded bytes intact');
    if (tc.want.offsets) t.same(dst.offsets, tc.want.offsets, 'resumed at the offset');
    if (tc.want.events) t.same(events, tc.want.events, 'progress events');
    t.equal(stats.digest, manifest.digest);
    // the manifest after every blob, under the tag when there is one, then commit
    const m = dst.log.findIndex((l) => l.startsWith('manifest'));
    t.equal(m, dst.log.length - 2, 'manifest written last');
    t.equal(dst.log.at(-1), 'commit');
    t.ok(dst.manifests.has(dst.tag ?? manifest.digest));
  });
}

t.test('children by digest before the top manifest under the tag', async (t) => {
  const dst = new FakeDestination('oci', 'multi');
  const child = { bytes: Buffer.from('child'), mediaType: MediaType.ociManifest, digest: sha('child') };
  await writeImage(dst, { blobs: [item(a)], children: [child], manifest });
  t.same(dst.log.slice(-3), [`manifest ${child.digest}`, 'manifest multi', 'commit']);
});

t.test('a failed blob leaves no manifest, no tag, no commit', async (t) => {
  const dst = new FakeDestination('oci', 'v1');
  dst.failOn.add(desc(b).digest);
  await t.rejects(writeImage(dst, { blobs: [item(a), item(b), item(c)], manifest }, { concurrency: 2 }), { message: /upload of .* failed/ });
  t.equal(dst.manifests.size, 0);
  t.notOk(dst.committed);
  t.notOk(dst.log.some((l) => l.startsWith('manifest')));
});

t.test('a locate that throws (a blob found nowhere) leaves no manifest', async (t) => {
  const dst = new FakeDestination('oci', 'v1');
  const missing = new Error('blob missing');
  await t.rejects(writeImage(dst, { blobs: [item(a, { locate: () => Promise.reject(missing) })], manifest }), missing);
  t.equal(dst.manifests.size, 0);
  t.notOk(dst.committed);
});

t.test('beforeManifest can still refuse: nothing published', async (t) => {
  const dst = new FakeDestination('oci', 'v1');
  const gone = new Error('parent gone');
  await t.rejects(writeImage(dst, { blobs: [item(a)], manifest }, { beforeManifest: () => { throw gone; } }), gone);
  t.ok(dst.blobs.has(desc(a).digest));
  t.equal(dst.manifests.size, 0);
  t.notOk(dst.committed);
});

t.test('abort: no new blob starts, no manifest', async (t) => {
  const dst = new FakeDestination('oci', 'v1');
  const ctl = new AbortController();
  const reason = new Error('interrupted');
  const first = item(a, {
    open: (o) => {
      ctl.abort(reason);
      return Readable.from([a.subarray(o)]);
    },
  });
  await t.rejects(writeImage(dst, { blobs: [first, item(b), item(c)], manifest }, { concurrency: 1, signal: ctl.signal }), reason);
  t.notOk(dst.blobs.has(desc(b).digest), 'no blob started after the abort');
  t.equal(dst.manifests.size, 0);
  t.notOk(dst.committed);
});
