// -i/--inject as s2i does it (test/integration/docker TestInjectionBuild, TestInjectionBuildBadDestination): the
// source directory's CONTENTS are copied into the destination for assemble (into /tmp next to the source and the
// scripts, which stay visible), into the WORKDIR for `DIR:` and `DIR`, relative destinations under the WORKDIR;
// assemble's user can write them; after assemble they are emptied and removed, and no byte of them is in any
// layer: sandbox builds (overlay), copied-rootfs builds and in-image builds, checked on the pushed image with
// skopeo. A destination whose parent is not in the image fails before assemble, in one line.
import t from 'tap';
import type { Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-inject-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
const root = path.join(tmp, 'root');
let builder: string;
const SECRET = 'sekrit-4711-injected';

// As s2i's sti-fake assemble: says what it was given; also writes to the injected files (as its user, 1001),
// makes a hard link to one (emptied with it), and checks the source and the scripts are not hidden.
const ASSEMBLE = `#!/bin/sh
set -e
echo "---> assemble as $(id -u)"
test -f /tmp/src/index.html && echo "source-visible"
grep -q ${SECRET} /tmp/secret && echo "secret-delivered"
grep -q ${SECRET} /opt/app-root/src/secret && echo "relative-secret-delivered"
grep -q ${SECRET} /opt/app-root/src/test/secret && grep -q ${SECRET} /opt/app-root/src/test2/nested/deep && echo "test-dirs-delivered"
echo appended >> /tmp/secret && echo "secret-writable"
echo appended >> /opt/app-root/src/test/nested/deep && echo "nested-writable"
ln /tmp/secret /tmp/linked-secret
cp -R /tmp/src/. /opt/app-root/src/
echo built > /opt/app-root/src/built
`;
const RUN = '#!/bin/sh\necho running\n';

function dirWith(files: Record<string, string>, mode = 0o644): string {
  const dir = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, n)), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(dir, n), body, { mode });
  }
  return dir;
}

const secrets = () => dirWith({ secret: `${SECRET}\n`, 'nested/deep': `${SECRET} deep\n` }, 0o600);
const source = () => dirWith({ 'index.html': 'hello\n' });

interface Layer {
  names: string[];
  tar: Buffer;
}

/** The layers of a pushed image (skopeo copies it to an OCI layout), each as its names and its tar bytes. */
function layersOf(ref: string): Layer[] {
  const layout = mkdtempSync(path.join(tmp, 'layout-'));
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:x`]);
  const blob = (d: string) => readFileSync(path.join(layout, 'blobs', 'sha256', d.replace('sha256:', '')));
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  return manifest.layers.map((l: { digest: string }) => {
    const raw = blob(l.digest);
    const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
    const file = path.join(layout, 'layer.tar');
    writeFileSync(file, bytes);
    const names = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
    return { names, tar: bytes };
  });
}

/** No byte or path of an injection in the new layer; the hard link assemble made is there, empty. */
function checkNoInjection(t: Test, ref: string): void {
  // The builder's layers hold its assemble script, which names the secret: the new layer is the one to check.
  const layers = layersOf(ref);
  const top = layers[layers.length - 1]!;
  t.notOk(top.tar.includes(SECRET), 'no injected content in the new layer');
  t.notOk(top.tar.includes('appended'), 'nothing assemble wrote into an injected file');
  const injected = top.names.filter((n) => /(^|\/)(secret|test|test2|nested|deep)(\/|$)/.test(n.split(/\s+/).pop() ?? ''));
  t.same(injected, [], 'no injected path in the new layer');
  const linked = top.names.find((n) => n.endsWith('tmp/linked-secret'));
  t.match(linked, /\s0\s/, 'the hard link assemble made to an injected file is in the layer, emptied');
  t.ok(top.names.some((n) => n.endsWith('opt/app-root/src/built')), 'what assemble built is in the layer');
  t.ok(top.names.some((n) => n.endsWith('tmp/src/index.html')), 'the source is in the layer as usual');
}

t.before(async () => {
  registry = await startRegistry();
  const scripts = dirWith({ assemble: ASSEMBLE, run: RUN }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'inject/builder'), 'latest', { scriptsDir: scripts });
  builder = `${registry.host}/inject/builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const expected = ['source-visible', 'secret-delivered', 'relative-secret-delivered', 'test-dirs-delivered', 'secret-writable', 'nested-writable'];

for (const [name, env] of [
  ['sandbox (overlay)', {}],
  ['copied rootfs', { OCI_S2I_TEST_NO_OVERLAY: '1' }],
] as const) {
  t.test(`${name}: DIR:/tmp, DIR:, DIR, DIR:test;DIR:test2 — delivered, writable, in no layer`, async (t) => {
    const s = secrets();
    const out = `${registry.host}/inject/app-${name.startsWith('sandbox') ? 'overlay' : 'copy'}:1`;
    const r = await runCli(['build', source(), builder, out, '--root', root, '-i', `${s}:/tmp`, '-i', `${s}:`, '--inject', s, '--inject', `${s}:test;${s}:test2`], { env });
    t.equal(r.code, 0, r.stderr);
    for (const line of expected) t.match(r.stderr, new RegExp(`^${line}$`, 'm'), line);
    t.match(r.stderr, /---> assemble as 1001/);
    checkNoInjection(t, out);
  });
}

t.test('a destination whose parent is not in the image fails before assemble, in one line (exit 1)', async (t) => {
  const s = secrets();
  for (const [dst, why] of [
    ['/bad/dir', /\/bad does not exist in the builder image/],
    ['/etc/passwd/x', /\/etc\/passwd is not a directory in the builder image/],
  ] as const) {
    const r = await runCli(['build', source(), builder, `${registry.host}/inject/bad:1`, '--root', root, '-i', `${s}:${dst}`]);
    t.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    t.match(lines[lines.length - 1], new RegExp(`^oci-s2i: --inject ${s}:${dst}: `));
    t.match(lines[lines.length - 1], why);
    t.notMatch(r.stderr, /---> assemble/, 'assemble never ran');
  }
  const j = await runCli(['build', source(), builder, `${registry.host}/inject/bad:1`, '--root', root, '-i', `${s}:/bad/dir`, '--json']);
  t.match(j.stderr, /"code":"ERR_INJECT_DESTINATION"/, 'the stable code');
});

t.test('a destination that is a link of the image is followed inside the root, never out of it', async (t) => {
  // link → /../../../<tmp>/host-only: in-root that is a path the image lacks (replaced by a directory), on the
  // host an existing directory of this test; tmplink → ../../tmp: the image's /tmp, merged into.
  const hostOnly = path.join(tmp, 'host-only');
  mkdirSync(hostOnly);
  const probe = dirWith({ [`probe-${process.pid}`]: `${SECRET}\n` });
  const hostile = `${registry.host}/inject/hostile:latest`;
  await pushBusyboxBuilder(client.repository(registry.host, 'inject/hostile'), 'latest', {
    scriptsDir: dirWith({ assemble: `#!/bin/sh\nset -e\ncat /opt/app-root/link/probe-${process.pid}\ncat /tmp/probe-${process.pid}\n`, run: RUN }, 0o755),
    extraLayer: [
      { name: 'opt/app-root/link', type: 'symlink', linkname: `/../../../..${hostOnly}` },
      { name: 'opt/app-root/tmplink', type: 'symlink', linkname: '../../tmp' },
    ],
  });
  const out = `${registry.host}/inject/hostile-app:1`;
  const r = await runCli(['build', source(), hostile, out, '--root', root, '-i', `${probe}:/opt/app-root/link`, '-i', `${probe}:/opt/app-root/tmplink`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr.split(SECRET).length - 1, 2, 'assemble read both, inside the root');
  t.same(readdirSync(hostOnly), [], 'nothing written on the host');
  t.notOk(existsSync(path.join('/tmp', `probe-${process.pid}`)), 'nothing written in the host /tmp');
  t.notOk(layersOf(out).pop()!.tar.includes(SECRET), 'no injected content in the new layer');
});

// In-image: the engine runs in a podman container of the builder (as in-image.test.ts); the injection source is
// bound into that container, copied into its root for assemble and gone before the layer is diffed.
const hasPodman = spawnSync('podman', ['--version']).status === 0;
const standalone = process.env.OCI_S2I_TEST_STANDALONE ?? path.join(projectRoot, 'dist', 'standalone');

t.test('in-image: DIR:/tmp and DIR: delivered, in no layer', { skip: (!hasPodman && 'podman is not installed') || (!existsSync(path.join(standalone, 'oci-s2i')) && 'no dist/standalone') }, async (t) => {
  const s = secrets();
  chmodSync(s, 0o755);
  for (const f of ['secret', 'nested/deep']) chmodSync(path.join(s, f), 0o644);
  const name = `oci-s2i-inject-${process.pid}`;
  t.teardown(() => void spawnSync('podman', ['rm', '-f', '-t', '0', name]));
  t.teardown(() => void spawnSync('podman', ['rmi', '-f', builder]));
  const out = `${registry.host}/inject/app-in-image:1`;
  const r = spawnSync(
    'podman',
    [
      'run', '--rm', '--name', name, '--runtime', 'runc', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000', '--network', 'host', '--tls-verify=false', '--user', '0',
      '-v', `${standalone}:/opt/oci-s2i:ro`, '-v', `${source()}:/workspace/source:ro`, '-v', `${s}:/workspace/secrets:ro`,
      builder,
      '/opt/oci-s2i/oci-s2i', 'build', '--isolation', 'in-image', '/workspace/source', builder, out, '--tls-verify=false',
      '-i', '/workspace/secrets:/tmp', '-i', '/workspace/secrets:', '-i', '/workspace/secrets:test;/workspace/secrets:test2',
    ],
    { encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' },
  );
  t.equal(r.status, 0, r.stderr);
  for (const line of expected) t.match(r.stderr, new RegExp(`^${line}$`, 'm'), line);
  checkNoInjection(t, out);
});
