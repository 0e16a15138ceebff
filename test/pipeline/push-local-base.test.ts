// `oci-s2i push LOCAL DEST` of a local image whose base layers were never pulled whole: a build to a local TAG on a
// runtime image without assemble-runtime appends its layer without fetching the runtime image's layers
// (S2I-CONTRACT.md "Runtime image", we do better), so the local store lacks them. push reads them from where the
// base came from (the image's org.opencontainers.image.base.name/base.digest): mounted when DEST is on the same
// registry, streamed otherwise; when that is unreachable too, one line naming the layer and what to do.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { pushScriptedBuilder } from '../helpers/scripted-builder.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-push-local-base-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
let proxy: FaultProxy;
const client = new RegistryClient();
const root = path.join(tmp, 'root');
let runtimeOnly: string[] = [];

t.before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  await pushScriptedBuilder(client.repository(registry.host, 'pl/builder'), 'latest', tmp, {
    assemble: '#!/bin/sh\nset -e\necho binary > /opt/app-root/src/app.bin\n',
    run: '#!/bin/sh\ncat bin/app.bin\n',
  });
  await pushBusyboxBuilder(client.repository(registry.host, 'pl/runtime'), 'latest', {
    withoutTar: true,
    user: '431',
    labels: { 'io.openshift.s2i.scripts-url': '' },
    extraLayer: [{ name: 'etc/', type: 'directory' }, { name: 'etc/runtime-marker', content: Buffer.from('runtime\n') }],
  });
  const layers = async (repo: string) =>
    (JSON.parse((await client.repository(registry.host, repo).resolve('latest')).bytes.toString('utf8')) as { layers: Array<{ digest: string }> }).layers.map((l) => l.digest);
  const builderLayers = new Set(await layers('pl/builder'));
  runtimeOnly = (await layers('pl/runtime')).filter((d) => !builderLayers.has(d));
});
t.teardown(async () => {
  await client.close();
  await proxy?.stop();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const inStore = (digest: string): boolean => existsSync(path.join(root, 'oci', 'blobs', 'sha256', digest.slice(7)));

/** skopeo reads every blob of the image (digest-checked) into a layout: the image is whole. */
function whole(ref: string): void {
  const dir = mkdtempSync(path.join(tmp, 'check-'));
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${dir}:x`], { stdio: 'ignore' });
}

t.test('the runtime layers are not in the local store after the build; push mounts or streams them from the base', async (t) => {
  t.ok(runtimeOnly.length >= 2, 'the runtime image has layers of its own');
  const src = path.join(tmp, 'src');
  mkdirSync(path.join(src, '.s2i', 'bin'), { recursive: true });
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  writeFileSync(path.join(src, '.s2i', 'bin', 'run'), '#!/bin/sh\nexec cat bin/app.bin\n', { mode: 0o755 });
  const b = await runCli(['build', src, `${proxy.host}/pl/builder:latest`, 'pl-app:v1', '--root', root, '--runtime-image', `${proxy.host}/pl/runtime:latest`, '-a', '/opt/app-root/src/app.bin:bin', '--sbom', 'none']);
  t.equal(b.code, 0, b.stderr);
  for (const d of runtimeOnly) t.notOk(inStore(d), `runtime layer ${d.slice(7, 19)} not in the local store (never fetched)`);

  // The same registry as the base: the base's layers are mounted, not uploaded.
  proxy.stats.reset();
  const same = await runCli(['push', 'pl-app:v1', `${proxy.host}/pl/pushed:1`, '--root', root]);
  t.equal(same.code, 0, same.stderr);
  for (const d of runtimeOnly) {
    t.match(same.stderr, new RegExp(`Pushing blob ${d.slice(7, 19)} .* mounted`), `layer ${d.slice(7, 19)} mounted from the base's repository`);
    t.equal(proxy.stats.count('GET', d), 0, 'and not downloaded');
  }
  whole(`docker://${registry.host}/pl/pushed:1`);

  // Another destination: streamed from the base's registry.
  const layout = path.join(tmp, 'out-layout');
  const other = await runCli(['push', 'pl-app:v1', `oci:${layout}:v1`, '--root', root]);
  t.equal(other.code, 0, other.stderr);
  for (const d of runtimeOnly) t.ok(existsSync(path.join(layout, 'blobs', 'sha256', d.slice(7))), `layer ${d.slice(7, 19)} streamed into the layout`);
  whole(`oci:${layout}:v1`);
});

t.test('the base unreachable too: one line naming the missing layer and what to do; nothing pushed', async (t) => {
  await proxy.stop();
  const r = await runCli(['push', 'pl-app:v1', `${registry.host}/pl/pushed-offline:1`, '--root', root]);
  t.not(r.code, 0);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('oci-s2i:'));
  t.equal(lines.length, 1, r.stderr);
  t.match(lines[0], /layer sha256:[0-9a-f]{12}.* is not in the local store/);
  t.match(lines[0], /pl\/runtime/, 'names where it came from');
  t.match(lines[0], /oci-s2i pull/, 'and what to do');
  const tags = await client.repository(registry.host, 'pl/pushed-offline').tags().catch(() => [] as string[]);
  t.same(tags, [], 'nothing pushed');
});

t.test('run NAME and local:NAME read the layers the store lacks from the base too (and keeps them)', async (t) => {
  const again = await startFaultProxy(registry.host);
  t.teardown(() => again.stop());
  // The image names the first proxy's port, which is closed now: nothing to read from; run says so in one line.
  const off = await runCli(['run', 'local:pl-app:v1', '--root', root]);
  t.not(off.code, 0);
  t.match(off.stderr, /is not in the local store, and its base .*pl\/runtime@sha256:[0-9a-f]{64} cannot give it/);
  const plainOff = await runCli(['run', 'pl-app:v1', '--root', root]);
  t.not(plainOff.code, 0);
  t.match(plainOff.stderr, /is not in the local store, and its base .*pl\/runtime@sha256:[0-9a-f]{64} cannot give it/, 'the same by its short name');
  // Built again through a reachable base, the same local image runs.
  const src = path.join(tmp, 'src');
  const b = await runCli(['build', src, `${again.host}/pl/builder:latest`, 'pl-app:v2', '--root', root, '--runtime-image', `${again.host}/pl/runtime:latest`, '-a', '/opt/app-root/src/app.bin:bin', '--sbom', 'none']);
  t.equal(b.code, 0, b.stderr);
  const run = await runCli(['run', 'pl-app:v2', '--root', root]);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, 'binary\n', 'the local image runs');
  for (const d of runtimeOnly) t.ok(inStore(d), `layer ${d.slice(7, 19)} kept in the store`);
});
