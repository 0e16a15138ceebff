// Scripts and sources as s2i users meet them (issue 13): --image-scripts-url, the deprecated --scripts and
// -l/--location, a --scripts-url that provides no script, plain directories as file:// sources, the committed tree
// of a local git repository (and -c for the working tree), --ignore-submodules, --block-onbuild (the onbuild
// strategy itself: onbuild.test.ts).
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

// The builds check scripts and sources, not attestations: they make none (the default is covered by pipeline/build).
const lean = (args: string[]): string[] => (args[0] === 'build' ? [...args, '--sbom', 'none', '--provenance=false'] : args);
const runCli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCliRaw(lean(args), { env: { NODE_OPTIONS: '', ...env } });
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

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=Src Dev', '-c', 'user.email=src@example.com', '-c', 'protocol.file.allow=always', '-c', 'init.defaultBranch=main', ...args], { encoding: 'utf8' });
}

/** Source files assemble saw, from its SRC:/CONTENT lines. */
function seen(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^(SRC:|CONTENT) /.test(l));
}

t.test('file:///plain/dir (no git repository) is copied; a file:// path git cannot clone keeps git\'s useful lines', async (t) => {
  const b = await builder('t/lister', { assemble: LIST_ASSEMBLE('image'), run: RUN });
  const plain = dirWith({ 'index.html': 'plain\n', 'sub/a.txt': 'a\n' }, 0o644);
  const out = `${registry.host}/t/plain-dir-app:1`;
  const r = await runCli(['build', `file://${plain}`, b, out, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.same(seen(r.stderr), ['SRC: ./index.html', 'SRC: ./sub/a.txt', 'CONTENT ./index.html: plain', 'CONTENT ./sub/a.txt: a']);
  const labels = skopeoConfig(out).config.Labels ?? {};
  t.equal(labels['io.openshift.s2i.build.source-location'], plain);
  t.notOk(labels['io.openshift.s2i.build.commit.id'], 'no commit label for a plain directory');

  const withRef = await runCli(['build', `file://${plain}#main`, b, `${registry.host}/t/plain-dir-app:2`, '--root', root]);
  t.equal(withRef.code, 64, 'a ref on a plain directory is a usage error');
  t.match(withRef.stderr, /not a git repository/);

  const notDir = path.join(plain, 'index.html');
  const bad = await runCli(['build', `file://${notDir}`, b, `${registry.host}/t/plain-dir-app:3`, '--root', root]);
  t.equal(bad.code, 14, bad.stderr);
  const errLine = bad.stderr.split('\n').find((l) => /git clone of/.test(l)) ?? '';
  t.match(errLine, /fatal: invalid gitfile format: .* \/ fatal: Could not read from remote repository/, 'git\'s first, telling line is kept');
  t.match(errLine, /Could not read from remote repository/, 'and the lines after it, on one line');
});

t.test('a local git repository: committed tree without -c (labels = that commit, one warning for uncommitted changes); working tree with -c (no commit labels)', async (t) => {
  const b = await builder('t/lister2', { assemble: LIST_ASSEMBLE('image'), run: RUN });
  const repo = dirWith({ 'index.html': 'v1\n' }, 0o644);
  git(repo, 'init', '-q');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  const first = git(repo, 'rev-parse', 'HEAD').trim();
  writeFileSync(path.join(repo, 'index.html'), 'v2\n');
  git(repo, 'commit', '-q', '-am', 'second');
  const second = git(repo, 'rev-parse', 'HEAD').trim();
  writeFileSync(path.join(repo, 'index.html'), 'dirty\n');
  writeFileSync(path.join(repo, 'new.txt'), 'untracked\n');

  const out = `${registry.host}/t/local-git-app:1`;
  const r = await runCli(['build', repo, b, out, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.same(seen(r.stderr), ['SRC: ./index.html', 'CONTENT ./index.html: v2'], 'the committed tree, without .git, uncommitted changes left out');
  const warn = r.stderr.split('\n').filter((l) => l.startsWith('warning: ') && /uncommitted/.test(l));
  t.equal(warn.length, 1, 'one warning line');
  t.match(warn[0], /2 uncommitted changes left out.*-c\/--copy/);
  const labels = skopeoConfig(out).config.Labels ?? {};
  t.equal(labels['io.openshift.s2i.build.commit.id'], second, 'commit label = the commit built');
  t.equal(labels['io.openshift.s2i.build.commit.message'], 'second');
  t.equal(labels['io.openshift.s2i.build.source-location'], repo);

  const older = `${registry.host}/t/local-git-app:2`;
  const rr = await runCli(['build', repo, b, older, '--root', root, '--ref', first]);
  t.equal(rr.code, 0, rr.stderr);
  t.same(seen(rr.stderr), ['SRC: ./index.html', 'CONTENT ./index.html: v1'], '--ref builds that commit of a local repository');
  t.equal(skopeoConfig(older).config.Labels?.['io.openshift.s2i.build.commit.id'], first);
  t.notMatch(rr.stderr, /uncommitted/, 'another commit than HEAD: the working tree\'s changes are not about it, no warning');
  const atHead = await runCli(['build', repo, b, `${registry.host}/t/local-git-app:5`, '--root', root, '--ref', second, '--sbom', 'none', '--provenance=false']);
  t.equal(atHead.code, 0, atHead.stderr);
  t.match(atHead.stderr, /2 uncommitted changes left out/, '--ref naming HEAD\'s commit: the warning, as without --ref');

  const copied = `${registry.host}/t/local-git-app:3`;
  const c = await runCli(['build', repo, b, copied, '--root', root, '-c']);
  t.equal(c.code, 0, c.stderr);
  t.same(seen(c.stderr), ['SRC: ./index.html', 'SRC: ./new.txt', 'CONTENT ./index.html: dirty', 'CONTENT ./new.txt: untracked'], '-c: the working tree as it is');
  t.notMatch(c.stderr, /uncommitted/);
  const cl = skopeoConfig(copied).config.Labels ?? {};
  t.notOk(Object.keys(cl).some((k) => k.startsWith('io.openshift.s2i.build.commit.')), '-c: no commit labels, since no commit describes the tree');
  const cu = await runCli(['build', `file://${repo}`, b, `${registry.host}/t/local-git-app:4`, '--root', root, '--copy']);
  t.equal(cu.code, 0, cu.stderr);
  t.match(cu.stderr, /CONTENT \.\/index\.html: dirty/, '--copy with a file:// URL copies too');

  const refCopy = await runCli(['build', repo, b, `${registry.host}/t/local-git-app:5`, '--root', root, '-c', '--ref', first]);
  t.equal(refCopy.code, 64, '-c with --ref: usage error');
  const empty = mkdtempSync(path.join(tmp, 'empty-repo-'));
  writeFileSync(path.join(empty, 'index.html'), 'e\n');
  git(empty, 'init', '-q');
  const e1 = await runCli(['build', empty, b, `${registry.host}/t/local-git-app:6`, '--root', root]);
  t.equal(e1.code, 16, 'a repository without commits: exit 16 (s2i)');
  const e2 = await runCli(['build', empty, b, `${registry.host}/t/local-git-app:7`, '--root', root, '-c']);
  t.equal(e2.code, 0, e2.stderr);
  t.match(e2.stderr, /CONTENT \.\/index\.html: e/, 'with -c it is copied');
});

t.test('--ignore-submodules: a git source\'s submodules are not fetched (default: fetched, recursively)', async (t) => {
  const b = await builder('t/lister3', { assemble: LIST_ASSEMBLE('image'), run: RUN });
  const lib = dirWith({ 'helper.txt': 'from the submodule\n' }, 0o644);
  git(lib, 'init', '-q');
  git(lib, 'add', '.');
  git(lib, 'commit', '-q', '-m', 'lib');
  const repo = dirWith({ 'index.html': 'app\n' }, 0o644);
  git(repo, 'init', '-q');
  git(repo, 'submodule', '--quiet', 'add', `file://${lib}`, 'lib');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'with lib');
  // git refuses file:// submodules unless told (CVE-2022-39253); its environment form allows them for one command.
  const allow = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'protocol.file.allow', GIT_CONFIG_VALUE_0: 'always' };

  const withSub = await runCli(['build', repo, b, `${registry.host}/t/submodule-app:1`, '--root', root], allow);
  t.equal(withSub.code, 0, withSub.stderr);
  t.same(seen(withSub.stderr).filter((l) => l.startsWith('SRC:')), ['SRC: ./.gitmodules', 'SRC: ./index.html', 'SRC: ./lib/helper.txt'], 'default: the submodule is fetched');
  const refused = await runCli(['build', repo, b, `${registry.host}/t/submodule-app:2`, '--root', root]);
  t.equal(refused.code, 14, 'without opting in git refuses the file:// submodule');
  t.match(refused.stderr, /cannot fetch submodules of/);

  const ignored = await runCli(['build', repo, b, `${registry.host}/t/submodule-app:3`, '--root', root, '--ignore-submodules']);
  t.equal(ignored.code, 0, ignored.stderr);
  t.same(seen(ignored.stderr).filter((l) => l.startsWith('SRC:')), ['SRC: ./.gitmodules', 'SRC: ./index.html'], '--ignore-submodules: not fetched (and no opt-in needed)');
  const url = await runCli(['build', `file://${repo}`, b, `${registry.host}/t/submodule-app:4`, '--root', root, '--ignore-submodules']);
  t.equal(url.code, 0, url.stderr);
  t.notMatch(url.stderr, /helper\.txt/, 'the same for a file:// git URL');
});

t.test('--block-onbuild: a builder with ONBUILD triggers builds with its S2I scripts, one warning line naming the triggers left unrun; none without triggers', async (t) => {
  const b = await builder('t/onbuild', { assemble: LIST_ASSEMBLE('image'), run: RUN }, { onBuild: ['RUN echo triggered > /tmp/onbuild', 'COPY . /opt/app'] });
  const src = dirWith({ 'index.html': 'hello\n' }, 0o644);
  const r = await runCli(['build', src, b, `${registry.host}/t/onbuild-app:1`, '--root', root, '--block-onbuild']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /ONBUILD/.test(l));
  t.equal(lines.length, 1, r.stderr);
  t.match(lines[0], /^warning: builder .*t\/onbuild:latest has 2 ONBUILD triggers that this build does not run \(--block-onbuild\): RUN echo triggered > \/tmp\/onbuild; COPY \. \/opt\/app$/);
  const plain = await builder('t/no-onbuild', { assemble: LIST_ASSEMBLE('image'), run: RUN });
  const p = await runCli(['build', src, plain, `${registry.host}/t/onbuild-app:2`, '--root', root, '--block-onbuild']);
  t.equal(p.code, 0, p.stderr);
  t.notMatch(p.stderr, /ONBUILD/);
});
