// cache ls / du / verify / prune: library functions on a real store built with BlobStore + LayerCache, and the CLI.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { parseDuration, pruneStore } from '../../src/store/gc.js';
import { diskUsage, listCache } from '../../src/store/inventory.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { layerMetaPath } from '../../src/store/layer-meta.js';
import { treeDigest } from '../../src/store/tree-digest.js';
import { verifyStore } from '../../src/store/verify.js';
import { runCli } from '../helpers/cli.js';
import { cacheCommand } from '../../src/cli/commands/cache.js';
import { parseCommandArgs, type GlobalFlags } from '../../src/cli/command.js';
import { makeTar } from '../layer/apply-helpers.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Fixture {
  root: string;
  store: BlobStore;
  cache: LayerCache;
  manifest: Descriptor;
  config: Descriptor;
  layers: Array<{ blob: Descriptor; diffID: string; dir: string }>;
  stray: { blob: Descriptor; diffID: string; dir: string };
}

async function layer(store: BlobStore, cache: LayerCache, files: Record<string, string>): Promise<{ blob: Descriptor; diffID: string; dir: string }> {
  const tar = await makeTar([
    ...Object.entries(files).map(([name, data]) => ({ name, data, mode: 0o644 })),
    { name: 'gone/', type: 'directory' as const },
    { name: 'gone/.wh..wh..opq' },
    { name: '.wh.removed' },
  ]);
  const gz = zlib.gzipSync(tar);
  const blob: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: sha(gz), size: gz.length };
  await store.put(blob, Readable.from([gz]));
  const r = await cache.ensure(blob, async () => store.open(blob.digest), { expectedDiffID: sha(tar) });
  return { blob, diffID: r.diffID, dir: r.dir };
}

async function fixture(t: { teardown(fn: () => unknown): void }): Promise<Fixture> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gc-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const store = await BlobStore.open(root);
  const cache = await LayerCache.open(root);
  const layers = [await layer(store, cache, { 'etc/a': 'one\n' }), await layer(store, cache, { 'usr/bin/b': 'two'.repeat(1000) })];
  const config = await store.putBytes(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) } })),
    MediaType.ociConfig,
  );
  const manifest = await store.putBytes(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: layers.map((l) => l.blob) })),
    MediaType.ociManifest,
  );
  await store.tag(manifest, 'registry.test/img:1');
  const stray = await layer(store, cache, { stray: 'not referenced' });
  return { root, store, cache, manifest, config, layers, stray };
}

/** Makes every blob and layer record look last used `ms` ago (instead of waiting). */
async function age(root: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  for (const d of [path.join(root, 'oci/blobs/sha256'), path.join(root, 'layers/meta/sha256')]) {
    for (const n of await fs.readdir(d)) await fs.utimes(path.join(d, n), when, when);
  }
}

const exists = (p: string): Promise<boolean> => fs.lstat(p).then(() => true, () => false);

t.test('ls lists the named image with its compressed size, and every layer with size and last use', async (t) => {
  const f = await fixture(t);
  const r = await listCache(f.root);
  t.equal(r.images.length, 1);
  t.equal(r.images[0]!.name, 'registry.test/img:1');
  t.equal(r.images[0]!.digest, f.manifest.digest);
  t.equal(r.images[0]!.size, f.manifest.size + f.config.size + f.layers[0]!.blob.size + f.layers[1]!.blob.size);
  t.equal(r.layers.length, 3);
  const b = r.layers.find((l) => l.diffID === f.layers[1]!.diffID)!;
  t.equal(b.size, 3000, 'apparent size of the files');
  t.equal(b.blob, f.layers[1]!.blob.digest);
  t.ok(b.recorded);
  t.ok(Date.now() - b.lastUsed.getTime() < 60_000);
});

t.test('ls and du of a missing or empty root', async (t) => {
  const root = path.join(os.tmpdir(), `gc-missing-${process.pid}`);
  t.same(await listCache(root), { images: [], layers: [] });
  t.equal((await diskUsage(root)).total.bytes, 0);
});

t.test('du splits sizes by kind and the total adds up', async (t) => {
  const f = await fixture(t);
  await fs.mkdir(path.join(f.root, 'builds', 'b-left'), { recursive: true });
  await fs.writeFile(path.join(f.root, 'builds', 'b-left', 'junk'), Buffer.alloc(10_000));
  const u = await diskUsage(f.root);
  t.ok(u.blobs.files >= 6, 'manifest, config, 3 layer blobs, oci-layout, index.json');
  t.ok(u.layers.bytes > 0);
  t.ok(u.temp.bytes >= 8192, 'a leftover build dir counts as temp');
  t.equal(u.total.bytes, u.blobs.bytes + u.layers.bytes + u.temp.bytes + u.other.bytes);
});

t.test('tree digest: identical for a fresh unpack, different after any change of content, mode, owner or xattr', async (t) => {
  const f = await fixture(t);
  const dir = f.layers[0]!.dir;
  const rec = JSON.parse(await fs.readFile(layerMetaPath(f.root, f.layers[0]!.diffID), 'utf8')) as { tree: string };
  t.equal((await treeDigest(dir)).digest, rec.tree, 'recorded at unpack time');
  const file = path.join(dir, 'etc/a');
  const st = await fs.stat(file);
  for (const [what, change, undo] of [
    ['content', () => fs.writeFile(file, 'ONE\n'), () => fs.writeFile(file, 'one\n')],
    ['mode', () => fs.chmod(file, 0o4755), () => fs.chmod(file, 0o644)],
    ['owner', () => fs.chown(file, 1234, 1234), () => fs.chown(file, st.uid, st.gid)],
    ['new file', () => fs.writeFile(path.join(dir, 'etc/new'), ''), () => fs.rm(path.join(dir, 'etc/new'))],
  ] as const) {
    await change();
    t.not((await treeDigest(dir)).digest, rec.tree, `${what} changes the digest`);
    await undo();
    await fs.utimes(file, st.atime, st.mtime);
    await fs.utimes(path.join(dir, 'etc'), st.atime, (await fs.stat(path.join(dir, 'etc'))).mtime);
  }
});

t.test('verify: a clean store is clean; a flipped blob byte, a changed layer file and a missing record are dropped', async (t) => {
  const f = await fixture(t);
  const clean = await verifyStore(f.root);
  t.same(clean.problems, []);
  t.equal(clean.blobs, 5, '3 layers, config, manifest');
  t.equal(clean.layers, 3);

  const blobFile = f.store.path(f.layers[0]!.blob.digest);
  const bytes = await fs.readFile(blobFile);
  bytes.writeUInt8(bytes[10]! ^ 0xff, 10);
  await fs.writeFile(blobFile, bytes);
  await fs.appendFile(path.join(f.layers[1]!.dir, 'usr/bin/b'), 'x');
  await fs.rm(layerMetaPath(f.root, f.stray.diffID));
  const r = await verifyStore(f.root);
  t.same(r.problems.map((p) => [p.kind, p.id, p.dropped]).sort(), [
    ['blob', f.layers[0]!.blob.digest, true],
    ['layer', f.layers[1]!.diffID, true],
    ['layer', f.stray.diffID, true],
  ].sort());
  t.notOk(await exists(blobFile), 'corrupt blob gone');
  t.notOk(await f.cache.has(f.layers[1]!.diffID), 'corrupt layer gone');
  t.notOk(await exists(layerMetaPath(f.root, f.layers[1]!.diffID)), 'its record too');
  t.same((await fs.readdir(path.join(f.root, 'layers/tmp'))).length, 0, 'nothing left in temp');
  t.same((await verifyStore(f.root)).problems, [], 'a second verify is clean');
  // and the cache heals: ensure unpacks again
  const again = await f.cache.ensure(f.layers[1]!.blob, async () => f.store.open(f.layers[1]!.blob.digest), { expectedDiffID: f.layers[1]!.diffID });
  t.equal(again.cached, false);
});

t.test('verify: a corrupt layer leased by a running build is reported, not removed', async (t) => {
  const f = await fixture(t);
  const lease = await f.cache.lease([f.layers[0]!.diffID]);
  t.teardown(() => lease.release());
  await fs.writeFile(path.join(f.layers[0]!.dir, 'etc/a'), 'tampered');
  const r = await verifyStore(f.root);
  t.equal(r.problems.length, 1);
  t.equal(r.problems[0]!.dropped, false);
  t.match(r.problems[0]!.reason, /in use by a running build/);
  t.ok(await f.cache.has(f.layers[0]!.diffID));
});

t.test('verify: an index.json that is not an index is reset (bad input)', async (t) => {
  const f = await fixture(t);
  await fs.writeFile(path.join(f.root, 'oci/index.json'), '{"manifests": 7');
  const r = await verifyStore(f.root);
  t.equal(r.problems.length, 1);
  t.equal(r.problems[0]!.kind, 'index');
  t.same(JSON.parse(await fs.readFile(path.join(f.root, 'oci/index.json'), 'utf8')).manifests, []);
  t.equal(await f.store.resolveTag('registry.test/img:1'), undefined);
});

t.test('prune (default) removes what no name reaches, plus crash leftovers; keeps the named image', async (t) => {
  const f = await fixture(t);
  const orphan = await f.store.putBytes(Buffer.from('orphan'), 'application/octet-stream');
  await age(f.root, 3_600_000);
  // leftovers of a dead process (pid 2^22+1 is above pid_max defaults, so never alive)
  const dead = 4194305;
  await fs.mkdir(path.join(f.root, 'layers/tmp', `${dead}-abc`));
  await fs.writeFile(path.join(f.root, 'tmp', `${dead}-def`), 'partial');
  await fs.writeFile(path.join(f.root, 'leases', `${dead}-x.json`), JSON.stringify({ pid: dead, created: new Date().toISOString(), diffIDs: [f.stray.diffID] }));
  await fs.writeFile(path.join(f.root, 'locks', 'blob-sha256-x.lock'), JSON.stringify({ pid: dead, host: os.hostname() }));
  await fs.mkdir(path.join(f.root, 'builds', 'b-dead'), { recursive: true });
  await fs.writeFile(path.join(f.root, 'locks', `${dead}-abc.locktmp`), '{}');
  await fs.writeFile(path.join(f.root, 'oci', `index.json.${dead}-abc.tmp`), '{');
  const r = await pruneStore(f.root);
  t.same(r.untagged, []);
  t.same(r.blobs.map((b) => b.digest).sort(), [orphan.digest, f.stray.blob.digest].sort());
  t.same(r.layers.map((l) => l.diffID), [f.stray.diffID], 'a stale lease protects nothing');
  t.ok(r.garbage >= 7, `garbage removed (${r.garbage})`);
  t.same((await fs.readdir(path.join(f.root, 'oci'))).sort(), ['blobs', 'index.json', 'oci-layout']);
  t.ok(r.freedBytes > 0);
  for (const l of f.layers) t.ok(await f.cache.has(l.diffID), 'referenced layers stay');
  t.ok(await f.store.has(f.manifest.digest));
  t.same(await fs.readdir(path.join(f.root, 'leases')), []);
  t.same(await fs.readdir(path.join(f.root, 'locks')), []);
  t.same(await fs.readdir(path.join(f.root, 'builds')), []);
  t.same(await fs.readdir(path.join(f.root, 'layers/tmp')), []);
  t.same((await verifyStore(f.root)).problems, [], 'the store is consistent afterwards');
});

t.test('prune --all removes everything except what a live lease holds', async (t) => {
  const f = await fixture(t);
  await age(f.root, 3_600_000);
  const lease = await f.cache.lease([f.layers[1]!.diffID]);
  t.teardown(() => lease.release());
  const r = await pruneStore(f.root, { mode: 'all', leaseSlackMs: 0 });
  t.same(r.untagged, ['registry.test/img:1']);
  t.equal(r.blobs.length, 5);
  t.same(r.layers.map((l) => l.diffID).sort(), [f.layers[0]!.diffID, f.stray.diffID].sort());
  t.ok(await f.cache.has(f.layers[1]!.diffID), 'the leased layer stays');
  t.ok(r.keptInUse >= 1);
  await lease.release();
  const r2 = await pruneStore(f.root, { mode: 'all' });
  t.same(r2.layers.map((l) => l.diffID), [f.layers[1]!.diffID], 'released: now it goes');
  t.same(await listCache(f.root), { images: [], layers: [] });
});

t.test('prune while a build runs keeps what it used shortly before its lease (blobs not tagged yet)', async (t) => {
  const f = await fixture(t);
  const lease = await f.cache.lease([]);
  t.teardown(() => lease.release());
  const r = await pruneStore(f.root, { mode: 'all' });
  t.same(r.blobs, [], 'all blobs are recent: a running build may be about to tag them');
  t.same(r.layers, []);
  t.same(r.untagged, []);
  t.ok(r.keptInUse > 0);
});

t.test('prune --older-than removes images, blobs and layers not used within the time', async (t) => {
  const f = await fixture(t);
  await age(f.root, 2 * 86_400_000);
  // the first layer was used an hour ago (a cache hit touches its record)
  const hour = new Date(Date.now() - 3_600_000);
  await fs.utimes(layerMetaPath(f.root, f.layers[0]!.diffID), hour, hour);
  const keep = await pruneStore(f.root, { mode: 'older-than', olderThanMs: parseDuration('3d') });
  t.same([keep.untagged, keep.blobs, keep.layers], [[], [], []], 'nothing is 3 days old');
  const r = await pruneStore(f.root, { mode: 'older-than', olderThanMs: parseDuration('1d') });
  t.same(r.untagged, ['registry.test/img:1']);
  t.equal(r.blobs.length, 5);
  t.same(r.layers.map((l) => l.diffID).sort(), [f.layers[1]!.diffID, f.stray.diffID].sort());
  t.ok(await f.cache.has(f.layers[0]!.diffID), 'used an hour ago: kept');
});

t.test('a cache hit and a lease refresh "last used"', async (t) => {
  const f = await fixture(t);
  await age(f.root, 86_400_000);
  await f.cache.ensure(f.layers[0]!.blob, async () => f.store.open(f.layers[0]!.blob.digest));
  await (await f.cache.lease([f.layers[1]!.diffID])).release();
  const ls = await listCache(f.root);
  for (const l of f.layers) t.ok(Date.now() - ls.layers.find((x) => x.diffID === l.diffID)!.lastUsed.getTime() < 60_000, 'fresh');
  t.ok(Date.now() - ls.layers.find((x) => x.diffID === f.stray.diffID)!.lastUsed.getTime() > 3_600_000, 'untouched stays old');
});

t.test('parseDuration', async (t) => {
  t.equal(parseDuration('7d'), 7 * 86_400_000);
  t.equal(parseDuration('12h'), 12 * 3_600_000);
  t.equal(parseDuration('30m'), 30 * 60_000);
  t.equal(parseDuration('1h30m'), 90 * 60_000);
  t.equal(parseDuration('2w'), 14 * 86_400_000);
  for (const bad of ['', '7', 'd', '7x', '-1d', '1.5h', '7d ', '99999999999999999999d']) {
    t.throws(() => parseDuration(bad), { code: 'ERR_USAGE' }, JSON.stringify(bad));
  }
});

/** Runs the command in process (usage and rendering), capturing its output. */
async function runCommand(args: string[], global: Partial<GlobalFlags> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { positionals, values } = parseCommandArgs(cacheCommand, args);
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void) => ({ write: (s: string) => (f(s), true) }) as unknown as NodeJS.WriteStream;
  const code = await cacheCommand.run({
    positionals,
    values,
    global: { quiet: false, json: false, debug: false, loglevel: 0, ...global },
    signal: new AbortController().signal,
    stdout: sink((x) => (stdout += x)),
    stderr: sink((x) => (stderr += x)),
  });
  return { code, stdout, stderr };
}

t.test('cache command: tables, verify exit code, prune summary; usage errors (bad input)', async (t) => {
  const f = await fixture(t);
  const human = await runCommand(['ls', '--root', f.root]);
  t.match(human.stdout, /IMAGES\nNAME\s+DIGEST\s+SIZE\s+LAST USED\nregistry\.test\/img:1/);
  t.match(human.stdout, /LAYERS\nDIFF ID\s+SIZE\s+FILES\s+LAST USED\n/);
  const du = await runCommand(['du', '--root', f.root]);
  t.match(du.stdout, /^KIND\s+SIZE\s+FILES\nblobs .*\nlayers .*\ntemp .*\nother .*\ntotal /);
  const v = await runCommand(['verify', '--root', f.root]);
  t.equal(v.code, 0);
  t.match(v.stderr, /Verified 5 blob\(s\) and 3 layer\(s\): all intact/);
  await fs.writeFile(path.join(f.layers[0]!.dir, 'etc/a'), 'tampered');
  const bad = await runCommand(['verify', '--root', f.root]);
  t.equal(bad.code, 1, 'exit 1 when something corrupt was found (and dropped)');
  t.match(bad.stdout, new RegExp(`^dropped layer ${f.layers[0]!.diffID}: the unpacked tree changed`));
  t.equal((await runCommand(['verify', '--root', f.root], { quiet: true })).code, 0, 'clean again');
  const p = await runCommand(['prune', '--root', f.root]);
  t.equal(p.code, 0);
  t.match(p.stdout, new RegExp(`deleted layer ${f.stray.diffID}`));
  t.match(p.stderr, /^Freed .*1 layer\(s\)/);
  for (const [args, re] of [
    [['nope'], /unknown cache subcommand "nope"/],
    [['ls', '--all'], /belong to `cache prune`/],
    [['verify', '--older-than', '1d'], /belong to `cache prune`/],
    [['prune', '--all', '--older-than', '1d'], /exclude each other/],
    [['prune', '--older-than', 'soon'], /invalid duration "soon"/],
  ] as const) {
    await t.rejects(exitOf(runCommand([...args, '--root', f.root])), { code: 'ERR_USAGE', exitCode: 64, message: re }, args.join(' '));
  }
  t.throws(() => parseCommandArgs(cacheCommand, []), { code: 'ERR_USAGE', message: /takes ls\|du\|verify\|prune/ });
  t.throws(() => parseCommandArgs(cacheCommand, ['ls', '--bogus']), { code: 'ERR_USAGE' });
});

t.test('CLI: the real binary through the namespace re-exec; --json results; exit codes', async (t) => {
  const f = await fixture(t);
  const ls = await runCli(['cache', 'ls', '--root', f.root, '--json']);
  t.equal(ls.code, 0, ls.stderr);
  const parsed = JSON.parse(ls.stdout) as { images: Array<{ name: string }>; layers: unknown[] };
  t.equal(parsed.images[0]!.name, 'registry.test/img:1');
  t.equal(parsed.layers.length, 3);
  await fs.writeFile(path.join(f.layers[0]!.dir, 'etc/a'), 'tampered');
  const bad = await runCli(['cache', 'verify', '--root', f.root, '--json']);
  t.equal(bad.code, 1, 'exit 1 when something corrupt was found');
  t.equal((JSON.parse(bad.stdout) as { problems: unknown[] }).problems.length, 1);
  const all = await runCli(['cache', 'prune', '--all', '--root', f.root, '--json']);
  t.equal(all.code, 0, all.stderr);
  const r = JSON.parse(all.stdout) as { untagged: string[]; layers: unknown[] };
  t.same(r.untagged, ['registry.test/img:1']);
  t.equal(r.layers.length, 2, 'the two layers left after verify dropped one');
  t.same(await listCache(f.root), { images: [], layers: [] });
});

// Found by the standalone's tests: `cache verify` of a root nothing had opened yet failed with ENOENT on the
// index lock (the locks directory did not exist).
t.test('cache verify of a fresh root: an empty store, no problems', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-s2i-verify-fresh-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const fresh = path.join(root, 'cache');
  const r = await runCli(['cache', 'verify', '--root', fresh]);
  t.equal(r.code, 0, r.stderr);
  t.same(await verifyStore(path.join(root, 'direct')).then((v) => [v.blobs, v.layers, v.problems.length]), [0, 0, 0], 'verifyStore itself');
});
