// End to end: `oci-s2i build` against the real registry, checked with skopeo and umoci; second build fetches no
// builder blob; both runtimes; rootless with a subuid range and the single-ID fallback; every failure mode.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, statSync, readdirSync, existsSync, readFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { ensureUser, cliFor, userTempDir, canCreateUsers } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec } from '../../src/demo/busybox-image.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-build-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', [...args], { encoding: 'utf8' });
}

async function builder(name: string, spec: BuilderSpec = {}): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { scriptsDir, ...spec });
  return `${registry.host}/${name}:latest`;
}

function scripts(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmp, 'scripts-'));
  for (const [n, body] of Object.entries(files)) writeFileSync(path.join(dir, n), body, { mode: 0o755 });
  return dir;
}

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'Test S2I process!\n');
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'page.txt'), 'nested\n');
  mkdirSync(path.join(dir, '.git'));
  writeFileSync(path.join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return dir;
}

t.test('docker-format build: skopeo and umoci see the builder layers plus one, run as CMD, files owned by the builder user', async (t) => {
  const b = await builder('t/builder-docker');
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const digestFile = path.join(tmp, 'digest-docker');
  const out = `${registry.host}/t/app-docker:v1`;
  const r = await runCli(['build', source(), b, out, '--root', root, '--digestfile', digestFile]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Installing application source/, 'assemble output streams to the user');
  const digest = readFileSync(digestFile, 'utf8').trim();
  t.match(digest, /^sha256:[a-f0-9]{64}$/);
  t.equal(r.stdout.trim(), digest, 'the digest is printed');
  const raw = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${out}`));
  t.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.equal(raw.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  t.equal(raw.layers.length, 3, 'two builder layers plus one');
  for (const l of raw.layers) t.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  const cfg = JSON.parse(skopeo('inspect', '--tls-verify=false', '--config', `docker://${out}`));
  t.same(cfg.config.Cmd, ['/usr/libexec/s2i/run']);
  t.equal(cfg.config.User, '1001');
  t.equal(cfg.config.Labels['io.openshift.s2i.build.image'], b);
  t.ok(cfg.config.Labels['io.openshift.s2i.build.source-location']);
  t.equal(cfg.rootfs.diff_ids.length, 3);
  // umoci: unpack the whole image and look at what assemble wrote.
  const layout = path.join(tmp, 'layout-docker');
  skopeo('copy', '--src-tls-verify=false', `docker://${out}`, `oci:${layout}:app`);
  const bundle = path.join(tmp, 'bundle-docker');
  execFileSync('umoci', ['unpack', '--image', `${layout}:app`, bundle], { stdio: 'ignore' });
  const rootfs = path.join(bundle, 'rootfs');
  const page = statSync(path.join(rootfs, 'opt/app-root/src/index.html'));
  t.equal(page.uid, 1001, 'assemble output owned by the builder user');
  t.equal(readFileSync(path.join(rootfs, 'opt/app-root/src/index.html'), 'utf8'), 'Test S2I process!\n');
  t.equal(statSync(path.join(rootfs, 'tmp/src/index.html')).uid, 1001, 'source uploaded as the assemble user');
  t.notOk(existsSync(path.join(rootfs, 'tmp/src/.git')), '.git excluded by default');
  t.ok(existsSync(path.join(rootfs, 'tmp/src/sub/page.txt')));
});

t.test('oci-format build', async (t) => {
  const b = await builder('t/builder-oci');
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const out = `${registry.host}/t/app-oci:v1`;
  const r = await runCli(['build', source(), b, out, '--root', root, '--format', 'oci', '-q']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', '-q prints nothing but errors');
  const raw = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${out}`));
  t.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  t.equal(raw.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  t.equal(raw.layers.length, 3);
  for (const l of raw.layers) t.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const cfg = JSON.parse(skopeo('inspect', '--tls-verify=false', '--config', `docker://${out}`));
  t.same(cfg.config.Cmd, ['/usr/libexec/s2i/run']);
});

t.test('a second build with the same builder fetches no builder blob and uploads only the new layer, config and manifest', async (t) => {
  await builder('t/builder-cache');
  const proxy = await startFaultProxy(registry.host);
  t.teardown(() => proxy.stop());
  const b = `${proxy.host}/t/builder-cache:latest`;
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const first = await runCli(['build', source(), b, `${proxy.host}/t/app-cache:1`, '--root', root]);
  t.equal(first.code, 0, first.stderr);
  t.ok(proxy.stats.count('GET', /\/blobs\/sha256:/) >= 3, 'first build pulls config and layers');
  proxy.stats.reset();
  // The image's own requests only: the SBOM and provenance (written after the push, test/attest/) are left out.
  const second = await runCli(['build', source(), b, `${proxy.host}/t/app-cache:2`, '--root', root, '--pull-policy', 'always', '--sbom', 'none', '--provenance=false']);
  t.equal(second.code, 0, second.stderr);
  t.equal(proxy.stats.count('GET', /\/blobs\/sha256:/), 0, 'no blob GET on the second build');
  t.equal(proxy.stats.count('GET', /\/manifests\//), 1, 'only the builder manifest is fetched (pull-policy always)');
  // Builder layers already in the target registry are never uploaded: only new layer + config go up.
  const uploads = proxy.stats.count('POST', /\/blobs\/uploads\//);
  t.ok(uploads <= 2, `at most two upload sessions (new layer, config), saw ${uploads}`);
  t.equal(proxy.stats.count('PUT', /\/manifests\//), 1);
  // The new layer and config are small: each goes up as POST + one PUT with its body, no PATCH, no HEAD first.
  t.equal(proxy.stats.count('PATCH'), 0, 'no PATCH for small blobs');
  t.equal(proxy.stats.count('PUT', /\/blobs\/uploads\//), 2, 'one PUT per new blob');
  t.equal(proxy.stats.count('HEAD'), 2, 'only the builder layers are looked for');
  t.ok(proxy.stats.requests.length <= 8, `a handful of requests in all: ${proxy.stats.requests.map((r) => `${r.method} ${r.path}`).join(', ')}`);
});

t.test('as root the default runtime is crun, and the overlay upper is volatile (no sync at unmount)', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const b = await builder('t/builder-default-rt');
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const r = await runCli(['build', source(), b, `${registry.host}/t/app-default-rt:1`, '--root', root, '--json', '-q', '--save-temp-dir']);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runtime: string; tempDir: string };
  const crun = ['/usr/bin/crun', '/usr/sbin/crun', '/usr/local/bin/crun'].some((p) => existsSync(p));
  t.equal(out.runtime, crun ? 'crun' : 'runc');
  t.ok(existsSync(path.join(out.tempDir, 'work', 'work', 'incompat', 'volatile')), 'overlay mounted with volatile');
  const explicit = await runCli(['build', source(), b, `${registry.host}/t/app-default-rt:2`, '--root', root, '--json', '-q', '--runtime', 'runc']);
  t.equal(explicit.code, 0, explicit.stderr);
  t.equal((JSON.parse(explicit.stdout.trim().split('\n').pop()!) as { runtime: string }).runtime, 'runc', '--runtime is kept');
});

t.test('crun runtime (private cgroup2 mount on hybrid hosts)', async (t) => {
  const b = await builder('t/builder-crun');
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const r = await runCli(['build', source(), b, `${registry.host}/t/app-crun:1`, '--root', root, '--runtime', 'crun']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Build finished as 1001:0/);
});

t.test('rootless: an unprivileged user with a subuid range builds, and ownership is real in the image', { skip: !canCreateUsers() && 'needs root to create a test user' }, async (t) => {
  const user = ensureUser('ocis2i-rootless', { subIds: true });
  const cli = cliFor(user);
  const b = await builder('t/builder-rootless');
  const home = userTempDir(user, 'oci-s2i-rootless-');
  const src = path.join(home, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'index.html'), 'rootless!\n');
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
  const out = `${registry.host}/t/app-rootless:1`;
  const r = await runCli(['build', src, b, out, '--root', path.join(home, 'cache')], { user, cli, env: { XDG_CACHE_HOME: path.join(home, '.cache') } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Build finished as 1001:0/);
  const layout = path.join(tmp, 'layout-rootless');
  skopeo('copy', '--src-tls-verify=false', `docker://${out}`, `oci:${layout}:app`);
  const bundle = path.join(tmp, 'bundle-rootless');
  execFileSync('umoci', ['unpack', '--image', `${layout}:app`, bundle], { stdio: 'ignore' });
  t.equal(statSync(path.join(bundle, 'rootfs/opt/app-root/src/index.html')).uid, 1001);
  // The user's cache holds the unpacked layers with subordinate owners; cleaning it needs the namespace, which
  // the build did for its own temp dirs:
  t.same(readdirSync(path.join(home, 'cache', 'builds')), [], 'build dirs removed');
});

t.test('rootless without a subuid range: a clear warning, and the single-ID fallback builds a root-user image', { skip: !canCreateUsers() && 'needs root' }, async (t) => {
  const user = ensureUser('ocis2i-nosubid', { subIds: false });
  const cli = cliFor(user);
  const b = await builder('t/builder-rootuser', { user: '0' });
  const home = userTempDir(user, 'oci-s2i-nosub-');
  const src = path.join(home, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'index.html'), 'single\n');
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
  const r = await runCli(['build', src, b, `${registry.host}/t/app-single:1`, '--root', path.join(home, 'cache')], { user, cli });
  t.match(r.stderr, /no subordinate ID range/);
  t.match(r.stderr, /usermod --add-subuids/);
  t.equal(r.code, 0, r.stderr);
});

t.test('failures', async (t) => {
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const b = await builder('t/builder-fail');

  t.test('unknown tag: exit 2, names the reference', async (t) => {
    const r = await runCli(['build', source(), `${registry.host}/t/builder-fail:nope`, `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 2);
    t.match(r.stderr, /t\/builder-fail:nope|builder-fail.*nope/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });
  t.test('unknown repository: exit 2', async (t) => {
    const r = await runCli(['build', source(), `${registry.host}/t/never-pushed:latest`, `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 2);
    t.match(r.stderr, /never-pushed/);
  });
  t.test('registry unreachable: exit 2', async (t) => {
    const r = await runCli(['build', source(), '127.0.0.1:1/t/b:latest', `${registry.host}/t/x:1`, '--root', root, '--retry', '1']);
    t.equal(r.code, 2);
    t.match(r.stderr, /127\.0\.0\.1:1/);
  });
  t.test('invalid reference: shows the grammar', async (t) => {
    const r = await runCli(['build', source(), 'UPPER/Case', `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 1);
    t.match(r.stderr, /HOST\[:PORT\]\/\]NAME\[:TAG\]/);
  });
  t.test('source dir missing: exit 14', async (t) => {
    const r = await runCli(['build', path.join(tmp, 'missing'), b, `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 14);
    t.match(r.stderr, /missing/);
  });
  t.test('no assemble script: exit 11, says where it looked', async (t) => {
    const nb = await builder('t/builder-noassemble', { scriptsDir: scripts({ run: '#!/bin/sh\nexit 0\n' }) });
    const r = await runCli(['build', source(), nb, `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 11);
    t.match(r.stderr, /assemble/);
    t.match(r.stderr, /\.s2i\/bin/);
    t.match(r.stderr, /image:\/\/\/usr\/libexec\/s2i/);
  });
  t.test('assemble exits non-zero: exit 4 with its last lines', async (t) => {
    const fb = await builder('t/builder-assemblefail', { scriptsDir: scripts({ assemble: '#!/bin/sh\necho compiling\necho "error: broken build" >&2\nexit 3\n', run: '#!/bin/sh\n' }) });
    const r = await runCli(['build', source(), fb, `${registry.host}/t/x:1`, '--root', root]);
    t.equal(r.code, 4);
    t.match(r.stderr, /exited with code 3/);
    t.match(r.stderr, /error: broken build/);
    t.same(readdirSync(path.join(root, 'builds')), [], 'no build dir left behind');
  });
  t.test('unknown flag and bad flag values: usage errors', async (t) => {
    const r1 = await runCli(['build', source(), b, `${registry.host}/t/x:1`, '--no-such-flag']);
    t.equal(r1.code, 64);
    t.match(r1.stderr, /no-such-flag/);
    const r2 = await runCli(['build', source(), b, `${registry.host}/t/x:1`, '--format', 'v1']);
    t.equal(r2.code, 64);
    t.match(r2.stderr, /docker, oci/);
    const r3 = await runCli(['build', source(), b, `${registry.host}/t/x:1`, '--format', 'docker', '--compression', 'zstd']);
    t.equal(r3.code, 64);
    t.match(r3.stderr, /zstd/);
    // No BUILDER is bad usage (no TAG is a local build: test/pipeline/local-store.test.ts).
    const r4 = await runCli(['build', source()]);
    t.equal(r4.code, 64);
    t.match(r4.stderr, /build takes SOURCE BUILDER \[TAG\]/);
  });
  t.test('corrupted blob in the registry: digest mismatch, nothing cached', async (t) => {
    const cb = await builder('t/builder-corrupt');
    const manifest = JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${cb}`));
    const layer = manifest.layers[0].digest.replace('sha256:', '');
    const data = path.join(registry.dataDir, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer, 'data');
    const bytes = readFileSync(data);
    bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
    writeFileSync(data, bytes);
    t.teardown(() => {
      bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
      writeFileSync(data, bytes);
    });
    const croot = mkdtempSync(path.join(tmp, 'root-corrupt-'));
    const r = await runCli(['build', source(), cb, `${registry.host}/t/x:1`, '--root', croot, '--retry', '1']);
    t.not(r.code, 0);
    t.match(r.stderr, /digest|mismatch/i);
    t.notOk(existsSync(path.join(croot, 'oci', 'blobs', 'sha256', layer)), 'corrupt blob not stored');
  });
});
