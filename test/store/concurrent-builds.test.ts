// Eight `oci-s2i build` processes at once on one cache: all succeed with their own result, and each builder layer
// is downloaded once (GETs counted by a proxy in front of the real registry) and unpacked once (unpack temp dirs
// created in layers/tmp, watched with inotify).
import { watch } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import tarStream from 'tar-stream';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { parseManifestDocument } from '../../src/oci/manifest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { verifyStore } from '../../src/store/verify.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry } from '../helpers/registry.js';

const builds = 8;
const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');

async function fileInLayer(gz: Buffer, name: string): Promise<string | undefined> {
  const extract = tarStream.extract();
  let found: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (h.name.replace(/^\.?\//, '') === name) found = Buffer.concat(chunks).toString('utf8');
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([zlib.gunzipSync(gz)]).pipe(extract);
  await done;
  return found;
}

t.test(`${builds} concurrent builds on one cache: all succeed; each builder layer is downloaded and unpacked once`, async (t) => {
  const registry = await startRegistry();
  const client = new RegistryClient();
  const proxy = await startFaultProxy(registry.host);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'concurrent-builds-'));
  await fs.chmod(tmp, 0o755);
  t.teardown(async () => {
    await proxy.stop();
    await client.close();
    await registry.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });
  await pushBusyboxBuilder(client.repository(registry.host, 't/builder'), 'latest', { scriptsDir });
  const builder = `${proxy.host}/t/builder:latest`;
  const root = path.join(tmp, 'root');
  await LayerCache.open(root); // creates layers/tmp so it can be watched from the start
  const unpacks = new Set<string>();
  const watcher = watch(path.join(root, 'layers', 'tmp'), (_event, name) => {
    if (name) unpacks.add(name.toString());
  });
  t.teardown(() => watcher.close());

  const results = await Promise.all(
    Array.from({ length: builds }, async (_, i) => {
      const src = path.join(tmp, `src-${i}`);
      await fs.mkdir(src);
      await fs.writeFile(path.join(src, 'index.html'), `build number ${i}\n`);
      const r = await runCli(['build', src, builder, `${proxy.host}/t/app-${i}:1`, '--root', root, '--no-push', '--json'], { timeoutMs: 300_000 });
      return { i, ...r };
    }),
  );
  for (const r of results) t.equal(r.code, 0, `build ${r.i} succeeded: ${r.stderr.split('\n').slice(-4).join(' | ')}`);

  const store = await BlobStore.open(root);
  const manifestBytes = await store.readBytes((JSON.parse(results[0]!.stdout.trim().split('\n').pop()!) as { digest: string }).digest, 1 << 20);
  const first = parseManifestDocument(manifestBytes);
  if (first.kind !== 'manifest') throw new Error('expected a manifest');
  const builderLayers = first.manifest.layers.slice(0, -1);
  t.equal(builderLayers.length, 2, 'busybox rootfs + scripts');
  for (const l of builderLayers) {
    t.equal(proxy.stats.count('GET', `/blobs/${l.digest}`), 1, `layer ${l.digest.slice(7, 19)} downloaded once`);
  }
  // (The small config blob is fetched by every build that finds it missing: pull.ts reads it as bytes outside the
  // store's cross-process writer dedupe. Only layers are worth deduplicating.)

  // Give inotify's queue a moment to be read, then count unpack temp dirs (one per unpack).
  await new Promise((r) => setTimeout(r, 200));
  t.equal(unpacks.size, builderLayers.length, `each layer unpacked once (${[...unpacks].join(', ')})`);

  // Correct and distinct results: the new layer of build i holds its own source.
  const digests = new Set<string>();
  for (const r of results) {
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { digest: string };
    digests.add(out.digest);
    const m = parseManifestDocument(await store.readBytes(out.digest, 1 << 20));
    if (m.kind !== 'manifest') throw new Error('expected a manifest');
    t.same(m.manifest.layers.slice(0, -1), builderLayers, `build ${r.i} is on the builder's layers`);
    const top = await store.readBytes(m.manifest.layers.at(-1)!.digest, 64 << 20);
    t.equal(await fileInLayer(top, 'opt/app-root/src/index.html'), `build number ${r.i}\n`, `build ${r.i} assembled its own source`);
  }
  t.equal(digests.size, builds, 'eight distinct images');
  t.same((await verifyStore(root)).problems, [], 'the shared cache verifies clean');
  t.same(await fs.readdir(path.join(root, 'leases')), [], 'every lease released');
});
