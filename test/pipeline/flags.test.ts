// --cap-drop reaches the sandbox (a root assemble loses CAP_CHOWN) and --loglevel 2 shows step timings.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-flags-test-'));
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

function dir(files: Record<string, string>, mode: number): string {
  const d = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(d, 0o755);
  for (const [n, body] of Object.entries(files)) writeFileSync(path.join(d, n), body, { mode });
  return d;
}

t.test('--cap-drop CHOWN: a root assemble can no longer chown; without it, it can', async (t) => {
  const scripts = dir({ assemble: '#!/bin/sh\nset -e\ntouch /tmp/owned\nchown 1234:1234 /tmp/owned\necho chowned\n', run: '#!/bin/sh\n' }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'f/root-builder'), 'latest', { scriptsDir: scripts, user: '0' });
  const b = `${registry.host}/f/root-builder:latest`;
  const src = dir({ 'a.txt': 'a\n' }, 0o644);
  const root = path.join(tmp, 'root');
  const ok = await runCli(['build', src, b, `${registry.host}/f/app:1`, '--root', root]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stderr, /chowned/);
  const dropped = await runCli(['build', src, b, `${registry.host}/f/app:2`, '--root', root, '--cap-drop', 'CHOWN']);
  t.equal(dropped.code, 4, 'assemble fails without CAP_CHOWN');
  t.match(dropped.stderr, /Operation not permitted/);
  const all = await runCli(['build', src, b, `${registry.host}/f/app:3`, '--root', root, '--cap-drop', 'ALL']);
  t.equal(all.code, 4, '--cap-drop ALL drops it too');
});

t.test('--loglevel 2 prints step timings; default does not', async (t) => {
  const scripts = dir({ assemble: '#!/bin/sh\necho assembled\n', run: '#!/bin/sh\n' }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'f/plain'), 'latest', { scriptsDir: scripts });
  const b = `${registry.host}/f/plain:latest`;
  const src = dir({ 'a.txt': 'a\n' }, 0o644);
  const root = path.join(tmp, 'root2');
  const quiet = await runCli(['build', src, b, `${registry.host}/f/plain-app:1`, '--root', root]);
  t.equal(quiet.code, 0, quiet.stderr);
  t.notMatch(quiet.stderr, /step assemble: \d+ ms/);
  const verbose = await runCli(['build', src, b, `${registry.host}/f/plain-app:2`, '--root', root, '--loglevel', '2']);
  t.equal(verbose.code, 0, verbose.stderr);
  t.match(verbose.stderr, /step pull: \d+ ms/);
  t.match(verbose.stderr, /step assemble: \d+ ms/);
  const bad = await runCli(['build', src, b, `${registry.host}/f/plain-app:3`, '--loglevel', '9']);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--loglevel must be an integer from 0 to 5/);
});
