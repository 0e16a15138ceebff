import t from 'tap';
import { mkdir, writeFile, readdir, stat, symlink, readlink, lstat, chmod } from 'node:fs/promises';
import path from 'node:path';
import { globToRegExp } from '../../src/s2i/glob.js';
import { parseIgnoreFile, makeSourceFilter, copySource, filterFromRules, compileExclude } from '../../src/s2i/ignore.js';
import { tmpDir } from './tmp-dir.js';
import { exitOf } from '../helpers/exit-code.js';

t.test('glob: Go filepath.Match table', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['*.log', 'a.log', true],
    ['*.log', 'dir/a.log', false], // * never crosses /
    ['*/*.log', 'dir/a.log', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[abc]x', 'bx', true],
    ['[^abc]x', 'dx', true],
    ['[^abc]x', 'ax', false],
    ['[a-c]x', 'cx', true],
    ['[a-c]x', 'dx', false],
    ['\\*x', '*x', true],
    ['\\*x', 'ax', false],
    ['.git', '.git', true],
    ['*', '.hidden', true],
    ['a.b', 'axb', false], // dot is literal
    ['(x)+', '(x)+', true], // regex chars are literal
    ['**/*.tmp', 'a/b/c.tmp', true], // extension: ** spans dirs
    ['**/*.tmp', 'c.tmp', true],
    ['docs/**', 'docs/a/b', true],
    ['[^a]', '/', false],
  ];
  for (const [p, s, want] of cases) t.equal(globToRegExp(p).test(s), want, `${p} ~ ${s}`);
  for (const bad of ['[abc', 'x\\', '[z-a]']) t.throws(() => globToRegExp(bad), { code: 'ERR_S2IIGNORE_SYNTAX' }, bad);
});

t.test('parseIgnoreFile: comments, blanks, negation, cleanup, bad line', async (t) => {
  const rules = parseIgnoreFile('# c\n\n  *.log  \n!keep.log\n/abs\ndir/\n./dot\n../outside\n', '.s2iignore');
  t.same(rules.map((r) => [r.negate, r.pattern]), [[false, '*.log'], [true, 'keep.log'], [false, 'abs'], [false, 'dir'], [false, 'dot']]);
  t.throws(() => parseIgnoreFile('ok\n[bad\n', 'src/.s2iignore'), { code: 'ERR_S2IIGNORE_SYNTAX', message: /src\/\.s2iignore:2/ });
});

t.test('filter: order of rules, ancestors, default .git exclude', async (t) => {
  const f = filterFromRules(parseIgnoreFile('*.log\n!keep.log\ntmp\n!tmp/x\nsub/*.o\n'), compileExclude(undefined));
  const cases: Array<[string, boolean]> = [
    ['a.log', false],
    ['keep.log', true],
    ['sub/a.log', true], // *.log is root-relative
    ['tmp', false],
    ['tmp/x', false], // inside an ignored dir: a ! cannot re-include (as s2i)
    ['sub/a.o', false],
    ['sub/a.c', true],
    ['.git', false],
    ['.git/config', false],
    ['sub/.git', false],
    ['.gitignore', true],
    ['my.git', true],
    ['', true],
  ];
  for (const [p, keep] of cases) t.equal(f(p, false), keep, p);
  const noExclude = filterFromRules([], compileExclude(''));
  t.ok(noExclude('.git/config', false), '--exclude "" keeps .git');
  t.notOk(filterFromRules([], compileExclude('\\.md$'))('README.md', false), 'custom --exclude');
  t.throws(() => compileExclude('('), { code: 'ERR_EXCLUDE_SYNTAX' });
});

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(e.isDirectory() ? r + '/' : e.isSymbolicLink() ? r + '@' : r);
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
    }
  };
  await walk(dir, '');
  return out;
}

t.test('copySource with .s2iignore: ! re-include, comments, dir patterns, modes', async (t) => {
  const dir = await tmpDir(t);
  const src = path.join(dir, 'src');
  const files: Record<string, string> = {
    '.s2iignore': '# build output\nbuild\n*.log\n!important.log\n\n# nested\ndocs/*.draft\n',
    'app.js': 'x',
    'a.log': 'x',
    'important.log': 'x',
    'build/out.bin': 'x',
    'docs/a.draft': 'x',
    'docs/a.md': 'x',
    'lib/b.log': 'x',
    '.git/HEAD': 'ref',
    'run.sh': '#!/bin/sh',
  };
  for (const [p, c] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, p)), { recursive: true });
    await writeFile(path.join(src, p), c);
  }
  await chmod(path.join(src, 'run.sh'), 0o751);
  await chmod(path.join(src, 'docs'), 0o750);
  const dest = path.join(dir, 'dest');
  const res = await copySource(src, dest, await makeSourceFilter(src));
  t.same(await tree(dest), ['.s2iignore', 'app.js', 'docs/', 'docs/a.md', 'important.log', 'lib/', 'lib/b.log', 'run.sh']);
  t.equal(res.files, 6);
  t.equal((await stat(path.join(dest, 'run.sh'))).mode & 0o7777, 0o751);
  t.equal((await stat(path.join(dest, 'docs'))).mode & 0o7777, 0o750);
  const dm = (await stat(path.join(dest, 'app.js'))).mtimeMs;
  const sm = (await stat(path.join(src, 'app.js'))).mtimeMs;
  t.ok(Math.abs(dm - sm) < 0.01, `mtime kept (${dm} vs ${sm})`);
});

t.test('copySource: symlinks followed by default, kept with keepSymlinks, loops cut', async (t) => {
  const dir = await tmpDir(t);
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, 'real'), { recursive: true });
  await writeFile(path.join(src, 'real', 'f'), 'data');
  await symlink('real', path.join(src, 'link'));
  await symlink('real/f', path.join(src, 'flink'));
  await symlink('nowhere', path.join(src, 'dangling'));
  await symlink('..', path.join(src, 'real', 'loop'));
  const keep = (): boolean => true;

  const followed = path.join(dir, 'followed');
  await copySource(src, followed, keep);
  t.equal((await lstat(path.join(followed, 'link'))).isDirectory(), true);
  t.equal((await lstat(path.join(followed, 'flink'))).isFile(), true);
  t.equal(await readlink(path.join(followed, 'dangling')), 'nowhere');
  t.notOk(await stat(path.join(followed, 'real', 'loop', 'real')).catch(() => undefined), 'loop back to the root is cut');

  const kept = path.join(dir, 'kept');
  await copySource(src, kept, keep, { keepSymlinks: true });
  t.equal(await readlink(path.join(kept, 'link')), 'real');
  t.equal(await readlink(path.join(kept, 'real', 'loop')), '..');
});

t.test('copySource: destination inside the source is not copied into itself', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'a'), 'x');
  const dest = path.join(dir, 'out');
  await copySource(dir, dest, () => true);
  t.same(await tree(dest), ['a']);
});

t.test('copySource: missing source is exit 14', async (t) => {
  const dir = await tmpDir(t);
  await t.rejects(exitOf(copySource(path.join(dir, 'nope'), path.join(dir, 'd'), () => true)), { code: 'ERR_SOURCE_MISSING', exitCode: 14 });
  await writeFile(path.join(dir, 'file'), 'x');
  await t.rejects(exitOf(copySource(path.join(dir, 'file'), path.join(dir, 'd'), () => true)), { code: 'ERR_SOURCE_MISSING', exitCode: 14 });
  await mkdir(path.join(dir, 's'));
  await writeFile(path.join(dir, 's', '.s2iignore'), '[oops\n');
  await t.rejects(makeSourceFilter(path.join(dir, 's')), { code: 'ERR_S2IIGNORE_SYNTAX', message: /\.s2iignore:1/ });
});
