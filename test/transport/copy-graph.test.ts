// copyImage and writeImage (the one copy, the one writer) over the real registry (every request counted by the
// fault proxy) and OCI layouts in temp dirs: every blob arrives and the manifest is written last, a second copy
// uploads nothing, a partial destination gets only what it lacks, a copy within one registry mounts instead of
// moving bytes, a whole index goes with a shared layer once, and an abort, a corrupt source blob or a garbage
// manifest leaves no tag. (These were pinned on the ORAS-shaped Targets before they went; issue 11.)
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import type { ProgressEvent } from '../../src/events.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, type CopyOptions } from '../../src/transport/copy.js';
import { OciLayout } from '../../src/transport/oci-layout.js';
import { openDestination, openSource } from '../../src/transport/open.js';
import type { ImageDestination } from '../../src/transport/types.js';
import { writeImage, type WriteBlob } from '../../src/transport/write-image.js';
import { makeImage, pushFixture, writeLayoutFixture } from './fixtures.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (x: unknown): Buffer => Buffer.from(JSON.stringify(x));

/** A destination that records, in order, every blob and manifest written to `inner` and the commit. */
function recording(inner: ImageDestination, log: string[]): ImageDestination {
  return {
    name: inner.name,
    transport: inner.transport,
    accepts: inner.accepts,
    acceptsIndex: inner.acceptsIndex,
    ...(inner.tag !== undefined ? { tag: inner.tag } : {}),
    blobExists: (d) => inner.blobExists(d),
    pushBlob: async (d, open) => {
      await inner.pushBlob(d, open);
      log.push(`blob ${d.digest}`);
    },
    pushManifest: async (ref, bytes, mediaType) => {
      const digest = await inner.pushManifest(ref, bytes, mediaType);
      log.push(`manifest ${ref}`);
      return digest;
    },
    commit: async () => {
      await inner.commit?.();
      log.push('commit');
    },
    close: () => inner.close(),
  };
}

t.test('copy and write on the production path', async (t) => {
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-copy-graph-'));
  const client = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(async () => {
    await client.close();
    await proxy.stop();
    await reg.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  // Everything registry-side goes through the proxy, so each test can count what travelled.
  const at = (repository: string, tag: string): string => `${proxy.host}/${repository}:${tag}`;
  const repo = (name: string) => client.repository(reg.host, name);
  const layout = (name: string): string => path.join(dir, name);

  async function copy(src: string, dst: string, opts: CopyOptions = {}, wrap?: (d: ImageDestination) => ImageDestination) {
    const s = await openSource(src, { client });
    try {
      const d = await openDestination(dst, { client });
      try {
        return await copyImage(s, wrap ? wrap(d) : d, opts);
      } finally {
        await d.close();
      }
    } finally {
      await s.close();
    }
  }
  function blobEvents(): { events: ProgressEvent[]; onProgress: (e: ProgressEvent) => void; state: (s: string) => string[] } {
    const events: ProgressEvent[] = [];
    return {
      events,
      onProgress: (e) => void events.push(e),
      state: (s) => events.flatMap((e) => (e.type === 'blob' && e.state === s ? [e.digest] : [])).sort(),
    };
  }

  const fixture = await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'oci' });
  await pushFixture(reg.host, 'src/busybox', 'v1', fixture);
  const fixtureBlobs: Descriptor[] = [fixture.configDescriptor, ...fixture.layers.map((l) => l.descriptor)];
  const fixtureManifest: Descriptor = { mediaType: fixture.manifest.mediaType, digest: fixture.manifest.digest, size: fixture.manifest.bytes.length };
  const missingIn = async (l: OciLayout, descs: Descriptor[]): Promise<string[]> => {
    const out: string[] = [];
    for (const d of descs) if (!(await l.has(d))) out.push(d.digest);
    return out;
  };
  const writable = (d: Descriptor, extra: Partial<WriteBlob> = {}): WriteBlob => {
    const b = fixture.blobs.get(d.digest)!;
    return { descriptor: d, open: (o) => (b.file ? createReadStream(b.file, { start: o }) : Readable.from([b.bytes!.subarray(o)])), ...extra };
  };

  t.test('registry → layout: every blob arrives, the manifest last, then the commit; skopeo reads the same bytes', async (t) => {
    const log: string[] = [];
    const r = await copy(at('src/busybox', 'v1'), `oci:${layout('from-registry')}:v1`, {}, (d) => recording(d, log));
    t.equal(r.digest, fixture.manifest.digest, 'an unconverted copy keeps the manifest bytes');
    const l = await OciLayout.openExisting(layout('from-registry'));
    t.equal((await l.find('v1')).digest, fixture.manifest.digest);
    t.same(await missingIn(l, [fixtureManifest, ...fixtureBlobs]), [], 'the layout has every node');
    t.same(log.slice(-2), ['manifest v1', 'commit'], 'the manifest is written after every blob');
    t.equal(log.length, fixtureBlobs.length + 2);
    const s = spawnSync('skopeo', ['inspect', '--raw', `oci:${layout('from-registry')}:v1`], { encoding: 'utf8' });
    t.equal(s.status, 0, s.stderr);
    t.equal(sha(Buffer.from(s.stdout)), fixture.manifest.digest, 'skopeo reads the same manifest bytes');
  });

  t.test('layout → registry, then a second copy uploads nothing', async (t) => {
    proxy.stats.reset();
    await copy(`oci:${layout('from-registry')}:v1`, at('dst/from-layout', 'v2'));
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), fixtureBlobs.length, 'one upload per blob');
    t.equal((await repo('dst/from-layout').resolve('v2')).descriptor.digest, fixture.manifest.digest);

    proxy.stats.reset();
    const ev = blobEvents();
    await copy(`oci:${layout('from-registry')}:v1`, at('dst/from-layout', 'v3'), { onProgress: ev.onProgress });
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), 0, 'no upload started');
    t.equal(proxy.stats.count('PATCH'), 0, 'no bytes uploaded');
    t.same(ev.state('skipped'), fixtureBlobs.map((d) => d.digest).sort(), 'every blob is skipped');
    t.equal((await repo('dst/from-layout').resolve('v3')).descriptor.digest, fixture.manifest.digest, 'and it is tagged');
  });

  t.test('a partial destination gets only what it lacks', async (t) => {
    const l = await OciLayout.openOrCreate(layout('partial'));
    await l.put(fixture.configDescriptor, Readable.from([fixture.config]));
    const ev = blobEvents();
    await copy(at('src/busybox', 'v1'), `oci:${layout('partial')}:v1`, { onProgress: ev.onProgress });
    t.same(ev.state('skipped'), [fixture.configDescriptor.digest]);
    t.same(ev.state('end'), fixture.layers.map((x) => x.descriptor.digest).sort());
    t.same(await missingIn(l, [fixtureManifest, ...fixtureBlobs]), []);
  });

  t.test('registry → registry on one registry mounts every blob: no layer is downloaded or uploaded', async (t) => {
    proxy.stats.reset();
    await copy(at('src/busybox', 'v1'), at('mnt/app', 'latest'));
    t.equal(proxy.stats.count('GET', /\/blobs\/sha256:/), 1, 'only the config was downloaded (the resolve reads it)');
    t.equal(proxy.stats.count('PATCH'), 0, 'no blob bytes were uploaded');
    t.equal(proxy.stats.count('PUT', '/blobs/uploads/'), 0, 'no upload was completed');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), fixtureBlobs.length, 'one mount request per blob');
    for (const d of fixtureBlobs) t.ok(await repo('mnt/app').blobExists(d), `mnt/app has ${d.digest}`);
    t.equal((await repo('mnt/app').resolve('latest')).descriptor.digest, fixture.manifest.digest);
  });

  t.test('a mount the registry refuses falls back to an upload', async (t) => {
    const dst = await openDestination(at('mnt/second', 'latest'), { client });
    t.teardown(() => dst.close());
    const stats = await writeImage(
      dst,
      { blobs: fixtureBlobs.map((d) => writable(d, { mountable: true })), manifest: fixture.manifest },
      { mountFrom: { host: proxy.host, repository: 'nothing/here' } },
    );
    t.same(stats.mounted, [], 'nothing mounted from a repository without the blobs');
    t.same([...stats.uploaded].sort(), fixtureBlobs.map((d) => d.digest).sort(), 'every blob uploaded instead');
    t.equal((await repo('mnt/second').resolve('latest')).descriptor.digest, fixture.manifest.digest);
  });

  t.test('an index with two platforms is copied whole (--all), a shared layer once', async (t) => {
    const src = await OciLayout.openOrCreate(layout('multi-src'));
    const shared = randomBytes(3000);
    const put = async (bytes: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> => ({ ...(await src.putBytes(bytes, mediaType)), ...extra });
    const image = async (platform: Platform, layers: Buffer[]): Promise<{ manifest: Descriptor; blobs: Descriptor[] }> => {
      const config = await put(json({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: layers.map(sha) } }), MediaType.ociConfig);
      const ls: Descriptor[] = [];
      for (const l of layers) ls.push(await put(l, MediaType.ociLayerGzip));
      const manifest = await put(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: ls }), MediaType.ociManifest, { platform });
      return { manifest, blobs: [config, ...ls] };
    };
    const a = await image({ architecture: 'amd64', os: 'linux' }, [shared, randomBytes(2000)]);
    const b = await image({ architecture: 'arm64', os: 'linux' }, [shared, randomBytes(2500)]);
    const index = await put(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [a.manifest, b.manifest] }), MediaType.ociIndex);
    await src.addToIndex(index, 'multi');
    const blobs = [...new Set([...a.blobs, ...b.blobs].map((d) => d.digest))];
    t.equal(blobs.length, 5, 'the shared layer is one blob');

    proxy.stats.reset();
    const r = await copy(`oci:${layout('multi-src')}:multi`, at('multi/app', 'all'), { all: true });
    t.equal(r.digest, index.digest, 'the index is copied unchanged');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), blobs.length, 'each blob uploaded once, the shared layer too');
    t.equal(proxy.stats.count('PUT', '/manifests/'), 3, 'two manifests and the index');
    for (const d of [...a.blobs, ...b.blobs]) t.ok(await repo('multi/app').blobExists(d));

    const back = await copy(at('multi/app', 'all'), `oci:${layout('multi-back')}:all`, { all: true });
    t.equal(back.digest, index.digest);
    const l = await OciLayout.openExisting(layout('multi-back'));
    t.equal((await l.find('all')).digest, index.digest);
    t.same(await missingIn(l, [a.manifest, b.manifest, ...a.blobs, ...b.blobs]), [], 'the layout has every node');
  });

  t.test('concurrency bounds the blobs in flight on a real destination', async (t) => {
    let active = 0;
    let peak = 0;
    const inner = await openDestination(`oci:${layout('bounded')}:x`);
    t.teardown(() => inner.close());
    const counting: ImageDestination = {
      ...recording(inner, []),
      pushBlob: async (d, open) => {
        peak = Math.max(peak, ++active);
        try {
          await new Promise((r) => setTimeout(r, 20));
          await inner.pushBlob(d, open);
        } finally {
          active--;
        }
      },
    };
    await writeImage(counting, { blobs: fixtureBlobs.map((d) => writable(d)), manifest: fixture.manifest }, { concurrency: 2 });
    t.equal(peak, 2, `at most 2 uploads at once, and 2 are used (saw ${peak})`);
  });

  t.test('abort mid-write: the write fails and nothing is tagged', async (t) => {
    for (const [name, where] of [
      ['registry', at('abort/app', 'x')],
      ['layout', `oci:${layout('aborted')}:x`],
    ] as const) {
      const ac = new AbortController();
      const reason = new Error('interrupted');
      let n = 0;
      const blobs = fixtureBlobs.map((d) => {
        const w = writable(d);
        return { ...w, open: (o: number) => (++n === 2 && ac.abort(reason), w.open(o)) };
      });
      const dst = await openDestination(where, { client });
      await t.rejects(writeImage(dst, { blobs, manifest: fixture.manifest }, { concurrency: 1, signal: ac.signal }), reason, `${name}: the write fails as cancelled`);
      await dst.close();
      if (name === 'registry') {
        await t.rejects(repo('abort/app').resolve('x'), { code: 'ERR_MANIFEST_UNKNOWN' }, 'registry: no tag');
      } else {
        t.notOk(existsSync(layout('aborted')), 'layout: closed without a commit, the new layout is gone');
      }
    }
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    const dst = await openDestination(at('abort/early', 'y'), { client });
    t.teardown(() => dst.close());
    await t.rejects(writeImage(dst, { blobs: fixtureBlobs.map((d) => writable(d)), manifest: fixture.manifest }, { signal: ac.signal }), { message: 'stopped' }, 'aborted before it starts');
    for (const d of fixtureBlobs) t.notOk(await repo('abort/early').blobExists(d), 'no blob written');
  });

  t.test('a corrupt source blob fails with ERR_DIGEST_MISMATCH: no tag, the blob and the manifest not stored', async (t) => {
    const bad = layout('corrupt-src');
    const l = await writeLayoutFixture(bad, 'v1', fixture);
    const victim = fixture.layers[0]!.descriptor;
    const bytes = await fs.readFile(l.blobPath(victim.digest));
    bytes[bytes.length >> 1]! ^= 0xff; // same size, different content
    await fs.writeFile(l.blobPath(victim.digest), bytes);
    await t.rejects(copy(`oci:${bad}:v1`, at('corrupt/app', 'x')), { code: 'ERR_DIGEST_MISMATCH' }, 'registry: the copy fails');
    await t.rejects(repo('corrupt/app').resolve('x'), { code: 'ERR_MANIFEST_UNKNOWN' }, 'registry: no tag');
    await t.rejects(repo('corrupt/app').resolve(fixture.manifest.digest), { code: 'ERR_MANIFEST_UNKNOWN' }, 'registry: nor the manifest');
    t.notOk(await repo('corrupt/app').blobExists(victim), 'registry: the corrupt blob was not stored');

    const existing = await OciLayout.openOrCreate(layout('corrupt-dst'));
    await t.rejects(copy(`oci:${bad}:v1`, `oci:${layout('corrupt-dst')}:x`), { code: 'ERR_DIGEST_MISMATCH' }, 'layout: the copy fails');
    await t.rejects(existing.find('x'), { code: 'ERR_TAG_NOT_FOUND' }, 'layout: no tag');
    t.notOk(await existing.has(victim), 'layout: the corrupt blob was not stored');
    t.notOk(await existing.has(fixtureManifest), 'layout: nor the manifest');
  });

  t.test('bad input: unknown references, a garbage manifest', async (t) => {
    await t.rejects(copy(`oci:${layout('from-registry')}:nope`, `oci:${layout('bad-dst')}:x`), { code: 'ERR_TAG_NOT_FOUND' });
    await t.rejects(copy(at('src/busybox', 'nope'), `oci:${layout('bad-dst')}:x`), { code: 'ERR_MANIFEST_UNKNOWN' });
    const garbage = await OciLayout.openOrCreate(layout('garbage-src'));
    const g = await garbage.putBytes(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":7}'), MediaType.ociManifest);
    await garbage.addToIndex(g, 'g');
    const dst = await OciLayout.openOrCreate(layout('bad-dst'));
    await t.rejects(copy(`oci:${layout('garbage-src')}:g`, `oci:${layout('bad-dst')}:g`), { code: 'ERR_MANIFEST_INVALID' });
    await t.rejects(dst.find('g'), { code: 'ERR_TAG_NOT_FOUND' });
  });
});

t.test('OCI layout source and destination refuse bad bytes', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-layout-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const dst = await openDestination(`oci:${path.join(dir, 'l')}:v1`);
  const blob = Buffer.from('four');
  const bd: Descriptor = { mediaType: MediaType.ociLayer, digest: sha(blob), size: blob.length };
  await dst.pushBlob(bd, (o) => Readable.from([blob.subarray(o)]));
  t.ok(await dst.blobExists(bd));
  t.notOk(await dst.blobExists({ ...bd, size: bd.size + 1 }), 'a different size is not the same content');
  const wrong: Descriptor = { mediaType: MediaType.ociLayer, digest: sha(Buffer.from('good')), size: 4 };
  await t.rejects(dst.pushBlob(wrong, () => Readable.from([Buffer.from('evil')])), { code: 'ERR_DIGEST_MISMATCH' });
  t.notOk(await dst.blobExists(wrong), 'nothing stored on a mismatch');
  const index = json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
  await t.rejects(dst.pushManifest(sha(Buffer.from('x')), index, MediaType.ociIndex), { code: 'ERR_DIGEST_MISMATCH' }, 'a manifest under another digest');
  await dst.pushManifest('v1', index, MediaType.ociIndex);
  await dst.commit?.();
  await dst.close();

  const src = await openSource(`oci:${path.join(dir, 'l')}:v1`);
  t.teardown(() => src.close());
  t.same((await src.resolve()).bytes, index, 'by tag');
  await t.rejects(src.fetchBlob({ mediaType: MediaType.ociLayer, digest: sha(Buffer.from('absent')), size: 6 }), { code: 'ERR_BLOB_UNKNOWN' });
  await t.rejects(src.fetchBlob({ ...bd, digest: 'sha256:../../../etc/passwd' }), { code: 'ERR_INVALID_DIGEST' });
  // Corrupt on disk, same size: the stream fails before its end.
  const file = (await OciLayout.openExisting(path.join(dir, 'l'))).blobPath(bd.digest);
  await fs.chmod(file, 0o644);
  await fs.writeFile(file, 'FOUR');
  const read = async (): Promise<void> => {
    for await (const _ of await src.fetchBlob(bd)) void _;
  };
  await t.rejects(read(), { code: 'ERR_DIGEST_MISMATCH' });
  const missing = await openSource(`oci:${path.join(dir, 'l')}:nope`);
  await t.rejects(missing.resolve(), { code: 'ERR_TAG_NOT_FOUND' });
  await missing.close();
});
