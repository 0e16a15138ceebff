// S2I behaviours end to end (S2I-CONTRACT.md): the reference's test builders recreated from busybox, built
// with the real CLI against a real registry, results read back with skopeo and tar.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync, readFileSync, chmodSync, readdirSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { runCli, cliPath, projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-s2i-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
const root = path.join(tmp, 'root');

t.before(async () => {
  registry = await startRegistry();
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const RUN = '#!/bin/sh\necho running\n';
const BASIC_ASSEMBLE = '#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/src/\necho "---> Build finished as $(id -u):$(id -g)"\n';

function dirWith(files: Record<string, string>, mode = 0o755): string {
  const dir = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    writeFileSync(path.join(dir, n), body, { mode });
  }
  return dir;
}

async function builder(name: string, scripts: Record<string, string> | undefined, spec: BuilderSpec = {}): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { ...(scripts ? { scriptsDir: dirWith(scripts) } : {}), ...spec });
  return `${registry.host}/${name}:latest`;
}

function source(extra: Record<string, string> = {}): string {
  return dirWith({ 'index.html': 'hello\n', ...extra }, 0o644);
}

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8' });
}

interface Pulled {
  config: { config: { Env?: string[]; Cmd?: string[]; User?: string; Labels?: Record<string, string> }; rootfs: { diff_ids: string[] } };
  manifest: { layers: Array<{ digest: string }> };
  layers: Array<{ names: string[]; tar: Buffer }>;
}

/** Copies an image to an OCI layout and reads every layer's tar. */
function pullImage(ref: string): Pulled {
  const layout = mkdtempSync(path.join(tmp, 'layout-'));
  skopeo('copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:x`);
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const blob = (d: string) => readFileSync(path.join(layout, 'blobs', 'sha256', d.replace('sha256:', '')));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  const layers = manifest.layers.map((l: { digest: string }) => {
    const raw = blob(l.digest);
    const tar = raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
    const file = path.join(layout, 'layer.tar');
    writeFileSync(file, tar);
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean).map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''));
    return { names, tar };
  });
  return { config, manifest, layers };
}

const last = (img: Pulled) => img.layers[img.layers.length - 1]!;

t.test('io.openshift.s2i.build.image is BUILDER as written: no added registry or :latest (build and --as-dockerfile)', async (t) => {
  await builder('t/s2i-name', { assemble: BASIC_ASSEMBLE, run: RUN });
  const asWritten = `${registry.host}/t/s2i-name`;
  const src = source();
  const r = await runCli(['build', src, asWritten, `${registry.host}/t/s2i-name-app:1`, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.equal(pullImage(`${registry.host}/t/s2i-name-app:1`).config.config.Labels?.['io.openshift.s2i.build.image'], asWritten, 'build: no :latest added');
  const df = path.join(tmp, 'name-df') + '/';
  const d = await runCli(['build', src, asWritten, '--as-dockerfile', df, '--root', root]);
  t.equal(d.code, 0, d.stderr);
  t.match(readFileSync(path.join(df, 'Dockerfile'), 'utf8'), `"io.openshift.s2i.build.image"="${asWritten}"`, '--as-dockerfile: the same');
  // Written with a tag: kept with it.
  const tagged = `${asWritten}:latest`;
  const r2 = await runCli(['build', src, tagged, `${registry.host}/t/s2i-name-app:2`, '--root', root]);
  t.equal(r2.code, 0, r2.stderr);
  t.equal(pullImage(`${registry.host}/t/s2i-name-app:2`).config.config.Labels?.['io.openshift.s2i.build.image'], tagged);
});

t.test('clean build: .s2i/bin override, environment order, --build-env not persisted, labels, .s2iignore, --exclude, callback', async (t) => {
  const received: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const b = await builder('t/s2i-clean', { assemble: '#!/bin/sh\necho IMAGE ASSEMBLE\nexit 1\n', run: RUN });
  const src = source({
    '.s2i/bin/assemble':
      '#!/bin/sh\nset -e\necho "override assemble FOO=$FOO BAR=$BAR BAZ=$BAZ SECRET=$SECRET"\nls /tmp/scripts/assemble\ncp -R /tmp/src/. /opt/app-root/src/\n' +
      'mkdir -p /tmp/.s2i\necho \'{"labels":[{"from.metadata":"yes"},{"io.k8s.display-name":"meta-name"}]}\' > /tmp/.s2i/image_metadata.json\n',
    '.s2i/environment': '# comment\nFOO=from-file\nBAR = from-file\n',
    '.s2iignore': '*.log\n!keep.log\n',
    'debug.log': 'x\n',
    'keep.log': 'x\n',
    'secret.txt': 'x\n',
  });
  chmodSync(path.join(src, '.s2i/bin/assemble'), 0o755);
  const envFile = path.join(tmp, 'env-file');
  writeFileSync(envFile, 'BAZ=1\nZED=2\n');
  const out = `${registry.host}/t/s2i-clean-app:1`;
  const cb = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const r = await runCli([
    'build', src, b, out, '--root', root, '-e', 'BAR=from-flag', '-E', envFile, '--build-env', 'SECRET=topsecret-value',
    '--label', 'extra=1', '-n', 'my-app', '--description', 'An app', '-u', '1-', '--callback-url', cb,
    '--exclude', '(^|/)(\\.git|secret\\.txt)(/|$)',
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /override assemble FOO=from-file BAR=from-flag BAZ=1 SECRET=topsecret-value/, '.s2i/bin/assemble ran with the merged env');
  t.notMatch(r.stderr, /IMAGE ASSEMBLE/);
  const img = pullImage(out);
  const env = img.config.config.Env ?? [];
  t.ok(env.includes('FOO=from-file') && env.includes('BAR=from-flag') && env.includes('BAZ=1') && env.includes('ZED=2'), 'build env persisted into Env');
  t.ok(env.indexOf('BAZ=1') < env.indexOf('ZED=2'), '-E order kept');
  t.notOk(env.some((e) => e.startsWith('SECRET=')), '--build-env not in the config');
  for (const l of img.layers) t.notOk(l.tar.includes('topsecret-value'), '--build-env value in no layer');
  t.same(img.config.config.Cmd, ['/usr/libexec/s2i/run'], 'run from the image is the CMD');
  t.equal(img.config.config.User, '1001', 'User = builder USER');
  const labels = img.config.config.Labels ?? {};
  t.equal(labels['from.metadata'], 'yes', 'label from image_metadata.json');
  t.equal(labels['io.k8s.display-name'], 'meta-name', 'image_metadata.json wins over -n');
  t.equal(labels['io.k8s.description'], 'An app');
  t.equal(labels.extra, '1');
  t.equal(labels['io.openshift.s2i.build.image'], b);
  const names = last(img).names;
  t.ok(names.includes('tmp/scripts/assemble'), 'override script uploaded to <dest>/scripts');
  t.ok(names.includes('opt/app-root/src/index.html'), 'assemble output');
  t.ok(names.includes('tmp/src/keep.log'), '! re-includes');
  t.notOk(names.includes('tmp/src/debug.log'), '.s2iignore pattern');
  t.notOk(names.includes('tmp/src/secret.txt'), '--exclude regex');
  t.equal(received.length, 1, 'callback posted once');
  t.match(received[0], { success: true, labels: { 'from.metadata': 'yes' } });

  const fb = await builder('t/s2i-cb-fail', { assemble: '#!/bin/sh\nexit 2\n', run: RUN });
  const f = await runCli(['build', source(), fb, `${registry.host}/t/x:1`, '--root', root, '--callback-url', cb]);
  t.equal(f.code, 4);
  t.match(received[1], { success: false }, 'callback on failure too');
});

t.test('scripts from an http:// scripts-url label (loopback server)', async (t) => {
  const server = http.createServer((req, res) => {
    const scripts: Record<string, string> = { '/s2i/assemble': '#!/bin/sh\necho "http assemble"\ncp -R /tmp/src/. /opt/app-root/src/\n', '/s2i/run': RUN };
    const body = scripts[req.url ?? ''];
    res.statusCode = body ? 200 : 404;
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/s2i`;
  const b = await builder('t/s2i-http', undefined, { labels: { 'io.openshift.s2i.scripts-url': url } });
  const out = `${registry.host}/t/s2i-http-app:1`;
  const r = await runCli(['build', source(), b, out, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /http assemble/);
  const img = pullImage(out);
  t.same(img.config.config.Cmd, ['/tmp/scripts/run'], 'downloaded run is the CMD at <dest>/scripts');
  t.ok(last(img).names.includes('tmp/scripts/run'));
});

t.test('allowed UIDs matrix (exit 15)', async (t) => {
  const scripts = { assemble: BASIC_ASSEMBLE, run: RUN };
  const named = await builder('t/s2i-user-named', scripts, { user: 'named' });
  const label0 = await builder('t/s2i-user-label0', scripts, { labels: { 'io.openshift.s2i.assemble-user': '0' } });
  const ok431 = await builder('t/s2i-user-431', scripts, { user: '431', labels: { 'io.openshift.s2i.assemble-user': '431' } });
  const target = `${registry.host}/t/s2i-uid:1`;
  for (const [what, b, extra, re] of [
    ['named USER', named, [], /image USER "named" is a name/],
    ['assemble-user label 0', label0, [], /label io.openshift.s2i.assemble-user "0"/],
    ['--assemble-user root', ok431, ['--assemble-user', 'root'], /--assemble-user "root" is a name/],
    ['USER outside the range', ok431, ['-u', '1000-2000'], /outside/],
  ] as Array<[string, string, string[], RegExp]>) {
    const r = await runCli(['build', source(), b, target, '--root', root, ...(extra.includes('-u') ? [] : ['-u', '1-']), ...extra]);
    t.equal(r.code, 15, `${what}: exit 15`);
    t.match(r.stderr, re, what);
  }
  const r = await runCli(['build', source(), ok431, target, '--root', root, '-u', '1-']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Build finished as 431:0/, 'numeric USER 431 with assemble-user label 431 builds');
  const bad = await runCli(['build', source(), ok431, target, '--root', root, '-u', '1-x']);
  t.not(bad.code, 0, 'bad --allowed-uids syntax');
  t.match(bad.stderr, /allowed-uids/);
});

t.test('incremental: save-artifacts in the previous image restores artifacts; fallbacks are clean builds', async (t) => {
  const b = await builder('t/s2i-incr', {
    assemble:
      '#!/bin/sh\nset -e\nn=0\nif [ -f /tmp/artifacts/cache/counter ]; then n=$(cat /tmp/artifacts/cache/counter); echo "restored counter $n"; fi\n' +
      'mkdir -p /opt/app-root/src/cache\necho $((n+1)) > /opt/app-root/src/cache/counter\n',
    run: RUN,
    'save-artifacts': '#!/bin/sh\ncd /opt/app-root/src\ntar -cf - cache\n',
  });
  const out = `${registry.host}/t/s2i-incr-app:1`;
  const first = await runCli(['build', source(), b, out, '--root', root, '--incremental']);
  t.equal(first.code, 0, first.stderr);
  t.notMatch(first.stderr, /restored counter/, 'first build: nothing to restore');
  const second = await runCli(['build', source(), b, out, '--root', root, '--incremental', '--incremental-pull-policy', 'always']);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stderr, /restored counter 1/, 'artifacts restored into <dest>/artifacts');
  const img = pullImage(out);
  t.ok(last(img).names.includes('opt/app-root/src/cache/counter'));

  const failing = source({ '.s2i/bin/save-artifacts': '#!/bin/sh\necho broken >&2\nexit 3\n' });
  chmodSync(path.join(failing, '.s2i/bin/save-artifacts'), 0o755);
  const f = await runCli(['build', failing, b, `${registry.host}/t/s2i-incr-other:1`, '--root', root, '--incremental', '--incremental-from', out]);
  t.equal(f.code, 0, f.stderr);
  t.match(f.stderr, /save-artifacts .*exited with code 3.*clean build/, 'failing save-artifacts: warning, clean build');
  t.notMatch(f.stderr, /restored counter/);

  const hostile = source({ '.s2i/bin/save-artifacts': '#!/bin/sh\ncd / && tar -cf - etc/passwd | sed "s#etc/passwd#../../x/pwn#"\n' });
  chmodSync(path.join(hostile, '.s2i/bin/save-artifacts'), 0o755);
  const h = await runCli(['build', hostile, b, `${registry.host}/t/s2i-incr-other:2`, '--root', root, '--incremental', '--incremental-from', out]);
  t.equal(h.code, 0, h.stderr);
  t.match(h.stderr, /save-artifacts output is (unsafe|not a valid tar).*clean build/, 'an escaping entry is refused: warning, clean build');

  const noSave = await builder('t/s2i-nosave', { assemble: BASIC_ASSEMBLE, run: RUN });
  const n = await runCli(['build', source(), noSave, out, '--root', root, '--incremental']);
  t.equal(n.code, 0, n.stderr);
  t.match(n.stderr, /no save-artifacts script: clean build/, 'image:/// scripts without save-artifacts: clean build');
});

t.test('--inject is readable by assemble and in no layer; -v, --add-host, --network none, file:// scripts', async (t) => {
  const b = await builder('t/s2i-inject', { assemble: '#!/bin/sh\nexit 9\n', run: RUN });
  const scriptsDir = dirWith({
    assemble:
      '#!/bin/sh\nset -e\necho "secret is $(cat /opt/app-root/src/secrets-app.key)"\necho "token $(cat /etc/creds/token)"\n' +
      'echo written > /mnt/vol/out.txt\ngrep myhost /etc/hosts\ncp -R /tmp/src/. /opt/app-root/src/\n',
    run: RUN,
  });
  const secret = path.join(tmp, 'app.key');
  writeFileSync(secret, 'very-secret-key\n');
  const credDir = dirWith({ token: 'tok-123\n' }, 0o644);
  const vol = mkdtempSync(path.join(tmp, 'vol-'));
  chmodSync(vol, 0o777);
  const out = `${registry.host}/t/s2i-inject-app:1`;
  const r = await runCli([
    'build', source(), b, out, '--root', root, '--scripts-url', `file://${scriptsDir}`,
    '--inject', `${secret}:secrets-app.key;${credDir}:/etc/creds`, '-v', `${vol}:/mnt/vol`, '--add-host', 'myhost:10.1.2.3', '--network', 'none',
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /secret is very-secret-key/);
  t.match(r.stderr, /token tok-123/);
  t.match(r.stderr, /10\.1\.2\.3\s+myhost/);
  t.equal(readFileSync(path.join(vol, 'out.txt'), 'utf8'), 'written\n', 'volume is read-write');
  const img = pullImage(out);
  for (const l of img.layers) {
    t.notOk(l.names.some((n) => n.includes('secrets') || n.startsWith('etc/creds') || n.startsWith('mnt')), 'no injection or volume path in any layer');
    t.notOk(l.tar.includes('very-secret-key') || l.tar.includes('tok-123'), 'no injected content in any layer');
  }
  t.same(img.config.config.Cmd, ['/tmp/scripts/run'], 'file:// run uploaded');

  for (const bad of [`${secret}:/proc/x`]) {
    const f = await runCli(['build', source(), b, out, '--root', root, '--inject', bad]);
    t.equal(f.code, 64, `bad injection ${bad}`);
    t.match(f.stderr, /--inject/);
  }
});

t.test('runtime image without assemble-runtime, --sbom none: artifacts appended as one layer, runtime layers never fetched', async (t) => {
  const b = await builder('t/s2i-rt-builder', { assemble: '#!/bin/sh\nset -e\necho binary > /opt/app-root/src/app.bin\n', run: RUN });
  await builder('t/s2i-runtime', undefined, { withoutTar: true, user: '431', labels: { 'io.openshift.s2i.scripts-url': '' } });
  const runtimeImg = pullImage(`${registry.host}/t/s2i-runtime:latest`);
  const proxy = await startFaultProxy(registry.host);
  t.teardown(() => proxy.stop());
  const src = source({ '.s2i/bin/run': '#!/bin/sh\nexec cat bin/app.bin\n' });
  chmodSync(path.join(src, '.s2i/bin/run'), 0o755);
  const out = `${proxy.host}/t/s2i-rt-app:1`;
  const r = await runCli(['build', src, `${proxy.host}/t/s2i-rt-builder:latest`, out, '--root', mkdtempSync(path.join(tmp, 'root-rt-')), '--runtime-image', `${proxy.host}/t/s2i-runtime:latest`, '-a', '/opt/app-root/src/app.bin:bin', '--sbom', 'none']);
  t.equal(r.code, 0, r.stderr);
  for (const l of runtimeImg.manifest.layers) t.equal(proxy.stats.count('GET', l.digest), 0, `runtime layer ${l.digest.slice(7, 19)} not fetched`);
  const img = pullImage(`${registry.host}/t/s2i-rt-app:1`);
  t.equal(img.layers.length, runtimeImg.layers.length + 1, 'runtime layers + one');
  t.same(img.manifest.layers.slice(0, -1).map((l) => l.digest), runtimeImg.manifest.layers.map((l) => l.digest));
  t.ok(last(img).names.includes('opt/app-root/src/bin/app.bin'), 'artifact under WORKDIR/DST');
  t.ok(last(img).names.includes('tmp/scripts/run'), 'run from .s2i/bin');
  t.same(img.config.config.Cmd, ['/tmp/scripts/run']);
  t.equal(img.config.config.User, '431', 'runtime USER kept');

  const bad = await runCli(['build', src, b, out, '--root', root, '--runtime-image', `${registry.host}/t/s2i-runtime:latest`, '-a', 'relative/path']);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /absolute/);
});

t.test('runtime image with assemble-runtime runs it on top of the runtime image', async (t) => {
  const b = await builder('t/s2i-rt2-builder', { assemble: '#!/bin/sh\nset -e\necho binary > /opt/app-root/src/app.bin\n', run: RUN });
  const rt = await builder('t/s2i-runtime2', { 'assemble-runtime': '#!/bin/sh\nset -e\necho "assemble-runtime as $(id -u) sees $(cat app.bin)"\ntouch rt-done\n', run: RUN }, {
    labels: { 'io.openshift.s2i.assemble-input-files': '/opt/app-root/src/app.bin' },
  });
  const out = `${registry.host}/t/s2i-rt2-app:1`;
  const r = await runCli(['build', source(), b, out, '--root', root, '--runtime-image', rt]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /assemble-runtime as 1001 sees binary/, 'label assemble-input-files used; runs as runtime USER');
  const img = pullImage(out);
  t.ok(last(img).names.includes('opt/app-root/src/rt-done'));
  t.same(img.config.config.Cmd, ['/usr/libexec/s2i/run']);
});

t.test('git source: file:// URL with #ref and --context-dir, commit labels, .git excluded', async (t) => {
  const repo = mkdtempSync(path.join(tmp, 'repo-'));
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=Ann Dev', '-c', 'user.email=ann@example.com', ...a], { encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  mkdirSync(path.join(repo, 'app'));
  writeFileSync(path.join(repo, 'app', 'index.html'), 'v1\n');
  git('add', '.');
  git('commit', '-q', '-m', 'first commit');
  git('checkout', '-q', '-b', 'feature');
  writeFileSync(path.join(repo, 'app', 'index.html'), 'feature\n');
  git('commit', '-q', '-am', 'feature work\n\nbody');
  const sha = git('rev-parse', 'HEAD').trim();
  git('checkout', '-q', 'main');
  const b = await builder('t/s2i-git', { assemble: BASIC_ASSEMBLE, run: RUN });
  const out = `${registry.host}/t/s2i-git-app:1`;
  const r = await runCli(['build', `file://${repo}#feature`, b, out, '--root', root, '--context-dir', 'app']);
  t.equal(r.code, 0, r.stderr);
  const img = pullImage(out);
  const l = img.config.config.Labels ?? {};
  t.equal(l['io.openshift.s2i.build.commit.id'], sha);
  t.equal(l['io.openshift.s2i.build.commit.ref'], 'feature');
  t.equal(l['io.openshift.s2i.build.commit.author'], 'Ann Dev <ann@example.com>');
  t.equal(l['io.openshift.s2i.build.commit.message'], 'feature work');
  t.ok(l['io.openshift.s2i.build.commit.date']);
  t.equal(l['io.openshift.s2i.build.source-location'], `file://${repo}`);
  t.equal(l['io.openshift.s2i.build.source-context-dir'], 'app');
  const names = last(img).names;
  t.ok(names.includes('tmp/src/index.html'), 'context dir is the source');
  t.notOk(names.some((n) => n.includes('.git')), '.git excluded');
  t.match(last(img).tar.toString('latin1'), /feature\n/);

  const conflict = await runCli(['build', `file://${repo}#feature`, b, out, '--root', root, '--ref', 'main']);
  t.not(conflict.code, 0, '#ref and a different --ref conflict');
  const empty = mkdtempSync(path.join(tmp, 'empty-repo-'));
  execFileSync('git', ['-C', empty, 'init', '-q']);
  const e = await runCli(['build', `file://${empty}`, b, out, '--root', root]);
  t.equal(e.code, 16, 'empty repository: exit 16');

  const rebuilt = await runCli(['rebuild', out, `${registry.host}/t/s2i-git-app:2`, '--root', root]);
  t.equal(rebuilt.code, 0, rebuilt.stderr);
  t.match(rebuilt.stderr, new RegExp(`Rebuilding .* from file://.*#${sha}`), 'a local repository: the commit recorded');
  const img2 = pullImage(`${registry.host}/t/s2i-git-app:2`);
  t.equal(img2.config.config.Labels?.['io.openshift.s2i.build.commit.id'], sha, 'rebuild from the labels: same commit');
  const notS2i = await runCli(['rebuild', b, `${registry.host}/t/x:1`, '--root', root]);
  t.equal(notS2i.code, 1);
  t.match(notS2i.stderr, /no io.openshift.s2i.build.image label/);
});

t.test('conflicting flags are errors (non-zero exit)', async (t) => {
  const b = `${registry.host}/t/never:latest`;
  const cases: Array<[string[], RegExp]> = [
    [['--incremental-from', 'x/y:1'], /--incremental-from needs --incremental/],
    [['--runtime-artifact', '/a:b'], /--runtime-artifact needs --runtime-image/],
    [['--as-dockerfile', path.join(tmp, 'Containerfile'), '--incremental', '--incremental-pull-policy', 'always'], /--as-dockerfile cannot be combined with --incremental-pull-policy/],
  ];
  for (const [flags, re] of cases) {
    const r = await runCli(['build', source(), b, `${registry.host}/t/x:1`, '--root', root, ...flags]);
    t.equal(r.code, 64, flags.join(' '));
    t.match(r.stderr, re);
  }
});

t.test('Ctrl-C during assemble: exit 130, sandbox killed, no build dir, no mount, no runc state', async (t) => {
  // `sleep 59`: a duration no other test uses, so the process scan below sees only this build's assemble (test
  // files run two at a time; sandbox/lifetime.test.ts has its own `sleep 60` containers).
  const b = await builder('t/s2i-sleep', { assemble: '#!/bin/sh\necho SLEEPING\nsleep 59\n', run: RUN });
  const croot = mkdtempSync(path.join(tmp, 'root-int-'));
  const p = spawn(process.execPath, [cliPath, 'build', source(), b, `${registry.host}/t/x:1`, '--root', croot], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve) => {
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('SLEEPING')) resolve();
    });
    p.once('close', () => resolve());
  });
  p.kill('SIGINT');
  const code = await new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('close', (c) => r(c))));
  t.equal(code, 130, stderr);
  t.same(readdirSync(path.join(croot, 'builds')), [], 'no build dir left');
  t.notOk(readFileSync('/proc/mounts', 'utf8').includes(croot), 'no mount mentions the root');
  const sleepers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 59');
  t.equal(sleepers.length, 0, 'assemble process killed');
});

t.test('--use-config, --save-temp-dir, --keep-symlinks, a builder without tar', async (t) => {
  const b = await builder('t/s2i-notar', { assemble: BASIC_ASSEMBLE, run: RUN }, { withoutTar: true });
  const src = source();
  symlinkSync('index.html', path.join(src, 'link'));
  const out = `${registry.host}/t/s2i-notar-app:1`;
  // s2i's .s2ifile in the current directory: SOURCE from the command line, BUILDER and TAG from the file.
  const cwd = mkdtempSync(path.join(tmp, 'cwd-'));
  writeFileSync(path.join(cwd, '.s2ifile'), JSON.stringify({ source: 'ignored', builderImage: b, tag: out, flags: { 'save-temp-dir': 'true', 'keep-symlinks': 'true', 'env-0': 'FROM_CONFIG=1' } }));
  const r = await runCli(['build', src, '--use-config', '--root', root], { cwd });
  t.equal(r.code, 0, r.stderr);
  const kept = /Temporary directory kept: (\S+)/.exec(r.stderr)?.[1];
  t.ok(kept && existsSync(kept), 'temp dir kept and printed');
  if (kept) rmSync(kept, { recursive: true, force: true });
  const img = pullImage(out);
  t.ok(img.config.config.Env?.includes('FROM_CONFIG=1'), 'values from the config file');
  const listing = execFileSync('tar', ['-tvf', '-'], { input: last(img).tar, encoding: 'utf8' });
  t.match(listing, /tmp\/src\/link -> index\.html/, 'symlink kept');
  writeFileSync(path.join(cwd, '.s2ifile'), JSON.stringify({ 'no-such-flag': 1 }));
  const bad = await runCli(['build', src, b, out, '--use-config', '--root', root], { cwd });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /unknown flag "no-such-flag"/);
});
