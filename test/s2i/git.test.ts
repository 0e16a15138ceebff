import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile, readFile, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isGitUrl, parseGitSource, cloneSource, gitInfo } from '../../src/s2i/git.js';
import { generatedLabels, Label } from '../../src/s2i/labels.js';
import { tmpDir } from './tmp-dir.js';
import { exitOf, exitOfSync } from '../helpers/exit-code.js';

const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ada Lovelace',
  GIT_AUTHOR_EMAIL: 'ada@example.com',
  GIT_COMMITTER_NAME: 'Ada Lovelace',
  GIT_COMMITTER_EMAIL: 'ada@example.com',
  GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z',
  GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z',
  GIT_CONFIG_NOSYSTEM: '1',
};
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], { cwd, env, encoding: 'utf8' }).trim();
}

t.test('isGitUrl table', async (t) => {
  const yes = ['https://github.com/a/b.git', 'http://h/r', 'git://h/r', 'ssh://git@h/r', 'file:///tmp/r', 'git@github.com:a/b.git', 'user@host:path/r', 'https://h/r#main'];
  const no = ['/tmp/dir', './rel', 'dir', 'C:\\x', 'image:///x', 'ftp://h/r', 'host:path', ''];
  for (const s of yes) t.ok(isGitUrl(s), s);
  for (const s of no) t.notOk(isGitUrl(s), s);
});

t.test('parseGitSource: good and bad', async (t) => {
  t.same(parseGitSource('https://h/r.git'), { url: 'https://h/r.git' });
  t.same(parseGitSource('https://h/r.git#v1.0'), { url: 'https://h/r.git', ref: 'v1.0' });
  t.same(parseGitSource('git@h:a/b#feature/x'), { url: 'git@h:a/b', ref: 'feature/x' });
  t.same(parseGitSource('file:///r', 'dev'), { url: 'file:///r', ref: 'dev' });
  t.same(parseGitSource('file:///r#dev', 'dev'), { url: 'file:///r', ref: 'dev' });
  t.throws(() => parseGitSource('file:///r#a', 'b'), { code: 'ERR_CONFLICTING_REF' });
  t.throws(exitOfSync(() => parseGitSource('/local/dir')), { code: 'ERR_GIT_URL', exitCode: 14 });
  t.throws(() => parseGitSource('https://h/r#'), { code: 'ERR_GIT_URL' });
  for (const ref of ['-upload-pack=evil', 'a b', 'a..b', 'x:y']) t.throws(() => parseGitSource(`https://h/r#${ref}`), { code: 'ERR_GIT_REF' }, ref);
});

t.test('clone a real repository: ref, tag, submodule, context dir, labels', async (t) => {
  const dir = await tmpDir(t, 's2i-git-');
  const sub = path.join(dir, 'sub');
  await mkdir(sub);
  git(sub, 'init', '-q');
  await writeFile(path.join(sub, 'lib.txt'), 'library\n');
  git(sub, 'add', '.');
  git(sub, 'commit', '-q', '-m', 'sub commit');

  const repo = path.join(dir, 'repo');
  await mkdir(path.join(repo, 'app'), { recursive: true });
  git(repo, 'init', '-q');
  await writeFile(path.join(repo, 'app', 'index.html'), 'v1\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first commit');
  git(repo, 'tag', 'v1');
  const v1 = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'submodule', '--quiet', 'add', `file://${sub}`, 'vendor/lib');
  await writeFile(path.join(repo, 'app', 'index.html'), 'v2\n');
  git(repo, 'commit', '-q', '-am', `${'long subject '.repeat(10)}\n\nbody line`);
  const v2 = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '-q', '-b', 'other');
  await writeFile(path.join(repo, 'other.txt'), 'o\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'other branch');
  git(repo, 'checkout', '-q', 'main');

  t.test('default branch, shallow, with submodule', async (t) => {
    const dest = path.join(dir, 'c1');
    const r = await cloneSource(`file://${repo}`, undefined, dest, { submodules: true, allowFileSubmodules: true });
    t.equal(await readFile(path.join(dest, 'app', 'index.html'), 'utf8'), 'v2\n');
    t.equal(await readFile(path.join(dest, 'vendor', 'lib', 'lib.txt'), 'utf8'), 'library\n');
    t.equal(r.info.id, v2);
    t.equal(r.info.ref, 'main');
    t.equal(r.info.author, 'Ada Lovelace <ada@example.com>');
    t.match(r.info.date, /2024/);
    t.match(r.info.message, /^long subject .*\n\nbody line$/s);
    t.equal(git(dest, 'rev-list', '--count', 'HEAD'), '1', 'shallow');
    const labels = generatedLabels({ builderImage: 'b', sourceLocation: `file://${repo}`, git: r.info });
    t.equal(labels[Label.commitMessage]!.length, 80);
    t.equal(labels[Label.commitId], v2);
  });

  t.test('#tag with context dir', async (t) => {
    const dest = path.join(dir, 'c2');
    const r = await cloneSource(`file://${repo}`, 'v1', dest, { contextDir: 'app' });
    t.equal(r.sourceDir, path.join(dest, 'app'));
    t.equal(await readFile(path.join(r.sourceDir, 'index.html'), 'utf8'), 'v1\n');
    t.equal(r.info.id, v1);
    t.equal(r.info.ref, 'v1');
    t.equal((await gitInfo(dest)).ref, 'v1', 'detached HEAD on a tag reports the tag');
  });

  t.test('branch and commit refs', async (t) => {
    const b = await cloneSource(repo, 'other', path.join(dir, 'c3'), { submodules: false });
    t.ok(await stat(path.join(b.repoDir, 'other.txt')));
    t.same(await readdir(path.join(b.repoDir, 'vendor', 'lib')), [], 'submodules off: not fetched');
    const c = await cloneSource(repo, v1, path.join(dir, 'c4'), {});
    t.equal(c.info.id, v1);
  });

  t.test('bad inputs', async (t) => {
    await t.rejects(exitOf(cloneSource(`file://${repo}`, 'no-such-ref', path.join(dir, 'c5'))), { code: 'ERR_GIT_REF', exitCode: 14 });
    await t.rejects(exitOf(cloneSource(`file://${repo}`, undefined, path.join(dir, 'c6'), { submodules: false, contextDir: 'missing' })), { code: 'ERR_CONTEXT_DIR', exitCode: 14 });
    await t.rejects(cloneSource(`file://${repo}`, undefined, path.join(dir, 'c7'), { submodules: false, contextDir: '../..' }), { code: 'ERR_CONTEXT_DIR' });
    await t.rejects(exitOf(cloneSource(`file://${dir}/nope`, undefined, path.join(dir, 'c8'))), { code: 'ERR_GIT_CLONE', exitCode: 14 });
    await t.rejects(cloneSource(`file://${repo}`, '--upload-pack=touch /tmp/x', path.join(dir, 'c9')), { code: 'ERR_GIT_REF' });
    // file:// submodules are refused unless allowed (CVE-2022-39253)
    await t.rejects(cloneSource(`file://${repo}`, undefined, path.join(dir, 'c10'), { submodules: true }), { code: 'ERR_GIT_SUBMODULE' });
  });

  t.test('empty repository: exit 16', async (t) => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    git(empty, 'init', '-q', '--bare');
    await t.rejects(exitOf(cloneSource(`file://${empty}`, undefined, path.join(dir, 'c11'))), { code: 'ERR_EMPTY_REPO', exitCode: 16 });
    await t.rejects(exitOf(cloneSource(`file://${empty}`, 'main', path.join(dir, 'c12'))), { code: 'ERR_EMPTY_REPO', exitCode: 16 });
    await t.rejects(exitOf(gitInfo(dir)), { code: 'ERR_EMPTY_REPO', exitCode: 16 });
  });
});
