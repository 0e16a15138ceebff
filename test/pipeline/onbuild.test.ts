// s2i's onbuild strategy (issue 13): a builder with ONBUILD triggers is built as `FROM builder` with the source
// as context, so the triggers run; assemble/run from outside the image land at the context root; `sh assemble`
// runs; the ENTRYPOINT is guessed. The result is an ordinary build output: --format, labels, the push, or an
// oci: destination. Busybox builders (src/demo/busybox-image.ts) in a real registry; results read back with
// skopeo and unpacked with umoci. Bad input: no entrypoint, a trigger that may not be one, --runtime-image.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli as runCliRaw, type CliResult } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec } from '../../src/demo/busybox-image.js';

const runCli = (args: string[]): Promise<CliResult> => runCliRaw(args, { env: { NODE_OPTIONS: '' } });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-onbuild-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
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

function dirWith(files: Record<string, string>, mode = 0o644): string {
  const dir = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    writeFileSync(path.join(dir, n), body, { mode: n.endsWith('.sh') || /(^|\/)(run|assemble|start)$/.test(n) ? 0o755 : mode });
  }
  return dir;
}

async function builder(name: string, spec: BuilderSpec): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', spec);
  return `${registry.host}/${name}:latest`;
}

interface Unpacked {
  manifestType: string;
  config: { config: { Entrypoint?: string[]; WorkingDir?: string; Labels?: Record<string, string>; OnBuild?: string[]; Env?: string[]; User?: string } };
  rootfs: string;
}

/** skopeo copies into an OCI layout (or reads the one given), umoci unpacks it. */
function unpack(ref: string, fromLayout?: string): Unpacked {
  const layout = fromLayout ?? mkdtempSync(path.join(tmp, 'layout-'));
  if (!fromLayout) execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:x`]);
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:${fromLayout ? ref : 'x'}`], { encoding: 'utf8' })) as { mediaType?: string };
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${layout}:${fromLayout ? ref : 'x'}`], { encoding: 'utf8' }));
  const bundle = mkdtempSync(path.join(tmp, 'bundle-'));
  rmSync(bundle, { recursive: true });
  execFileSync('umoci', ['unpack', '--image', `${layout}:${fromLayout ? ref : 'x'}`, bundle]);
  return { manifestType: raw.mediaType ?? '', config, rootfs: path.join(bundle, 'rootfs') };
}

const TRIGGERS = ['RUN echo triggered > /tmp/triggered && id -u > /tmp/trigger-uid', 'COPY . /opt/app/', 'WORKDIR /opt/app', 'ENV FROM_TRIGGER=yes'];
const ASSEMBLE = '#!/bin/sh\nset -e\necho "assembled from $(pwd) with GREETING=$GREETING" > /opt/app/assembled\n';

t.test('the triggers run with the source as context; assemble and run from .s2i/bin; an ordinary build output', async (t) => {
  const b = await builder('t/onbuild', { onBuild: TRIGGERS, user: '0' });
  const src = dirWith({ 'index.html': 'hello\n', '.s2i/bin/assemble': ASSEMBLE, '.s2i/bin/run': '#!/bin/sh\nexec cat /opt/app/index.html\n', '.s2i/environment': 'GREETING=hi $there\n', '.s2iignore': 'secret.txt\n', 'secret.txt': 'no\n' });
  chmodSync(path.join(src, '.s2i/bin/assemble'), 0o755);
  chmodSync(path.join(src, '.s2i/bin/run'), 0o755);
  const out = `${registry.host}/t/onbuild-app:1`;
  const r = await runCli(['build', src, b, out, '--root', root, '--format', 'oci', '--label', 'team=blue', '-e', 'EXTRA=1']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /has 4 ONBUILD triggers: building as s2i's onbuild strategy does/);
  t.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/, 'the digest on stdout');
  const img = unpack(out);
  t.equal(img.manifestType, 'application/vnd.oci.image.manifest.v1+json', '--format oci');
  const file = (p: string) => path.join(img.rootfs, p);
  t.equal(readFileSync(file('tmp/triggered'), 'utf8'), 'triggered\n', 'ONBUILD RUN ran');
  t.equal(readFileSync(file('tmp/trigger-uid'), 'utf8'), '0\n', 'as the builder USER');
  t.equal(readFileSync(file('opt/app/index.html'), 'utf8'), 'hello\n', 'ONBUILD COPY . copied the source');
  t.ok(existsSync(file('opt/app/assemble')) && existsSync(file('opt/app/run')), 'assemble and run from .s2i/bin at the context root');
  t.notOk(existsSync(file('opt/app/secret.txt')), '.s2iignore applied to the context');
  t.equal(readFileSync(file('opt/app/assembled'), 'utf8'), 'assembled from /opt/app with GREETING=hi $there\n', 'sh assemble ran in the WORKDIR the triggers set, with the environment');
  t.same(img.config.config.Entrypoint, ['./run'], 'ENTRYPOINT ["./run"]');
  t.equal(img.config.config.WorkingDir, '/opt/app');
  t.notOk(img.config.config.OnBuild?.length, 'the triggers are not inherited');
  const env = img.config.config.Env ?? [];
  t.ok(env.includes('FROM_TRIGGER=yes') && env.includes('EXTRA=1') && env.includes('GREETING=hi $there'), `ENV from the trigger, -e and .s2i/environment: ${env.join(' ')}`);
  const labels = img.config.config.Labels ?? {};
  t.equal(labels.team, 'blue', '--label');
  t.equal(labels['io.openshift.s2i.build.image'], b, 'the generated labels');
  t.equal(labels['io.openshift.s2i.build.source-location'], src);
});

t.test('a start.sh in the source is the entrypoint; an oci: destination; --block-onbuild runs the S2I scripts instead', async (t) => {
  const scripts = dirWith({ assemble: '#!/bin/sh\necho s2i-assemble > /tmp/s2i-assembled\n', run: '#!/bin/sh\necho run\n' });
  const b = await builder('t/onbuild-start', { onBuild: ['COPY . /srv/', 'WORKDIR /srv'], user: '0', scriptsDir: scripts });
  const src = dirWith({ 'start.sh': '#!/bin/sh\necho started\n', 'data.txt': 'x\n' });
  const layout = path.join(tmp, 'out-layout');
  const r = await runCli(['build', src, b, `oci:${layout}:app`, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  const img = unpack('app', layout);
  t.same(img.config.config.Entrypoint, ['./start.sh'], 'the guessed entrypoint');
  t.ok(existsSync(path.join(img.rootfs, 'srv/data.txt')), 'the trigger copied the source');
  t.notOk(existsSync(path.join(img.rootfs, 'srv/assemble')), "image:// scripts stay in the image (s2i copies only what it downloaded)");
  t.notOk(existsSync(path.join(img.rootfs, 'tmp/s2i-assembled')), 'no assemble ran (none at the context root)');

  const blocked = `${registry.host}/t/onbuild-blocked:1`;
  const k = await runCli(['build', src, b, blocked, '--root', root, '--block-onbuild']);
  t.equal(k.code, 0, k.stderr);
  const kimg = unpack(blocked);
  t.ok(existsSync(path.join(kimg.rootfs, 'tmp/s2i-assembled')), "--block-onbuild: the image's assemble ran");
  t.notOk(existsSync(path.join(kimg.rootfs, 'srv/data.txt')), 'and no trigger');
});

t.test('bad input: no entrypoint, a FROM trigger, --runtime-image — one line each, nothing pushed', async (t) => {
  const b = await builder('t/onbuild-noentry', { onBuild: ['COPY . /srv/'], user: '0' });
  const src = dirWith({ 'index.html': 'x\n', run: 'not executable\n' });
  chmodSync(path.join(src, 'run'), 0o644);
  const none = await runCli(['build', src, b, `${registry.host}/t/onbuild-bad:1`, '--root', root]);
  t.equal(none.code, 11, 'no entrypoint: exit 11 (a run script is missing)');
  t.match(none.stderr, /\noci-s2i: builder \S+ has ONBUILD triggers, and s2i's onbuild strategy needs an entrypoint: add an executable run, start, exec or execute \(\.sh\) at the source root/);

  const from = await builder('t/onbuild-from', { onBuild: ['FROM busybox'], user: '0' });
  const ok = dirWith({ 'run.sh': '#!/bin/sh\n' });
  const f = await runCli(['build', ok, from, `${registry.host}/t/onbuild-bad:2`, '--root', root]);
  t.equal(f.code, 64, 'FROM as a trigger: exit 64');
  t.match(f.stderr, /ONBUILD:1: FROM is not allowed as an ONBUILD trigger; rebuild the base image without it\n$/);

  const rt = await runCli(['build', ok, b, `${registry.host}/t/onbuild-bad:3`, '--root', root, '--runtime-image', b]);
  t.not(rt.code, 0, '--runtime-image is refused');
  t.match(rt.stderr, /s2i's onbuild strategy has no runtime image: leave out --runtime-image, or give --block-onbuild/);
  t.equal((await runCli(['inspect', '--tls-verify=false', b])).code, 0, 'inspect finds an image that is there');
  for (const tag of ['1', '2', '3']) {
    const r = await runCli(['inspect', '--tls-verify=false', `${registry.host}/t/onbuild-bad:${tag}`]).catch(() => undefined);
    t.not(r?.code, 0, `nothing pushed as :${tag}`);
  }
});

t.test('a local TAG keeps the onbuild result in the local store (s2i TestCleanBuildOnBuildNoName: a name, no registry); no TAG is one line', async (t) => {
  const b = await builder('t/onbuild-local', { onBuild: ['COPY . /srv/', 'WORKDIR /srv'], user: '0' });
  const src = dirWith({ 'start.sh': '#!/bin/sh\necho started\n', 'data.txt': 'local\n' });
  const r = await runCli(['build', src, b, 'onbuild-local-app:v1', '--root', root]);
  t.equal(r.code, 0, r.stderr);
  const images = await runCli(['images', '--root', root, '--json']);
  t.equal(images.code, 0, images.stderr);
  t.match(images.stdout, /localhost\/onbuild-local-app/, 'listed by images');
  const layout = path.join(tmp, 'local-out');
  const c = await runCli(['copy', '--root', root, 'local:onbuild-local-app:v1', `oci:${layout}:app`]);
  t.equal(c.code, 0, c.stderr);
  const img = unpack('app', layout);
  t.equal(readFileSync(path.join(img.rootfs, 'srv/data.txt'), 'utf8'), 'local\n', 'the trigger copied the source');
  t.same(img.config.config.Entrypoint, ['./start.sh']);

  const none = await runCli(['build', src, b, '--root', root]);
  t.equal(none.code, 64, 'no TAG: exit 64');
  t.match(none.stderr, /has ONBUILD triggers \(s2i's onbuild strategy\), whose result is kept under a name: give a TAG/);
  t.equal(none.stderr.trim().split('\n').filter((l) => l.startsWith('oci-s2i:')).length, 1, 'one line');
});
