// Scripts and sources as s2i users meet them (issue 13): --image-scripts-url, the deprecated --scripts and
// -l/--location, a --scripts-url that provides no script, plain directories as file:// sources, the committed tree
// of a local git repository (and -c for the working tree), --ignore-submodules, builders with ONBUILD triggers.
// Real builds with busybox builders against a real registry; real git repositories in temp dirs.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli as runCliRaw, type CliResult } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec } from '../../src/demo/busybox-image.js';

const runCli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCliRaw(args, { env: { NODE_OPTIONS: '', ...env } });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-scripts-sources-'));
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

const RUN = '#!/bin/sh\necho running\n';
/** Lists the source as assemble sees it, then says which assemble ran. */
const LIST_ASSEMBLE = (who: string) => `#!/bin/sh\nset -e\necho "---> ${who} assemble in $(dirname "$0")"\ncd /tmp/src 2>/dev/null || cd "$(dirname "$0")/../src"\nfind . -type f | sort | sed 's/^/SRC: /'\nfor f in $(find . -type f | sort); do echo "CONTENT $f: $(cat "$f")"; done\n`;

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

function skopeoConfig(ref: string): { config: { Cmd?: string[]; Labels?: Record<string, string> } } {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' }));
}

t.test('--image-scripts-url replaces the builder label; --scripts and -l/--location are deprecated spellings', async (t) => {
  // The scripts are at /opt/s2i, the label points elsewhere (as a builder whose label is wrong or missing).
  const b = await builder('t/moved-scripts', { assemble: LIST_ASSEMBLE('image'), run: RUN }, { scriptsPath: '/opt/s2i', labels: { 'io.openshift.s2i.scripts-url': 'image:///nowhere' } });
  const src = dirWith({ 'index.html': 'hello\n' }, 0o644);

  const without = await runCli(['build', src, b, `${registry.host}/t/moved-app:0`, '--root', root]);
  t.equal(without.code, 11, 'the label names no scripts: exit 11');
  t.match(without.stderr, /required script "assemble" not found/);

  const out = `${registry.host}/t/moved-app:1`;
  const r = await runCli(['build', src, b, out, '--root', root, '--image-scripts-url', 'image:///opt/s2i']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /---> image assemble in \/opt\/s2i/);
  t.same(skopeoConfig(out).config.Cmd, ['/opt/s2i/run'], 'run from the --image-scripts-url place is the CMD');

  const bad = await runCli(['build', src, b, `${registry.host}/t/moved-app:2`, '--root', root, '--image-scripts-url', 'ftp://x/y']);
  t.equal(bad.code, 12, 'an unknown scheme is exit 12');
  const empty = await runCli(['build', src, b, `${registry.host}/t/moved-app:3`, '--root', root, '--image-scripts-url', 'image:///tmp']);
  t.equal(empty.code, 11, '--image-scripts-url naming a place without scripts: exit 11');
  t.match(empty.stderr, /--image-scripts-url image:\/\/\/tmp/, 'the message names the place searched');

  // --scripts (deprecated) is --scripts-url; -l/--location (deprecated) is --destination.
  const overrides = dirWith({ assemble: LIST_ASSEMBLE('override') });
  const dep = await runCli(['build', src, b, `${registry.host}/t/moved-app:4`, '--root', root, '--image-scripts-url', 'image:///opt/s2i', '--scripts', `file://${overrides}`, '-l', '/tmp/alt']);
  t.equal(dep.code, 0, dep.stderr);
  t.match(dep.stderr, /---> override assemble in \/tmp\/alt\/scripts/, '--scripts supplied assemble, uploaded under the -l destination');
  t.match(dep.stderr, /SRC: \.\/index\.html/);
  t.equal(dep.stderr.split('\n').filter((l) => l === 'warning: flag --scripts is deprecated, use --scripts-url instead').length, 1, 'one warning line for --scripts');
  t.equal(dep.stderr.split('\n').filter((l) => l === 'warning: flag --location is deprecated, use --destination instead').length, 1, 'one warning line for --location');
  const both = await runCli(['build', src, b, `${registry.host}/t/moved-app:5`, '--root', root, '--scripts', 'file:///a', '--scripts-url', 'file:///b']);
  t.equal(both.code, 64, '--scripts and --scripts-url with different values: usage error');
});

t.test('a --scripts-url that provides no script fails as s2i does (could not download any scripts), not the image scripts', async (t) => {
  const b = await builder('t/plain', { assemble: LIST_ASSEMBLE('image'), run: RUN });
  const src = dirWith({ 'index.html': 'hello\n' }, 0o644);
  const emptyDir = mkdtempSync(path.join(tmp, 'empty-'));
  const r = await runCli(['build', src, b, `${registry.host}/t/plain-app:1`, '--root', root, '-s', `file://${emptyDir}`]);
  t.equal(r.code, 1, 's2i exits 1');
  t.notMatch(r.stderr, /---> image assemble/, 'the image scripts did not run');
  const lines = r.stderr.trim().split('\n').filter((l) => /could not download any scripts/.test(l));
  t.equal(lines.length, 1, r.stderr);
  t.match(lines[0], `could not download any scripts from URL file://${emptyDir}`);

  // One script at the URL is enough for s2i, even save-artifacts alone: the rest come from the image.
  const onlySave = dirWith({ 'save-artifacts': '#!/bin/sh\ntrue\n' });
  const ok = await runCli(['build', src, b, `${registry.host}/t/plain-app:2`, '--root', root, '-s', `file://${onlySave}`]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stderr, /---> image assemble in \/usr\/libexec\/s2i/);
  const onlyAssemble = dirWith({ assemble: LIST_ASSEMBLE('url') });
  const ok2 = await runCli(['build', src, b, `${registry.host}/t/plain-app:3`, '--root', root, '-s', `file://${onlyAssemble}`]);
  t.equal(ok2.code, 0, ok2.stderr);
  t.match(ok2.stderr, /---> url assemble in \/tmp\/scripts/);
});
