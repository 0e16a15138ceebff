// `generate BUILDER FILE` (s2i's generate): the Containerfile `build --as-dockerfile` writes, from the same writer,
// with no application (an empty upload/src and no source labels); -e and --assemble-user as s2i takes them.
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-generate-'));
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

t.test('generate writes what --as-dockerfile writes, without the application', async (t) => {
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\ncp -R /tmp/src/. ./\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, 'gen/builder'), 'latest', { scriptsDir: scripts });
  const builder = `${registry.host}/gen/builder:latest`;
  const root = path.join(tmp, 'root');
  const gen = path.join(tmp, 'gen', 'Dockerfile.gen');
  const r = await runCli(['generate', builder, gen, '-e', 'A=1', '--assemble-user', '1002', '--root', root, '--tls-verify=false']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${gen}\n`);
  const text = readFileSync(gen, 'utf8');
  t.match(text, new RegExp(`^FROM ${builder.replace(/[.]/g, '\\.')}`, 'm'));
  t.match(text, /ENV A="1"|ENV A=1|"A"="1"/);
  t.match(text, /USER 1002/);
  t.notMatch(text, /source-location/, 'no source labels');
  t.same(readdirSync(path.join(tmp, 'gen', 'upload', 'src')), [], 'an empty upload/src for the application');
  // The same text --as-dockerfile writes for an empty source directory, but for its source-location label.
  const empty = mkdtempSync(path.join(tmp, 'empty-'));
  const df = path.join(tmp, 'df', 'Dockerfile');
  const b = await runCli(['build', empty, builder, '--as-dockerfile', df, '-e', 'A=1', '--assemble-user', '1002', '--root', root, '--tls-verify=false']);
  t.equal(b.code, 0, b.stderr);
  const strip = (s: string) => s.split('\n').filter((l) => !l.includes('io.openshift.s2i.build.source-location')).map((l) => l.replace(/ \\$/, ''));
  t.same(strip(readFileSync(df, 'utf8')), strip(text));
});

t.test('generate: bad input', async (t) => {
  const r = await runCli(['generate', 'only-builder']);
  t.equal(r.code, 64);
  t.match(r.stderr, /^oci-s2i: generate takes BUILDER FILE/m);
  const u = await runCli(['generate', 'b', path.join(tmp, 'x'), '--runtime-image', 'r']);
  t.equal(u.code, 64);
  t.match(u.stderr, /unknown flag --runtime-image/);
  t.notOk(existsSync(path.join(tmp, 'x')));
});
