import t from 'tap';
import { mkdtemp, mkdir, writeFile, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEnvironmentFile, parseEnvFlag, buildEnvironment, dedupeEnv, mergeEnvStrings } from '../../src/s2i/environment.js';

t.test('parseEnvironmentFile: good lines', async (t) => {
  const text = '# comment\n\nA=1\n  B = two words  \nC=x=y\nD=\n  # indented comment\nE="quoted"\nF=$HOME\r\n';
  t.same(parseEnvironmentFile(text, 'env'), [
    ['A', '1'],
    ['B', 'two words'],
    ['C', 'x=y'],
    ['D', ''],
    ['E', '"quoted"'],
    ['F', '$HOME'],
  ]);
});

t.test('parseEnvironmentFile: bad lines name file:line', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['A=1\nnoequals\n', /f\.env:2/],
    ['=value', /f\.env:1/],
    ['1A=x', /f\.env:1/],
    ['A B=x', /f\.env:1/],
    ['\n\n\nexport A=1', /f\.env:4/],
  ];
  for (const [text, re] of bad) {
    t.throws(() => parseEnvironmentFile(text, 'f.env'), { code: 'ERR_ENV_SYNTAX', message: re }, JSON.stringify(text));
  }
});

t.test('parseEnvFlag table', async (t) => {
  t.same(parseEnvFlag('A=1'), ['A', '1']);
  t.same(parseEnvFlag('A='), ['A', '']);
  t.same(parseEnvFlag('A=b=c'), ['A', 'b=c']);
  t.same(parseEnvFlag('A= spaced '), ['A', ' spaced ']);
  t.same(parseEnvFlag('my.var-1=x'), ['my.var-1', 'x']);
  for (const bad of ['A', '', '=x', '1A=x', 'A B=x']) {
    t.throws(() => parseEnvFlag(bad), { code: 'ERR_ENV_SYNTAX', message: /NAME=VALUE|valid variable name/ }, bad);
  }
});

t.test('dedupeEnv: later value at first position', async (t) => {
  t.same(dedupeEnv([['A', '1'], ['B', '1'], ['A', '2'], ['C', '1'], ['B', '3']]), [['A', '2'], ['B', '3'], ['C', '1']]);
  t.same(mergeEnvStrings(['PATH=/bin', 'X=1', 'ODD'], [['X', '2'], ['Y', '3']]), ['PATH=/bin', 'X=2', 'ODD=', 'Y=3']);
});

t.test('buildEnvironment: .s2i/environment, then -e, then -E in order', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's2i-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'src', '.s2i'), { recursive: true });
  await writeFile(path.join(dir, 'src', '.s2i', 'environment'), 'A=file\nB=file\nZ=file\n');
  await writeFile(path.join(dir, 'e1'), 'Z=e1\nM=e1\nK=e1\n');
  await writeFile(path.join(dir, 'e2'), 'K=e2\n');
  const env = await buildEnvironment({ sourceDir: path.join(dir, 'src'), env: [['B', 'flag'], ['N', 'flag']], envFiles: [path.join(dir, 'e1'), path.join(dir, 'e2')] });
  t.same(env, [['A', 'file'], ['B', 'flag'], ['Z', 'e1'], ['N', 'flag'], ['M', 'e1'], ['K', 'e2']]);
});

t.test('buildEnvironment: no .s2i/environment is fine', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's2i-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.same(await buildEnvironment({ sourceDir: dir, env: [['A', '1']], envFiles: [] }), [['A', '1']]);
});

t.test('buildEnvironment: unreadable files are ERR_ENV_FILE naming them', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's2i-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(buildEnvironment({ sourceDir: dir, env: [], envFiles: [path.join(dir, 'missing')] }), {
    code: 'ERR_ENV_FILE',
    message: /missing/,
  });
  // .s2i/environment that is a directory: unreadable, not silently skipped.
  await mkdir(path.join(dir, '.s2i', 'environment'), { recursive: true });
  await t.rejects(buildEnvironment({ sourceDir: dir, env: [], envFiles: [] }), { code: 'ERR_ENV_FILE', message: /\.s2i\/environment/ });
  await rm(path.join(dir, '.s2i', 'environment'), { recursive: true });
  await writeFile(path.join(dir, '.s2i', 'environment'), 'bad line\n');
  await t.rejects(buildEnvironment({ sourceDir: dir, env: [], envFiles: [] }), { code: 'ERR_ENV_SYNTAX', message: /environment:1/ });
  if (process.getuid?.() !== 0) {
    await writeFile(path.join(dir, 'noperm'), 'A=1');
    await chmod(path.join(dir, 'noperm'), 0);
    await t.rejects(buildEnvironment({ sourceDir: dir, env: [], envFiles: [path.join(dir, 'noperm')] }), { code: 'ERR_ENV_FILE' });
  }
});

t.test('bad -e is ERR_ENV_SYNTAX (parsed once, before buildEnvironment)', async (t) => {
  t.throws(() => parseEnvFlag('NOVALUE'), { code: 'ERR_ENV_SYNTAX' });
});
