// copy(src, srcRef, dst, dstRef) across the ORAS-shaped Targets: the real registry (requests counted by the
// fault proxy), OCI layouts in temp dirs and the local blob store. Proves leaves-first, skip-existing, mount,
// whole indexes, cancellation and corrupt sources never leave a tag.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { BlobStoreTarget } from '../../src/transport/blob-store-target.js';
import { copy, copyGraph, successors, DEFAULT_COPY_CONCURRENCY } from '../../src/transport/graph-copy.js';
import { OciLayoutTarget } from '../../src/transport/oci-layout-target.js';
import { RegistryTarget } from '../../src/transport/registry-target.js';
import type { Target } from '../../src/transport/roles.js';
import { makeImage, pushFixture } from './fixtures.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (x: unknown): Buffer => Buffer.from(JSON.stringify(x));

async function put(target: Target, bytes: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  const desc: Descriptor = { mediaType, digest: sha(bytes), size: bytes.length, ...extra };
  await target.push(desc, Readable.from([bytes]));
  return desc;
}

/** A small OCI image (config + `layers` random blobs, plus `shared` blobs) written to `target`; returns its manifest descriptor. */
async function smallImage(target: Target, platform: Platform, layers: Buffer[]): Promise<{ manifest: Descriptor; blobs: Descriptor[] }> {
  const config = await put(target, json({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: layers.map(sha) } }), MediaType.ociConfig);
  const ls: Descriptor[] = [];
  for (const l of layers) ls.push(await put(target, l, MediaType.ociLayerGzip));
  const manifest = await put(target, json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: ls }), MediaType.ociManifest, { platform });
  return { manifest, blobs: [config, ...ls] };
}

/** An index of two platforms sharing one layer, tagged `tag` in `target`. */
async function twoPlatformIndex(target: Target, tag: string): Promise<{ index: Descriptor; all: Descriptor[] }> {
  const shared = randomBytes(3000);
  const a = await smallImage(target, { architecture: 'amd64', os: 'linux' }, [shared, randomBytes(2000)]);
  const b = await smallImage(target, { architecture: 'arm64', os: 'linux' }, [shared, randomBytes(2500)]);
  const index = await put(target, json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [a.manifest, b.manifest] }), MediaType.ociIndex);
  await target.tag(index, tag);
  const all = new Map<string, Descriptor>();
  for (const d of [index, a.manifest, b.manifest, ...a.blobs, ...b.blobs]) all.set(d.digest, d);
  return { index, all: [...all.values()] };
}

async function missing(target: Target, descs: Descriptor[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of descs) if (!(await target.exists(d))) out.push(`${d.mediaType} ${d.digest}`);
  return out;
}

t.test('graph copy', async (t) => {
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-graph-copy-'));
  const client = new RegistryClient({ retry: { attempts: 1 } });
  t.teardown(async () => {
    await client.close();
    await proxy.stop();
    await reg.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  // Everything registry-side goes through the proxy, so each test can count what travelled.
  const repo = (name: string): RegistryTarget => new RegistryTarget(client, proxy.host, name);
  const layout = async (name: string): Promise<OciLayoutTarget> => OciLayoutTarget.open(path.join(dir, name));

  const fixture = await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'oci' });
  await pushFixture(reg.host, 'src/busybox', 'v1', fixture);
  const fixtureBlobs: Descriptor[] = [fixture.configDescriptor, ...fixture.layers.map((l) => l.descriptor)];
  const fixtureManifest: Descriptor = { mediaType: fixture.manifest.mediaType, digest: fixture.manifest.digest, size: fixture.manifest.bytes.length };

  t.test('registry → layout: every node arrives, leaves before their manifest; skopeo reads it', async (t) => {
    const dst = await layout('from-registry');
    const order: string[] = [];
    const root = await copy(repo('src/busybox'), 'v1', dst, 'v1', { postCopy: (d) => void order.push(d.digest) });
    t.equal(root.digest, fixture.manifest.digest);
    t.equal((await dst.resolve('v1')).digest, fixture.manifest.digest);
    t.same(await missing(dst, [fixtureManifest, ...fixtureBlobs]), [], `layout has every node`);
    t.equal(order.at(-1), fixture.manifest.digest, 'the manifest is written last');
    t.equal(order.length, 1 + fixtureBlobs.length);
    const r = spawnSync('skopeo', ['inspect', '--raw', `oci:${path.join(dir, 'from-registry')}:v1`], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    t.equal(sha(Buffer.from(r.stdout)), fixture.manifest.digest, 'skopeo reads the same manifest bytes');
  });

  t.test('layout → registry, then a second copy uploads nothing', async (t) => {
    const src = await layout('from-registry');
    proxy.stats.reset();
    await copy(src, 'v1', repo('dst/from-layout'), 'v2');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), fixtureBlobs.length, 'one upload per blob');
    t.equal((await repo('dst/from-layout').resolve('v2')).digest, fixture.manifest.digest);

    proxy.stats.reset();
    const skipped: string[] = [];
    await copy(src, 'v1', repo('dst/from-layout'), 'v3', { onCopySkipped: (d) => void skipped.push(d.digest) });
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), 0, 'no upload started');
    t.equal(proxy.stats.count('PATCH'), 0, 'no bytes uploaded');
    t.same(skipped, [fixture.manifest.digest], 'the root exists, so its whole sub-DAG is skipped');
    t.equal((await repo('dst/from-layout').resolve('v3')).digest, fixture.manifest.digest, 'and it is still tagged');
  });

  t.test('a partial destination gets only what it lacks', async (t) => {
    const dst = await layout('partial');
    await dst.push(fixture.configDescriptor, Readable.from([fixture.config]));
    const pushed: string[] = [];
    const skipped: string[] = [];
    await copy(repo('src/busybox'), 'v1', dst, 'v1', { postCopy: (d) => void pushed.push(d.digest), onCopySkipped: (d) => void skipped.push(d.digest) });
    t.same(skipped, [fixture.configDescriptor.digest]);
    t.same(pushed.sort(), [fixture.manifest.digest, ...fixture.layers.map((l) => l.descriptor.digest)].sort());
  });

  t.test('registry → registry on one registry mounts every blob: nothing is downloaded or uploaded', async (t) => {
    proxy.stats.reset();
    const mounted: string[] = [];
    await copy(repo('src/busybox'), 'v1', repo('mnt/app'), 'latest', {
      mountFrom: () => ['src/busybox'],
      onMounted: (d, from) => {
        t.equal(from, 'src/busybox');
        mounted.push(d.digest);
      },
    });
    t.same(mounted.sort(), fixtureBlobs.map((d) => d.digest).sort(), 'config and layers mounted');
    t.equal(proxy.stats.count('GET', /\/blobs\/sha256:/), 0, 'no blob was downloaded');
    t.equal(proxy.stats.count('PATCH'), 0, 'no blob bytes were uploaded');
    t.equal(proxy.stats.count('PUT', '/blobs/uploads/'), 0, 'no upload was completed');
    t.equal(proxy.stats.count('POST', '/blobs/uploads/'), fixtureBlobs.length, 'one mount request per blob');
    t.same(await missing(repo('mnt/app'), fixtureBlobs), [], `mnt/app has every node`);
    t.equal((await repo('mnt/app').resolve('latest')).digest, fixture.manifest.digest);
  });

  t.test('mount candidates: a wrong first candidate is passed over, the last falls back to copying', async (t) => {
    const tried: string[] = [];
    const mounted: string[] = [];
    const copied: string[] = [];
    await copy(repo('src/busybox'), 'v1', repo('mnt/second'), 'latest', {
      mountFrom: (d) => (d.digest === fixture.configDescriptor.digest ? ['nothing/here'] : ['nothing/here', 'src/busybox']),
      preCopy: (d) => void tried.push(d.digest),
      onMounted: (d) => void mounted.push(d.digest),
      postCopy: (d) => void copied.push(d.digest),
    });
    t.same(mounted.sort(), fixture.layers.map((l) => l.descriptor.digest).sort(), 'layers mounted from the second candidate');
    t.ok(copied.includes(fixture.configDescriptor.digest), 'the config (no good candidate) was copied from the source');
    t.same(await missing(repo('mnt/second'), fixtureBlobs), [], `mnt/second has every node`);
  });

  t.test('an index with two platforms is copied whole, a shared layer once', async (t) => {
    const src = await layout('multi-src');
    const { index, all } = await twoPlatformIndex(src, 'multi');
    const seen = new Map<string, number>();
    await copy(src, 'multi', repo('multi/app'), 'all', { preCopy: (d) => void seen.set(d.digest, (seen.get(d.digest) ?? 0) + 1) });
    t.equal(seen.size, all.length, 'every node of the graph was copied');
    t.ok([...seen.values()].every((n) => n === 1), 'each node once, the shared layer too');
    t.same(await missing(repo('multi/app'), all), [], `registry has every node`);
    const back = await layout('multi-back');
    await copy(repo('multi/app'), 'all', back, 'all');
    t.equal((await back.resolve('all')).digest, index.digest);
    t.same(await missing(back, all), [], `layout has every node`);
  });

  t.test('concurrency bounds the transfers in flight', async (t) => {
    const src = await layout('multi-src');
    const inner = await layout('bounded');
    let active = 0;
    let peak = 0;
    const counting: Target = {
      fetch: (d, o) => inner.fetch(d, o),
      exists: (d) => inner.exists(d),
      resolve: (r) => inner.resolve(r),
      tag: (d, r) => inner.tag(d, r),
      push: async (d, c, o) => {
        peak = Math.max(peak, ++active);
        try {
          await inner.push(d, c, o);
        } finally {
          active--;
        }
      },
    };
    await copy(src, 'multi', counting, 'x', { concurrency: 2 });
    t.ok(peak <= 2, `at most 2 pushes at once (saw ${peak})`);
    t.equal(DEFAULT_COPY_CONCURRENCY, 3, 'default as oras-go');
  });

  t.test('the local blob store is a Target: registry → store → layout', async (t) => {
    const store = new BlobStoreTarget(await BlobStore.open(path.join(dir, 'store')));
    await copy(repo('src/busybox'), 'v1', store, 'busybox:v1');
    t.same(await missing(store, [fixtureManifest, ...fixtureBlobs]), [], `store has every node`);
    const out = await layout('from-store');
    await copy(store, 'busybox:v1', out, 'v1');
    t.equal((await out.resolve('v1')).digest, fixture.manifest.digest);
  });

  t.test('abort mid-copy: ERR_ABORTED and no tag', async (t) => {
    const src = await layout('from-registry');
    for (const [name, dst] of [
      ['registry', repo('abort/app')],
      ['layout', await layout('aborted')],
    ] as const) {
      const ac = new AbortController();
      let n = 0;
      await t.rejects(
        copy(src, 'v1', dst, 'x', { signal: ac.signal, preCopy: () => void (++n === 2 && ac.abort()) }),
        { code: 'ERR_ABORTED' },
        `${name}: the copy fails as cancelled`,
      );
      await t.rejects(dst.resolve('x'), { code: name === 'registry' ? 'ERR_MANIFEST_UNKNOWN' : 'ERR_TAG_NOT_FOUND' }, `${name}: no tag`);
      t.notOk(await dst.exists(fixtureManifest), `${name}: the manifest was not written`);
    }
    const ac = new AbortController();
    ac.abort();
    await t.rejects(copy(src, 'v1', await layout('aborted'), 'y', { signal: ac.signal }), { code: 'ERR_ABORTED' }, 'aborted before it starts');
  });

  t.test('a corrupt source blob fails with ERR_DIGEST_MISMATCH and leaves no tag', async (t) => {
    const src = await layout('corrupt-src');
    await copy(repo('src/busybox'), 'v1', src, 'v1');
    const victim = fixture.layers[0]!.descriptor;
    const file = src.layout.blobPath(victim.digest);
    const bytes = await fs.readFile(file);
    bytes[bytes.length >> 1]! ^= 0xff; // same size, different content
    await fs.writeFile(file, bytes);
    for (const [name, dst] of [
      ['registry', repo('corrupt/app')],
      ['layout', await layout('corrupt-dst')],
    ] as const) {
      await t.rejects(copy(src, 'v1', dst, 'x'), { code: 'ERR_DIGEST_MISMATCH' }, `${name}: the copy fails`);
      await t.rejects(dst.resolve('x'), `${name}: no tag`);
      t.notOk(await dst.exists(victim), `${name}: the corrupt blob was not stored`);
      t.notOk(await dst.exists(fixtureManifest), `${name}: nor the manifest`);
    }
  });

  t.test('bad input: unknown references, a garbage manifest, a hostile successor', async (t) => {
    const src = await layout('from-registry');
    const dst = await layout('bad-dst');
    await t.rejects(copy(src, 'nope', dst, 'x'), { code: 'ERR_TAG_NOT_FOUND' });
    await t.rejects(copy(repo('src/busybox'), 'nope', dst, 'x'), { code: 'ERR_MANIFEST_UNKNOWN' });
    await t.rejects(copy(repo('src/busybox'), '../etc', dst, 'x'), { code: 'ERR_INVALID_REFERENCE' });

    const bad = await layout('garbage-src');
    const garbage = await put(bad, Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":7}'), MediaType.ociManifest);
    await bad.tag(garbage, 'g');
    await t.rejects(copy(bad, 'g', dst, 'g'), { code: 'ERR_MANIFEST_INVALID' });
    await t.rejects(dst.resolve('g'), { code: 'ERR_TAG_NOT_FOUND' });

    // An index naming a manifest whose digest is not valid never reaches a path (validateDescriptor).
    t.throws(
      () => successors({ mediaType: MediaType.ociIndex, digest: sha(Buffer.from('x')), size: 1 }, json({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: 'sha256:../../x', size: 1 }] })),
      { code: 'ERR_MANIFEST_INVALID' },
    );
    t.same(successors({ mediaType: MediaType.ociLayerGzip, digest: sha(Buffer.from('x')), size: 1 }, Buffer.from('x')), [], 'blobs have no successors');
  });

  t.test('copyGraph copies without tagging', async (t) => {
    const src = await layout('from-registry');
    const dst = await layout('graph-only');
    await copyGraph(src, dst, fixtureManifest);
    t.same(await missing(dst, [fixtureManifest, ...fixtureBlobs]), [], `layout has every node`);
    t.same(await dst.tags(), []);
  });
});
