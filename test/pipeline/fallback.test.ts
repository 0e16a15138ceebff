// `--isolation auto`, the fallback chain on this host: the single-ID user namespace with a builder USER other than
// 0, the copied rootfs where the overlay cannot be mounted (forced, and for real: a cache on an overlay mount),
// and `--isolation sandbox`, which takes no fallback and fails with the one sandbox line (exit 13). Every layer
// a fallback wrote is compared, entry by entry, with the overlay build's of the same source.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { ensureUser, cliFor, userTempDir, canCreateUsers } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-fallback-test-'));
chmodSync(tmp, 0o755);
const isRoot = process.getuid?.() === 0;
let registry: TestRegistry;
let builder: string;
const client = new RegistryClient();
const mounted: string[] = [];

t.before(async () => {
  registry = await startRegistry();
  // USER 1001 (the default of the busybox builder): the case a single-ID namespace cannot chown to.
  await pushBusyboxBuilder(client.repository(registry.host, 't/fallback-builder'), 'latest', { scriptsDir });
  builder = `${registry.host}/t/fallback-builder:latest`;
});
t.teardown(async () => {
  for (const m of mounted.reverse()) spawnUmount(m);
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function spawnUmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

function source(parent = tmp): string {
  const dir = mkdtempSync(path.join(parent, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'fallback\n');
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'page.txt'), 'nested\n');
  return dir;
}

/** The new (last) layer of a pushed image: `mode owner size name` per entry (mtimes are clamped by --timestamp 0). */
function lastLayerListing(ref: string): string {
  const dir = mkdtempSync(path.join(tmp, 'img-'));
  rmSync(dir, { recursive: true });
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${dir}`], { stdio: 'ignore' });
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  const last = manifest.layers[manifest.layers.length - 1]!.digest.replace(/^sha256:/, '');
  return execFileSync('tar', ['tvzf', path.join(dir, last), '--numeric-owner'], { encoding: 'utf8' });
}

const oneSandboxLine = /^oci-s2i: cannot set up the build sandbox: [^\n]+--isolation in-image[^\n]+$/m;

let overlayListing = '';
t.test('overlay build (the reference), with its isolation in --json', { skip: !isRoot && 'needs root' }, async (t) => {
  const out = `${registry.host}/t/fallback-overlay:1`;
  const r = await runCli(['build', source(), builder, out, '--root', mkdtempSync(path.join(tmp, 'root-')), '--timestamp', '0', '--json']);
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { isolation?: string };
  t.equal(result.isolation, 'sandbox/root/overlay');
  overlayListing = lastLayerListing(out);
  t.match(overlayListing, /-rw-r--r-- 1001\/0 +\d+ [\d-]+ [\d:]+ opt\/app-root\/src\/index\.html/);
});

t.test('no overlay (forced): the copied rootfs builds the same layer, and says so in one line', { skip: !isRoot && 'needs root' }, async (t) => {
  const out = `${registry.host}/t/fallback-copy:1`;
  const r = await runCli(['build', source(), builder, out, '--root', mkdtempSync(path.join(tmp, 'root-')), '--timestamp', '0'], { env: { OCI_S2I_TEST_NO_OVERLAY: '1' } });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr.match(/^warning: overlay cannot be mounted here \(OCI_S2I_TEST_NO_OVERLAY=1\): using a copied rootfs \(slower\)$/gm)?.length, 1, r.stderr);
  t.match(r.stderr, /^isolation: sandbox \(root, private mount namespace, copied rootfs\)$/m);
  t.equal(lastLayerListing(out), overlayListing, 'the same entries, modes and owners as the overlay build');
});

t.test('the cache on an overlay mount (overlay on overlay, refused by the kernel): the copied rootfs builds', { skip: !isRoot && 'needs root' }, async (t) => {
  const base = mkdtempSync(path.join(tmp, 'ovl-'));
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(path.join(base, d));
  const merged = path.join(base, 'merged');
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, merged]);
  mounted.push(merged);
  const out = `${registry.host}/t/fallback-ovl:1`;
  const r = await runCli(['build', source(), builder, out, '--root', path.join(merged, 'cache'), '--timestamp', '0']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^warning: overlay cannot be mounted here \([^)]*overlay on overlay is refused\): using a copied rootfs \(slower\)$/m);
  t.equal(lastLayerListing(out), overlayListing, 'the same layer as the overlay build');
  t.test('--isolation sandbox there: no copy, exit 13 and the one line', async (t) => {
    const r = await runCli(['build', source(), builder, `${registry.host}/t/fallback-ovl:2`, '--root', path.join(merged, 'cache'), '--isolation', 'sandbox']);
    t.equal(r.code, 13, r.stderr);
    t.match(r.stderr, oneSandboxLine);
    t.match(r.stderr, /the overlay rootfs cannot be mounted here/);
    t.notMatch(r.stderr, /unexpected error|exited with code|at .*\.js:\d+/);
  });
});

t.test('rootless without a subuid range, builder USER 1001: builds, warns once what was mapped, records 1001', { skip: !canCreateUsers() && 'needs root' }, async (t) => {
  const user = ensureUser('ocis2i-nosubid', { subIds: false });
  const cli = cliFor(user);
  const home = userTempDir(user, 'oci-s2i-fallback-');
  const src = source(home);
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
  for (const [name, env] of [['overlay', {}], ['copy', { OCI_S2I_TEST_NO_OVERLAY: '1' }]] as const) {
    t.test(name, async (t) => {
      const out = `${registry.host}/t/fallback-single-${name}:1`;
      const r = await runCli(['build', src, builder, out, '--root', path.join(home, `cache-${name}`), '--timestamp', '0'], { user, cli, env });
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stderr.match(/^warning: single-ID user namespace: assemble runs as uid 0 \(your uid \d+, the only ID mapped\) instead of the builder's USER 1001:0; the files it creates are recorded as 1001:0 in the layer$/gm)?.length, 1, r.stderr);
      t.match(r.stderr, new RegExp(`^isolation: sandbox \\(rootless, single-ID user namespace, ${name === 'copy' ? 'copied' : 'overlay'} rootfs\\)$`, 'm'));
      const listing = lastLayerListing(out);
      t.match(listing, /-rw-r--r-- 1001\/0 +\d+ [\d-]+ [\d:]+ tmp\/src\/index\.html/);
      t.match(listing, /-rw-r--r-- 1001\/0 +\d+ [\d-]+ [\d:]+ opt\/app-root\/src\/sub\/page\.txt/);
      t.notMatch(listing, / 0\/0 .*opt\/app-root\/src\/index\.html/, 'nothing the build created is owned by root');
    });
  }
});

t.test('--incremental on the fallbacks: save-artifacts runs single-ID (as 0) in a copied previous image', { skip: !canCreateUsers() && 'needs root' }, async (t) => {
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  chmodSync(scripts, 0o755);
  const files: Record<string, string> = {
    assemble:
      '#!/bin/sh\nset -e\nn=0\nif [ -f /tmp/artifacts/cache/counter ]; then n=$(cat /tmp/artifacts/cache/counter); echo "restored counter $n"; fi\n' +
      'mkdir -p /opt/app-root/src/cache\necho $((n+1)) > /opt/app-root/src/cache/counter\n',
    run: '#!/bin/sh\nexit 0\n',
    'save-artifacts': '#!/bin/sh\ncd /opt/app-root/src\ntar -cf - cache\n',
  };
  for (const [n, body] of Object.entries(files)) writeFileSync(path.join(scripts, n), body, { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, 't/fallback-incr'), 'latest', { scriptsDir: scripts });
  const user = ensureUser('ocis2i-nosubid', { subIds: false });
  const home = userTempDir(user, 'oci-s2i-fallback-incr-');
  const src = source(home);
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
  const out = `${registry.host}/t/fallback-incr-app:1`;
  const args = ['build', src, `${registry.host}/t/fallback-incr:latest`, out, '--root', path.join(home, 'cache'), '--incremental', '--incremental-pull-policy', 'always'];
  const env = { OCI_S2I_TEST_NO_OVERLAY: '1' };
  const first = await runCli(args, { user, cli: cliFor(user), env });
  t.equal(first.code, 0, first.stderr);
  const second = await runCli(args, { user, cli: cliFor(user), env });
  t.equal(second.code, 0, second.stderr);
  t.match(second.stderr, /restored counter 1/);
  t.match(lastLayerListing(out), /1001\/0 .*opt\/app-root\/src\/cache\/counter/);
});

t.test('--isolation sandbox with the overlay refused: exit 13, one line, no copy', { skip: !isRoot && 'needs root' }, async (t) => {
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const r = await runCli(['build', source(), builder, `${registry.host}/t/fallback-strict:1`, '--root', root, '--isolation', 'sandbox'], { env: { OCI_S2I_TEST_NO_OVERLAY: '1' } });
  t.equal(r.code, 13, r.stderr);
  t.match(r.stderr, oneSandboxLine);
  t.notMatch(r.stderr, /copied rootfs \(slower\)/);
  t.same(execFileSync('ls', [path.join(root, 'builds')], { encoding: 'utf8' }), '', 'no build dir left behind');
});
