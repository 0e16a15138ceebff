// A git source with a submodule, through the CLI: `oci-s2i build file:///…repo#ref builder tag` where the repo
// has a file:// submodule. git refuses file:// submodules by default (CVE-2022-39253); oci-s2i runs git with
// the caller's environment, so git's own GIT_CONFIG_COUNT/KEY/VALUE variables allow them for one command.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync, chmodSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli as runCliRaw, type CliResult } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const runCli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCliRaw(args, { env: { NODE_OPTIONS: '', ...env } });
/** git's environment form of `-c protocol.file.allow=always` (git >= 2.31). */
const allowFileProtocol = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'protocol.file.allow', GIT_CONFIG_VALUE_0: 'always' };

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-submodule-test-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
let registry: TestRegistry;
let builder = '';
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\necho "---> sources:"; find /tmp/src -type f | sort\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, 't/submodule-builder'), 'latest', { scriptsDir: scripts });
  builder = `${registry.host}/t/submodule-builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=Sub Dev', '-c', 'user.email=sub@example.com', '-c', 'protocol.file.allow=always', ...args], { encoding: 'utf8' });
}

/** A repository with app/index.html on branch `release`, whose `app/lib` is a file:// submodule. */
function makeRepos(): { repo: string; sha: string } {
  const lib = path.join(tmp, 'lib-repo');
  mkdirSync(lib);
  git(lib, 'init', '-q', '-b', 'main');
  mkdirSync(path.join(lib, 'nested'));
  writeFileSync(path.join(lib, 'nested', 'helper.txt'), 'from the submodule\n');
  git(lib, 'add', '.');
  git(lib, 'commit', '-q', '-m', 'lib');
  const repo = path.join(tmp, 'app-repo');
  mkdirSync(path.join(repo, 'app'), { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(repo, 'app', 'index.html'), 'main\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  git(repo, 'checkout', '-q', '-b', 'release');
  git(repo, 'submodule', '--quiet', 'add', `file://${lib}`, 'app/lib');
  writeFileSync(path.join(repo, 'app', 'index.html'), 'release\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'release with lib');
  const sha = git(repo, 'rev-parse', 'HEAD').trim();
  git(repo, 'checkout', '-q', 'main');
  return { repo, sha };
}

/** The image's root filesystem, by skopeo copy to an OCI layout and umoci unpack. */
function unpack(ref: string, name: string): string {
  const layout = path.join(tmp, `layout-${name}`);
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`], { stdio: 'ignore' });
  const bundle = path.join(tmp, `bundle-${name}`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:img`, bundle], { stdio: 'ignore' });
  return path.join(bundle, 'rootfs');
}

t.test('git source with a file:// submodule through the CLI: its files are in /tmp/src; refused without opting in', async (t) => {
  const { repo, sha } = makeRepos();
  const out = `${registry.host}/t/submodule-app:1`;

  const refused = await runCli(['build', `file://${repo}#release`, builder, out, '--root', root]);
  t.equal(refused.code, 14, 'git refuses file:// submodules by default: exit 14');
  t.match(refused.stderr, /cannot fetch submodules of file:\/\//);

  const r = await runCli(['build', `file://${repo}#release`, builder, out, '--root', root], allowFileProtocol);
  if (!t.equal(r.code, 0, 'builds with protocol.file.allow=always from the environment')) t.comment(r.stderr);
  t.match(r.stderr, /\/tmp\/src\/app\/lib\/nested\/helper\.txt/, "assemble saw the submodule's file");
  const rootfs = unpack(out, 'whole');
  t.equal(readFileSync(path.join(rootfs, 'tmp/src/app/lib/nested/helper.txt'), 'utf8'), 'from the submodule\n', 'submodule file in /tmp/src');
  t.equal(readFileSync(path.join(rootfs, 'tmp/src/app/index.html'), 'utf8'), 'release\n', '#ref checked out');
  t.notOk(existsSync(path.join(rootfs, 'tmp/src/app/lib/.git')), "the submodule's .git file is excluded");
  t.notOk(existsSync(path.join(rootfs, 'tmp/src/.git')), '.git excluded');
  const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${out}`], { encoding: 'utf8' }));
  t.equal(cfg.config.Labels['io.openshift.s2i.build.commit.id'], sha, "the superproject's commit");
  t.equal(cfg.config.Labels['io.openshift.s2i.build.commit.ref'], 'release');

  // --context-dir inside the superproject still gets the submodule below it.
  const ctxOut = `${registry.host}/t/submodule-app:ctx`;
  const c = await runCli(['build', `file://${repo}`, builder, ctxOut, '--root', root, '--ref', 'release', '--context-dir', 'app'], allowFileProtocol);
  if (!t.equal(c.code, 0, '--ref and --context-dir')) t.comment(c.stderr);
  const ctxRoot = unpack(ctxOut, 'ctx');
  t.same(readdirSync(path.join(ctxRoot, 'tmp/src')).sort(), ['index.html', 'lib']);
  t.equal(readFileSync(path.join(ctxRoot, 'tmp/src/lib/nested/helper.txt'), 'utf8'), 'from the submodule\n');
});

t.test('a submodule whose URL does not exist: exit 14 naming the repository', async (t) => {
  const repo = path.join(tmp, 'broken-repo');
  mkdirSync(repo);
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(repo, 'index.html'), 'x\n');
  writeFileSync(path.join(repo, '.gitmodules'), `[submodule "gone"]\n\tpath = gone\n\turl = file://${tmp}/no-such-repo\n`);
  // A gitlink entry for `gone` at some commit id, without a checkout.
  git(repo, 'update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},gone`);
  git(repo, 'add', 'index.html', '.gitmodules'); // not `add .`: it would stage the gitlink's removal
  git(repo, 'commit', '-q', '-m', 'broken submodule');
  const r = await runCli(['build', `file://${repo}`, builder, `${registry.host}/t/submodule-broken:1`, '--root', root], allowFileProtocol);
  t.equal(r.code, 14);
  t.match(r.stderr, new RegExp(`cannot fetch submodules of file://${repo}`));
});
