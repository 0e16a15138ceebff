// Issue 12's "done when": `oci-s2i build` with a builder that lives only on a mirror, named by its upstream name
// (quay.io/s2i/busybox-builder:1), succeeds with the upstream stopped. registries.conf in a temp file
// (CONTAINERS_REGISTRIES_CONF): quay.io/s2i's location is a real registry on loopback that the test stops, its
// mirror another one; no request leaves 127.0.0.1. Also through the CLI: `pull --json` names the endpoint, a
// blocked builder is exit 2 naming the file and line, bad configuration is one line and exit 64.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-build-mirror-'));
chmodSync(tmp, 0o755);
let upstream: TestRegistry;
let mirror: TestRegistry;
let M: FaultProxy;
const client = new RegistryClient({ env: {} });

t.before(async () => {
  upstream = await startRegistry();
  mirror = await startRegistry();
  M = await startFaultProxy(mirror.host);
});
t.teardown(async () => {
  await client.close();
  await M?.stop();
  await upstream?.stop();
  await mirror?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'served by a mirror\n');
  return dir;
}

function conf(name: string, text: string): Record<string, string> {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return { CONTAINERS_REGISTRIES_CONF: file };
}

t.test('a builder only on the mirror, named by its upstream name, builds with the upstream stopped', async (t) => {
  await pushBusyboxBuilder(client.repository(mirror.host, 's2i-mirror/busybox-builder'), '1', { scriptsDir });
  const upstreamHost = upstream.host;
  await upstream.stop();
  const env = conf(
    'build.conf',
    `# quay.io/s2i lives at ${upstreamHost} (stopped); its mirror serves it.
[[registry]]
prefix = "quay.io/s2i"
location = "${upstreamHost}/s2i"

[[registry.mirror]]
location = "${M.host}/s2i-mirror"
`,
  );
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const out = `${mirror.host}/t/app:1`;
  M.stats.reset();
  const r = await runCli(['build', source(), 'quay.io/s2i/busybox-builder:1', out, '--root', root, '--json'], { env });
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { labels: Record<string, string>; pulledFrom?: unknown };
  t.same(result.pulledFrom, [{ image: 'quay.io/s2i/busybox-builder:1', endpoint: `${M.host}/s2i-mirror/busybox-builder:1`, mirror: true }], '--json names the mirror');
  t.equal(result.labels['io.openshift.s2i.build.image'], 'quay.io/s2i/busybox-builder:1', 'the image is still named by its upstream name');
  t.ok(M.stats.count('GET', /\/blobs\/sha256:/) >= 3, 'config and layers came from the mirror');
  const built = await client.repository(mirror.host, 't/app').resolve('1');
  t.match(built.descriptor.digest, /^sha256:/, 'the result was pushed');

  // The same name, again, from the store: no registry is needed (the default pull policy).
  const again = await runCli(['build', source(), 'quay.io/s2i/busybox-builder:1', `${mirror.host}/t/app:2`, '--root', root, '-q'], { env });
  t.equal(again.code, 0, again.stderr);

  // Human output says where the builder came from.
  const root2 = mkdtempSync(path.join(tmp, 'root-'));
  const human = await runCli(['pull', 'quay.io/s2i/busybox-builder:1', '--root', root2], { env });
  t.equal(human.code, 0, human.stderr);
  t.match(human.stderr, `Pulling quay.io/s2i/busybox-builder:1 from mirror ${M.host}/s2i-mirror/busybox-builder:1`);
});

t.test('pull --json names the endpoint; a blocked registry is exit 2 naming the file and line', async (t) => {
  await pushBusyboxBuilder(client.repository(mirror.host, 'blocked/b'), '1', { scriptsDir });
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const env = conf('pull.conf', `[[registry]]\nprefix = "registry.example.com/team"\nlocation = "${mirror.host}/blocked"\n`);
  const r = await runCli(['pull', 'registry.example.com/team/b:1', '--root', root, '--json'], { env });
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { image: string; pulledFrom: unknown };
  t.equal(out.image, 'registry.example.com/team/b:1');
  t.same(out.pulledFrom, { reference: 'registry.example.com/team/b:1', endpoint: `${mirror.host}/blocked/b:1`, mirror: false });

  const blocked = conf('blocked.conf', `\n[[registry]]\nlocation = "${mirror.host}/blocked"\nblocked = true\n`);
  const b = await runCli(['pull', `${mirror.host}/blocked/b:1`, '--root', root], { env: blocked });
  t.equal(b.code, 2, b.stderr);
  t.match(b.stderr, new RegExp(`blocked = true at ${path.join(tmp, 'blocked.conf').replace(/[.]/g, '\\.')}:2`));
  t.equal(b.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('bad registries.conf: one line naming the file, the line and what to fix; exit 64', async (t) => {
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const cases: Array<[string, string, RegExp]> = [
    ['malformed.conf', '[[registry]\nlocation = "a.io"\n', /malformed\.conf:1: invalid TOML: .*fix the syntax/],
    ['unknown.conf', '[[registry]]\nlocation = "a.io"\nlocaton = "b.io"\n', /unknown\.conf:3: unknown key "locaton" in \[\[registry\]\]/],
    ['conflict.conf', '[[registry]]\nprefix = "a.io"\nlocation = "m.io"\n[[registry]]\nprefix = "a.io"\nlocation = "n.io"\n', /conflict\.conf:4: prefix "a\.io" is already defined at .*conflict\.conf:1/],
  ];
  for (const [name, text, want] of cases) {
    const r = await runCli(['pull', `${mirror.host}/blocked/b:1`, '--root', root], { env: conf(name, text) });
    t.equal(r.code, 64, `${name}: ${r.stderr}`);
    t.match(r.stderr, want, name);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
  }
});

t.test('a registries.conf without search registries refuses a short name (podman\'s rule), exit 2', async (t) => {
  // The docker.io default is for machines with no registries.conf at all (test/registry/registries-conf.test.ts).
  const r = await runCli(['pull', 'busybox-nowhere:1', '--root', mkdtempSync(path.join(tmp, 'root-'))], { env: conf('empty.conf', '') });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /short name "busybox-nowhere:1" has no alias and no unqualified-search-registries are set in .*empty\.conf: use a fully qualified name \(e\.g\. docker\.io\/library\/busybox-nowhere:1\)/);
});
