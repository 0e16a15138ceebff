// The S2I commands besides build: usage, create, completion, and build --as-dockerfile (no sandbox).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync, existsSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-cmds-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
const root = path.join(tmp, 'root');
let builder = '';

t.before(async () => {
  registry = await startRegistry();
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\ncp -R /tmp/src/. ./\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'usage'), '#!/bin/sh\necho "This is the usage of the test builder"\necho "on stderr" >&2\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, 't/cmd-builder'), 'latest', { scriptsDir: scripts });
  builder = `${registry.host}/t/cmd-builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('usage runs only the usage script and prints its stdout', async (t) => {
  const r = await runCli(['usage', builder, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'This is the usage of the test builder\n', 'script stdout on stdout, nothing else');
  t.match(r.stderr, /on stderr/);
  const scripts = mkdtempSync(path.join(tmp, 'other-'));
  writeFileSync(path.join(scripts, 'usage'), '#!/bin/sh\necho from file url\n', { mode: 0o755 });
  const f = await runCli(['usage', builder, '--root', root, '--scripts-url', `file://${scripts}`]);
  t.equal(f.stdout, 'from file url\n', '--scripts-url wins');
  const none = await runCli(['usage', builder, '--root', root, '--scripts-url', `file://${tmp}`]);
  t.equal(none.stdout, 'This is the usage of the test builder\n', 'per script: falls back to the label');
  const bad = await runCli(['usage', builder, '--root', root, '--scripts-url', 'ftp://x/y']);
  t.equal(bad.code, 12, 'unknown scripts-url scheme: exit 12');
});

t.test('create writes the scaffold and never overwrites', async (t) => {
  const dir = path.join(tmp, 'scaffold');
  const r = await runCli(['create', 'my-builder', dir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /created s2i\/bin\/assemble/);
  t.equal(statSync(path.join(dir, 's2i/bin/assemble')).mode & 0o777, 0o755);
  t.equal(statSync(path.join(dir, 'test/run')).mode & 0o777, 0o700);
  t.ok(existsSync(path.join(dir, 'Dockerfile')));
  writeFileSync(path.join(dir, 'README.md'), 'mine\n');
  const again = await runCli(['create', 'my-builder', dir]);
  t.equal(again.code, 0);
  t.match(again.stderr, /kept existing README.md/);
  t.equal(readFileSync(path.join(dir, 'README.md'), 'utf8'), 'mine\n');
  const bad = await runCli(['create', 'Bad Name!', path.join(tmp, 'x')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /not a usable image name/);
});

t.test('completion bash|zsh', async (t) => {
  const b = await runCli(['completion', 'bash']);
  t.equal(b.code, 0);
  const f = path.join(tmp, 'c.bash');
  writeFileSync(f, b.stdout);
  execFileSync('bash', ['-n', f]);
  t.pass('bash parses the script');
  t.match(b.stdout, /rebuild/);
  const z = await runCli(['completion', 'zsh']);
  t.match(z.stdout, /^#compdef oci-s2i/);
  const bad = await runCli(['completion', 'fish']);
  t.equal(bad.code, 64);
});

t.test('build --as-dockerfile writes a Containerfile and context', async (t) => {
  const src = mkdtempSync(path.join(tmp, 'src-'));
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  const out = path.join(tmp, 'df', 'Containerfile');
  const r = await runCli(['build', src, builder, '--as-dockerfile', out, '--root', root, '-e', 'A=1', '--label', 'x=y']);
  t.equal(r.code, 0, r.stderr);
  const text = readFileSync(out, 'utf8');
  t.match(text, new RegExp(`^FROM ${builder.replace(/[.]/g, '\\.')}`, 'm'));
  t.match(text, /ENV A="1"/);
  t.match(text, /"x"="y"/);
  t.match(text, /COPY --chown=1001:0 upload\/src \/tmp\/src/);
  t.match(text, /CMD \["\/usr\/libexec\/s2i\/run"\]/);
  t.ok(existsSync(path.join(tmp, 'df', 'upload', 'src', 'index.html')));
  const bad = await runCli(['build', src, builder, '--as-dockerfile', out, '--root', root, '--incremental', '--incremental-pull-policy', 'always']);
  t.equal(bad.code, 64);
});

t.test('build --as-dockerfile DIR/ (or an existing DIR) writes DIR/Dockerfile and DIR/upload', async (t) => {
  const src = mkdtempSync(path.join(tmp, 'src-'));
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  const dir = path.join(tmp, 'df-dir');
  const r = await runCli(['build', src, builder, '--as-dockerfile', dir + '/', '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, path.join(dir, 'Dockerfile') + '\n');
  t.match(readFileSync(path.join(dir, 'Dockerfile'), 'utf8'), /^FROM /m);
  t.ok(existsSync(path.join(dir, 'upload', 'src', 'index.html')), 'the context is DIR, not its parent');
  t.notOk(existsSync(path.join(tmp, 'upload')), 'nothing written beside DIR');
  const again = await runCli(['build', src, builder, '--as-dockerfile', dir, '--root', root]);
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout, path.join(dir, 'Dockerfile') + '\n', 'an existing directory without the slash: the same');
  // Bad: the directory cannot be made (a file is in the way): one line, exit 1, nothing written.
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const bad = await runCli(['build', src, builder, '--as-dockerfile', path.join(file, 'sub') + '/', '--root', root]);
  t.equal(bad.code, 1, bad.stderr);
  t.match(bad.stderr, /^oci-s2i: --as-dockerfile \S+: cannot create the directory \S+ \(ENOTDIR\); pick another path\n$/);
});

t.test('build --as-dockerfile labels --scripts-url, --destination and --assemble-user as s2i does', async (t) => {
  const src = mkdtempSync(path.join(tmp, 'src-'));
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  const dir = path.join(tmp, 'df-labels') + '/';
  const r = await runCli(['build', src, builder, '--as-dockerfile', dir, '--root', root, '--scripts-url', 'image:///usr/libexec/s2i', '--destination', '/dest', '--assemble-user', '1002', '--label', 'io.openshift.s2i.destination=/from-label']);
  t.equal(r.code, 0, r.stderr);
  const text = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
  t.match(text, '"io.openshift.s2i.scripts-url"="image:///usr/libexec/s2i"');
  t.match(text, '"io.openshift.s2i.destination"="/dest"', 'the flag wins over --label, as in s2i');
  t.match(text, '"io.openshift.s2i.assemble-user"="1002"');
  t.match(text, /COPY --chown=1002:0 upload\/src \/dest\/src/);
  // Without the flags: none of these labels. A file:// scripts URL (a host directory) is not written.
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\n', { mode: 0o755 });
  const plain = await runCli(['build', src, builder, '--as-dockerfile', dir, '--root', root, '--scripts-url', `file://${scripts}`]);
  t.equal(plain.code, 0, plain.stderr);
  const text2 = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
  t.notMatch(text2, /io\.openshift\.s2i\.(scripts-url|destination|assemble-user)/);
  t.match(text2, /RUN \["\/tmp\/scripts\/assemble"\]/, 'the file:// script is still used');
});

t.test('build --as-dockerfile --inject: copied in and removed in the assemble RUN, relative under WORKDIR', async (t) => {
  const src = mkdtempSync(path.join(tmp, 'src-'));
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  const secrets = mkdtempSync(path.join(tmp, 'secrets-'));
  writeFileSync(path.join(secrets, 'key'), 'very-secret\n', { mode: 0o600 });
  const dir = path.join(tmp, 'df-inject') + '/';
  const r = await runCli(['build', src, builder, '--as-dockerfile', dir, '--root', root, '-i', `${secrets}:rel`]);
  t.equal(r.code, 0, r.stderr);
  const text = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
  t.match(text, /^RUN --mount=type=bind,source=upload\/injections\/0,target=\/run\/\.s2i-injection-0 /m);
  t.match(text, /cp -R \/run\/\.s2i-injection-0\/\. \/opt\/app-root\/src\/rel\//, 'relative destination under WORKDIR');
  t.match(text, /rm -f \/opt\/app-root\/src\/rel\/key/);
  t.notMatch(text, /^COPY .*injections/m, 'never COPYed (a layer would keep it)');
  t.equal(readFileSync(path.join(dir, 'upload', 'injections', '0', 'key'), 'utf8'), 'very-secret\n');
  t.equal(statSync(path.join(dir, 'upload', 'injections')).mode & 0o777, 0o700, 'staged where only the owner reaches');
  // Bad: -v cannot go into a Containerfile.
  const bad = await runCli(['build', src, builder, '--as-dockerfile', dir, '--root', root, '-v', `${secrets}:/x`]);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--as-dockerfile cannot be combined with --volume/);
});
