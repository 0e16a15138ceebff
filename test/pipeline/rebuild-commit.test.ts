// rebuild of an image built from a local git repository builds the commit its labels record, not the
// repository's HEAD of today, without touching the user's working tree; a commit the repository lacks is one
// line and exit 14 (ERR_REBUILD_COMMIT).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { lastLayer } from '../helpers/layer-listing.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushScriptedBuilder } from '../helpers/scripted-builder.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-rebuild-commit-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
const root = path.join(tmp, 'root');
let builder = '';
t.before(async () => {
  registry = await startRegistry();
  await pushScriptedBuilder(client.repository(registry.host, 'rb/builder'), 'latest', tmp, {
    assemble: '#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/src/\n',
    run: '#!/bin/sh\ntrue\n',
  });
  builder = `${registry.host}/rb/builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function newRepo(name: string): { dir: string; git: (...a: string[]) => string } {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=Ann Dev', '-c', 'user.email=ann@example.com', ...a], { encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  return { dir, git };
}

const label = async (ref: string, key: string): Promise<string | undefined> => {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`], { encoding: 'utf8' });
  return (JSON.parse(out) as { config?: { Labels?: Record<string, string> } }).config?.Labels?.[key];
};

t.test('commit A built, commit B made, rebuild: the layer holds A; the working tree is left as it was', async (t) => {
  const { dir, git } = newRepo('app');
  writeFileSync(path.join(dir, 'index.html'), 'version A\n');
  writeFileSync(path.join(dir, 'only-in-a.txt'), 'a\n');
  git('add', '.');
  git('commit', '-q', '-m', 'A');
  const a = git('rev-parse', 'HEAD').trim();
  const first = `${registry.host}/rb/app:1`;
  const r1 = await runCli(['build', dir, builder, first, '--root', root]);
  t.equal(r1.code, 0, r1.stderr);
  t.equal(await label(first, 'io.openshift.s2i.build.commit.id'), a);

  writeFileSync(path.join(dir, 'index.html'), 'version B, a longer line\n');
  unlinkSync(path.join(dir, 'only-in-a.txt'));
  writeFileSync(path.join(dir, 'only-in-b.txt'), 'b\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'B');
  const b = git('rev-parse', 'HEAD').trim();
  // Uncommitted work the rebuild must not touch.
  writeFileSync(path.join(dir, 'index.html'), 'work in progress\n');
  const statusBefore = git('status', '--porcelain');

  const second = `${registry.host}/rb/app:2`;
  const r2 = await runCli(['rebuild', first, second, '--root', root]);
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stderr, new RegExp(`Rebuilding ${first} from ${dir}#${a}`));
  t.equal(await label(second, 'io.openshift.s2i.build.commit.id'), a, 'the commit recorded, not HEAD');
  const names = (await lastLayer(client, second)).entries.map((e) => e.name.replace(/^\.\//, ''));
  t.ok(names.includes('opt/app-root/src/only-in-a.txt'), 'A\'s file is in the layer');
  t.notOk(names.some((n) => n.includes('only-in-b')), 'B\'s file is not');
  const index = (await lastLayer(client, second)).entries.find((e) => e.name.replace(/^\.\//, '') === 'opt/app-root/src/index.html');
  t.equal(index?.size, 'version A\n'.length, 'index.html as A had it');

  t.equal(git('rev-parse', 'HEAD').trim(), b, 'the repository\'s HEAD is still B');
  t.equal(git('status', '--porcelain'), statusBefore, 'the working tree is as it was');
  t.equal(readFileSync(path.join(dir, 'index.html'), 'utf8'), 'work in progress\n');
  t.equal(git('worktree', 'list').trim().split('\n').length, 1, 'no worktree added to the repository');
});

t.test('the recorded commit is not in the repository: one line, exit 14, nothing built', async (t) => {
  const { dir, git } = newRepo('gone');
  writeFileSync(path.join(dir, 'index.html'), 'first\n');
  git('add', '.');
  git('commit', '-q', '-m', 'first');
  const first = `${registry.host}/rb/gone:1`;
  const r1 = await runCli(['build', dir, builder, first, '--root', root]);
  t.equal(r1.code, 0, r1.stderr);
  // Another repository at the same path (a fresh clone of a rewritten history): the commit is gone.
  rmSync(dir, { recursive: true, force: true });
  const again = newRepo('gone');
  writeFileSync(path.join(again.dir, 'index.html'), 'other\n');
  again.git('add', '.');
  again.git('commit', '-q', '-m', 'other');

  const r2 = await runCli(['rebuild', first, `${registry.host}/rb/gone:2`, '--root', root]);
  t.equal(r2.code, 14, r2.stderr);
  const lines = r2.stderr.trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /commit [0-9a-f]{12} that .* was built from is not in the repository .*gone: fetch it/);
  const tags = await client.repository(registry.host, 'rb/gone').tags().catch(() => [] as string[]);
  t.notOk(tags.includes('2'), 'nothing pushed');
});
