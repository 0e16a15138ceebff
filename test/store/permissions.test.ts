// Issue 16, finding 3: the cache was a local privilege escalation. Every store dir was 0755, so any local user
// could run a cached setuid-root binary (uid 0), a binary with file capabilities, or open a layer's device node.
// A layer with all three is pulled as root into a store under a world-traversable dir, and rootless by a user
// with a subordinate range; then `nobody` tries to stat, exec and open each one by its full path: every attempt
// must fail with EACCES, while the files stay in the layer exactly as the image has them.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { serializeConfig } from '../../src/image/config.js';
import { buildManifest } from '../../src/image/manifest.js';
import { writeLayerFile } from '../../src/layer/write.js';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest, parseDigest } from '../../src/oci/digest.js';
import { hostPlatform } from '../../src/oci/platform.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { verifyStore } from '../../src/store/verify.js';
import { native, S_IFCHR } from '../../src/sys/native.js';
import { openOciArchiveSource } from '../../src/transport/oci-archive.js';
import type { BuiltImage } from '../../src/demo/busybox-image.js';
import { writeLayout } from '../helpers/builder-variants.js';
import { runCli } from '../helpers/cli.js';
import { canCreateUsers, cliFor, ensureUser, type TestUser } from '../helpers/users.js';

const isRoot = process.getuid?.() === 0;
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skip = !isRoot ? 'needs root (a setuid-root file, mknod, setpriv to nobody)' : !busybox ? 'needs busybox-static' : false;

/** VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_SETUID (7): `cap_setuid+ep` (linux/capability.h). */
function capSetuidEp(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x1, 0);
  b.writeUInt32LE(1 << 7, 4); // data[0].permitted
  return b;
}

/** Parses a security.capability value (v2 as written, or v3 as a user namespace stores it): permitted bits, effective flag, rootid. */
function parseCaps(v: Buffer): { permitted: number; effective: boolean; rootid?: number } {
  const magic = v.readUInt32LE(0);
  return { permitted: v.readUInt32LE(4), effective: (magic & 1) === 1, ...(v.length >= 24 ? { rootid: v.readUInt32LE(20) } : {}) };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'store-perm-'));
chmodSync(tmp, 0o755); // readable by the test users (the layout) and traversable by nobody
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** An OCI layout with one layer holding a setuid-root busybox, a `cap_setuid+ep` busybox and a char device. */
async function hostileImage(): Promise<{ layout: string; diffHex: string }> {
  const tree = path.join(tmp, 'tree');
  mkdirSync(path.join(tree, 'bin'), { recursive: true });
  mkdirSync(path.join(tree, 'dev'));
  copyFileSync(busybox!, path.join(tree, 'bin', 'suid'));
  chownSync(path.join(tree, 'bin', 'suid'), 0, 0);
  chmodSync(path.join(tree, 'bin', 'suid'), 0o4755);
  copyFileSync(busybox!, path.join(tree, 'bin', 'capped'));
  chmodSync(path.join(tree, 'bin', 'capped'), 0o755);
  native().lsetxattr(path.join(tree, 'bin', 'capped'), 'security.capability', capSetuidEp());
  native().mknod(path.join(tree, 'dev', 'chr'), S_IFCHR | 0o666, 1, 3);
  chmodSync(path.join(tree, 'dev', 'chr'), 0o666);
  const file = path.join(tmp, 'layer.tar.gz');
  const l = await writeLayerFile(tree, file, { overlayWhiteouts: false });
  const p = hostPlatform();
  const config = serializeConfig({
    architecture: p.architecture,
    os: 'linux',
    ...(p.variant ? { variant: p.variant } : {}),
    config: { Cmd: ['/bin/suid', 'sh'] },
    rootfs: { type: 'layers', diff_ids: [l.diffID] },
  });
  const configDescriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(config), size: config.length };
  const descriptor = { mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.size };
  const m = buildManifest('oci', configDescriptor, [descriptor]);
  const img: BuiltImage = { layers: [{ file, descriptor, diffID: l.diffID }], config, configDescriptor, manifest: { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest } };
  const layout = path.join(tmp, 'layout');
  await writeLayout(layout, 'v1', img);
  execFileSync('chmod', ['-R', 'a+rX', layout]);
  return { layout, diffHex: parseDigest(l.diffID).hex };
}

let image: Promise<{ layout: string; diffHex: string }> | undefined;
const getImage = () => (image ??= hostileImage());

interface Attempt {
  what: string;
  code: string;
}

/** As nobody (no groups): lstat, open (read-write for the device), exec, and readdir of the store root. */
function asNobody(store: string, files: { suid: string; capped: string; chr?: string }): Attempt[] {
  const script = `
    const fs = require('fs');
    const { spawnSync } = require('child_process');
    const [store, files] = JSON.parse(process.argv[1]);
    const out = [];
    const tryIt = (what, fn) => { try { fn(); out.push({ what, code: 'OK' }); } catch (e) { out.push({ what, code: e.code ?? String(e) }); } };
    tryIt('readdir root', () => fs.readdirSync(store));
    for (const [name, p] of Object.entries(files)) {
      tryIt('stat ' + name, () => fs.lstatSync(p));
      tryIt('open ' + name, () => fs.closeSync(fs.openSync(p, name === 'chr' ? 'r+' : 'r')));
      if (name !== 'chr') tryIt('exec ' + name, () => {
        const r = spawnSync(p, ['id', '-u'], { argv0: 'busybox' });
        if (r.error) throw r.error;
        throw Object.assign(new Error('ran'), { code: 'RAN as uid ' + String(r.stdout).trim() });
      });
    }
    process.stdout.write(JSON.stringify(out));
  `;
  // `env -u`: tap's hooks put an --import of the checkout into NODE_OPTIONS of every spawn (cli.ts says more).
  const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script, JSON.stringify([store, files])], {
    encoding: 'utf8',
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  if (r.status !== 0) throw new Error(`the nobody probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Attempt[];
}

t.test('a pulled layer with setuid, file capabilities and devices is unreachable by other users', { skip }, async (t) => {
  const { layout, diffHex } = await getImage();

  t.test('as root, the store under a world-traversable dir (/var/tmp)', async (t) => {
    const parent = mkdtempSync(path.join('/var/tmp', 'oci-s2i-perm-'));
    chmodSync(parent, 0o755);
    t.teardown(() => rmSync(parent, { recursive: true, force: true }));
    const store = path.join(parent, 'store');
    const r = await runCli(['pull', `oci:${layout}:v1`, '--root', store]);
    t.equal(r.code, 0, r.stderr);
    t.equal(statSync(store).mode & 0o7777, 0o700, 'the store root is created 0700');
    const dir = path.join(store, 'layers', 'sha256', diffHex);
    const files = { suid: path.join(dir, 'bin', 'suid'), capped: path.join(dir, 'bin', 'capped'), chr: path.join(dir, 'dev', 'chr') };

    // The layer is right: the image's bits are all there.
    const suid = lstatSync(files.suid);
    t.equal(suid.mode & 0o7777, 0o4755, 'setuid kept');
    t.equal(suid.uid, 0, 'owned by root');
    const caps = native().lgetxattr(files.capped, 'security.capability');
    t.ok(caps, 'file capability kept');
    t.same(caps && parseCaps(caps), { permitted: 1 << 7, effective: true }, 'cap_setuid+ep');
    const chr = lstatSync(files.chr);
    t.ok(chr.isCharacterDevice(), 'device node kept');
    t.equal(chr.rdev, 0x103, 'as 1:3');

    for (const a of asNobody(store, files)) t.equal(a.code, 'EACCES', `nobody: ${a.what}`);
  });

  t.test('rootless, by a user with a subordinate range', { skip: !canCreateUsers() && 'needs root to create the test user' }, async (t) => {
    const user: TestUser = ensureUser('ocis2i-rootless', { subIds: true });
    const home = mkdtempSync(path.join(tmp, 'home-'));
    chmodSync(home, 0o755); // a home dir other users may traverse, as on many distributions
    chownSync(home, user.uid, user.gid);
    const store = path.join(home, 'cache');
    const r = await runCli(['pull', `oci:${layout}:v1`, '--root', store], { user, cli: cliFor(user), cwd: home });
    t.equal(r.code, 0, r.stderr);
    t.equal(statSync(store).mode & 0o7777, 0o700, 'the store root is created 0700');
    t.equal(statSync(store).uid, user.uid, 'owned by the user');
    const dir = path.join(store, 'layers', 'sha256', diffHex);
    const files = { suid: path.join(dir, 'bin', 'suid'), capped: path.join(dir, 'bin', 'capped') };
    const suid = lstatSync(files.suid);
    t.equal(suid.mode & 0o7777, 0o4755, 'setuid kept');
    t.equal(suid.uid, user.uid, 'uid 0 of the layer is the user');
    const caps = native().lgetxattr(files.capped, 'security.capability');
    t.ok(caps, 'file capability kept');
    // Written in the user namespace, the kernel stores it as v3 with the namespace's root as rootid.
    t.same(caps && parseCaps(caps), { permitted: 1 << 7, effective: true, rootid: user.uid }, 'cap_setuid+ep, rooted at the user');
    t.match(r.stderr, /skipped 1 device nodes/, 'no device node rootless (mknod needs real root)');

    for (const a of asNobody(store, files)) t.equal(a.code, 'EACCES', `nobody: ${a.what}`);
  });
});

t.test('an older store (0755) is tightened when opened; cache verify reports a widened root and fixes it', { skip: !isRoot && 'needs root (setpriv)' }, async (t) => {
  const parent = mkdtempSync(path.join(tmp, 'old-'));
  const store = path.join(parent, 'store');
  await BlobStore.open(store);
  await LayerCache.open(store);
  chmodSync(store, 0o755); // what versions before this one left

  const v = await runCli(['cache', 'verify', '--root', store]);
  t.equal(v.code, 1, 'verify exits 1, as for anything else it had to repair');
  const line = v.stdout.split('\n').find((l) => l.startsWith('fixed store '));
  t.equal(line?.slice(0, `fixed store ${store}: `.length), `fixed store ${store}: `, 'names the store');
  t.match(line, /: mode 0755 lets other users reach the unpacked layers .*: set back to 0700$/);
  t.match(v.stderr, /all intact; the store root was reachable by other users/);
  t.equal(statSync(store).mode & 0o7777, 0o700, 'verify set it back');
  const again = await runCli(['cache', 'verify', '--root', store]);
  t.equal(again.code, 0, 'the next verify finds nothing');
  t.notMatch(again.stdout, /store/);

  chmodSync(store, 0o775);
  const json = await verifyStore(store);
  t.same(json.problems.map((p) => [p.kind, p.id, p.dropped, p.fixed]), [['store', store, false, true]], 'the JSON report names it');

  chmodSync(store, 0o751);
  await BlobStore.open(store);
  t.equal(statSync(store).mode & 0o7777, 0o700, 'opening the store tightens it');
  chmodSync(store, 0o755);
  const r = await runCli(['pull', 'oci:/nonexistent-layout:v1', '--root', store]);
  t.not(r.code, 0);
  t.equal(statSync(store).mode & 0o7777, 0o700, 'any engine command that opens it does, even one that then fails');
});

t.test('the root is 0700 whatever the umask; a wide non-store dir is refused, not chmod-ed', async (t) => {
  const parent = mkdtempSync(path.join(tmp, 'umask-'));
  const old = process.umask(0o000);
  try {
    await BlobStore.open(path.join(parent, 'a', 'b'));
    t.equal(statSync(path.join(parent, 'a', 'b')).mode & 0o7777, 0o700, 'umask 000');
    process.umask(0o277);
    await LayerCache.open(path.join(parent, 'c'));
    t.equal(statSync(path.join(parent, 'c')).mode & 0o7777, 0o700, 'umask 277 (mkdir alone would make it 0500)');
  } finally {
    process.umask(old);
  }

  const empty = path.join(parent, 'empty');
  mkdirSync(empty, { mode: 0o755 });
  chmodSync(empty, 0o755);
  await BlobStore.open(empty);
  t.equal(statSync(empty).mode & 0o7777, 0o700, 'an empty dir given as --root is made private');

  const shared = path.join(parent, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  writeFileSync(path.join(shared, 'someone-elses'), 'x');
  await t.rejects(BlobStore.open(shared), { code: 'ERR_STORE_ROOT', message: /reachable by other users and holds files that are not a store: use --root with a directory of its own/ });
  t.equal(statSync(shared).mode & 0o7777, 0o1777, 'its mode is left alone');
  t.same(readdirSync(shared), ['someone-elses'], 'nothing created in it');
  const cli = await runCli(['pull', 'oci:/nonexistent-layout:v1', '--root', shared]);
  t.equal(cli.code, 1);
  t.match(cli.stderr, /^oci-s2i: the store root .* holds files that are not a store/);
  t.equal(cli.stderr.trim().split('\n').length, 1, 'one line');

  const file = path.join(parent, 'file');
  writeFileSync(file, 'x');
  await t.rejects(BlobStore.open(file), { code: 'ERR_STORE_ROOT', message: /is not a directory/ });
});

// Found by a CI run of crash.test.ts: a pull killed before it made its store, then verifyStore on that missing
// root, made the root 0755 with only locks/ in it, and every later open refused it as "not a store".
t.test('verifying a store that does not exist makes nothing, and the store opens afterwards', async (t) => {
  const root = path.join(mkdtempSync(path.join(tmp, 'verify-missing-')), 'store');
  const old = process.umask(0o022);
  try {
    t.same(await verifyStore(root), { blobs: 0, layers: 0, problems: [] }, 'an empty report');
  } finally {
    process.umask(old);
  }
  t.notOk(existsSync(root), 'no root made');
  await BlobStore.open(root);
  await LayerCache.open(root);
  t.equal(statSync(root).mode & 0o7777, 0o700, 'then opened as a private store');
  t.same(await verifyStore(root), { blobs: 0, layers: 0, problems: [] }, 'an empty store verifies clean');
});

t.test('archives are unpacked into a private (0700) temp dir', { skip }, async (t) => {
  const { layout } = await getImage();
  const archive = path.join(tmp, 'image.tar');
  execFileSync('tar', ['-cf', archive, '-C', layout, '.']);
  const tmpRoot = mkdtempSync(path.join(tmp, 'archive-tmp-'));
  chmodSync(tmpRoot, 0o755);
  const old = process.umask(0o000);
  try {
    const src2 = await openOciArchiveSource(archive, 'v1', 'image', tmpRoot);
    const [dir] = readdirSync(tmpRoot);
    t.equal(statSync(path.join(tmpRoot, dir!)).mode & 0o7777, 0o700, 'mkdtemp: 0700 even under umask 000');
    await src2.close();
    t.same(readdirSync(tmpRoot), [], 'removed on close');
  } finally {
    process.umask(old);
  }
});
