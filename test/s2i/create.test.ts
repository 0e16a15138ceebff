import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createScaffold } from '../../src/s2i/create.js';
import { tmpDir } from './tmp-dir.js';

const all = ['Dockerfile', 'Makefile', 'README.md', 's2i/bin/assemble', 's2i/bin/run', 's2i/bin/usage', 's2i/bin/save-artifacts', 'test/run', 'test/test-app/index.html'];

t.test('create writes the scaffold with the right modes', async (t) => {
  const dir = await tmpDir(t);
  const r = await createScaffold('my-builder', dir);
  t.same(r.created.sort(), [...all].sort());
  t.same(r.kept, []);
  for (const p of ['s2i/bin/assemble', 's2i/bin/run', 's2i/bin/usage', 's2i/bin/save-artifacts']) {
    t.equal((await stat(path.join(dir, p))).mode & 0o777, 0o755, p);
  }
  t.equal((await stat(path.join(dir, 'test/run'))).mode & 0o777, 0o700);
  const df = await readFile(path.join(dir, 'Dockerfile'), 'utf8');
  t.match(df, /io\.openshift\.s2i\.scripts-url="image:\/\/\/usr\/libexec\/s2i"/);
  t.match(df, /^COPY \.\/s2i\/bin\/ \/usr\/libexec\/s2i$/m);
  t.match(df, /^USER 1001$/m);
  t.match(df, /^CMD \["\/usr\/libexec\/s2i\/usage"\]$/m);
  t.match(df, /^FROM docker\.io\/library\/busybox:latest$/m);
  t.notMatch(df, /\{\{/);
  t.match(await readFile(path.join(dir, 'test/run'), 'utf8'), /oci-s2i|OCI_S2I/);
  t.match(await readFile(path.join(dir, 'Makefile'), 'utf8'), /\toci-s2i|\t\$\(OCI_S2I\)/);
  // every script is valid POSIX sh
  for (const p of ['s2i/bin/assemble', 's2i/bin/run', 's2i/bin/usage', 's2i/bin/save-artifacts', 'test/run']) {
    t.doesNotThrow(() => execFileSync('sh', ['-n', path.join(dir, p)]), `sh -n ${p}`);
  }
  const usage = execFileSync(path.join(dir, 's2i/bin/usage'), { encoding: 'utf8' });
  t.match(usage, /my-builder/);
});

t.test('save-artifacts writes a valid empty tar when there is nothing to save', async (t) => {
  const dir = await tmpDir(t);
  await createScaffold('b', dir);
  const script = (await readFile(path.join(dir, 's2i/bin/save-artifacts'), 'utf8')).replace('/opt/app-root/src', dir);
  await writeFile(path.join(dir, 'sa'), script, { mode: 0o755 });
  const out = execFileSync(path.join(dir, 'sa'));
  t.equal(out.length, 1024);
  t.equal(execFileSync('tar', ['-tf', '-'], { input: out, encoding: 'utf8' }), '');
});

t.test('create never overwrites and reports what it kept', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'Dockerfile'), 'mine');
  await mkdir(path.join(dir, 's2i/bin'), { recursive: true });
  await writeFile(path.join(dir, 's2i/bin/run'), 'my run', { mode: 0o600 });
  const r = await createScaffold('b', dir, { baseImage: 'registry.example/ubi:9' });
  t.same(r.kept.sort(), ['Dockerfile', 's2i/bin/run']);
  t.equal(r.created.length, all.length - 2);
  t.equal(await readFile(path.join(dir, 'Dockerfile'), 'utf8'), 'mine');
  t.equal(await readFile(path.join(dir, 's2i/bin/run'), 'utf8'), 'my run');
  t.equal((await stat(path.join(dir, 's2i/bin/run'))).mode & 0o777, 0o600, 'mode untouched');
  const again = await createScaffold('b', dir);
  t.same(again.created, []);
  t.equal(again.kept.length, all.length);
});

t.test('create: bad names', async (t) => {
  const dir = await tmpDir(t);
  for (const bad of ['', 'has space', '-x', 'a"b', 'x\ny']) await t.rejects(createScaffold(bad, dir), { code: 'ERR_CREATE_NAME' }, JSON.stringify(bad));
  await t.rejects(createScaffold('ok', dir, { baseImage: 'bad base' }), { code: 'ERR_CREATE_NAME' });
  await writeFile(path.join(dir, 'file'), 'x');
  await t.rejects(createScaffold('ok', path.join(dir, 'file')), { code: 'ERR_CREATE_WRITE' });
});
