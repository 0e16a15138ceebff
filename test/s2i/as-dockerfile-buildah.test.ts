// The --as-dockerfile output must build under buildah (issue 5). Uses a private buildah store (vfs) in a temp
// dir and a base image made from the static busybox, so nothing leaves the machine.
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeAsDockerfile } from '../../src/s2i/as-dockerfile.js';
import { resolveScripts } from '../../src/s2i/scripts.js';
import { buildEnvironment } from '../../src/s2i/environment.js';
import { makeSourceFilter } from '../../src/s2i/ignore.js';
import { generatedLabels, Label } from '../../src/s2i/labels.js';
import { tmpDir } from './tmp-dir.js';

const run = promisify(execFile);
const which = async (c: string): Promise<boolean> => run('sh', ['-c', `command -v ${c}`]).then(() => true, () => false);
const canRun = process.getuid?.() === 0 && (await which('buildah')) && (await which('busybox'));

t.test('buildah builds the --as-dockerfile output, clean then incremental', { skip: canRun ? false : 'needs root, buildah and busybox' }, async (t) => {
  const dir = await tmpDir(t, 's2i-buildah-');
  const store = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--storage-driver', 'vfs'];
  const buildah = async (...args: string[]): Promise<string> => (await run('buildah', [...store, ...args], { maxBuffer: 64 << 20 })).stdout.trim();
  t.teardown(() => buildah('rm', '--all').catch(() => {}));
  const bud = (ctx: string, tag: string, file = 'Containerfile'): Promise<string> =>
    buildah('bud', '--isolation', 'chroot', '-q', '-f', path.join(ctx, file), '-t', tag, ctx);

  // Builder: busybox, scripts in the image (run, save-artifacts), label image://.
  const bctx = path.join(dir, 'builder');
  await mkdir(path.join(bctx, 's2i'), { recursive: true });
  await copyFile('/bin/busybox', path.join(bctx, 'busybox')).catch(() => copyFile('/usr/bin/busybox', path.join(bctx, 'busybox')));
  await writeFile(path.join(bctx, 's2i', 'run'), '#!/bin/sh\nexec cat /tmp/app/greeting\n', { mode: 0o755 });
  await writeFile(path.join(bctx, 's2i', 'save-artifacts'), '#!/bin/sh\ncd /tmp/app && tar -cf - count\n', { mode: 0o755 });
  await writeFile(
    path.join(bctx, 'Containerfile'),
    [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'RUN mkdir -m 1777 /tmp',
      'COPY s2i /usr/libexec/s2i',
      'LABEL io.openshift.s2i.scripts-url="image:///usr/libexec/s2i"',
      'USER 1001',
      '',
    ].join('\n'),
  );
  await bud(bctx, 'localhost/s2i-test-builder');
  const builderLabels = { [Label.scriptsUrl]: 'image:///usr/libexec/s2i' };

  // Source: its own assemble (overrides the image:// label), and an environment file.
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, '.s2i', 'bin'), { recursive: true });
  await writeFile(
    path.join(src, '.s2i', 'bin', 'assemble'),
    '#!/bin/sh\nset -e\nmkdir -p /tmp/app\ncp -R /tmp/src/. /tmp/app/\nn=1\nif [ -f /tmp/artifacts/count ]; then n=$(( $(cat /tmp/artifacts/count) + 1 )); fi\necho $n > /tmp/app/count\necho "$GREETING" > /tmp/app/greeting\n' +
      'if [ -f /tmp/inj/key ]; then echo more >> /tmp/inj/key; wc -c < /tmp/inj/key > /tmp/app/injected; ls /tmp/src > /tmp/app/src-list; fi\n',
    { mode: 0o755 },
  );
  await writeFile(path.join(src, '.s2i', 'environment'), 'GREETING=hello $USER "world"\n');
  await writeFile(path.join(src, 'index.html'), 'hi\n');

  const build = async (name: string, previous?: string, injections?: Array<{ source: string; destination: string }>): Promise<string> => {
    const scripts = await resolveScripts({ sourceDir: src, imageLabels: builderLabels, imageEnv: [], needed: ['assemble', 'run'], optional: ['save-artifacts'] });
    const ctx = path.join(dir, name);
    await mkdir(ctx);
    await writeAsDockerfile({
      containerfile: path.join(ctx, 'Containerfile'),
      sourceDir: src,
      filter: await makeSourceFilter(src),
      builderImage: 'localhost/s2i-test-builder',
      destination: '/tmp',
      assembleUser: '1001',
      imageUser: '1001',
      labels: generatedLabels({ builderImage: 'localhost/s2i-test-builder', sourceLocation: src, tag: name }),
      env: await buildEnvironment({ sourceDir: src, env: [], envFiles: [] }),
      scripts,
      ...(previous ? { incremental: { previousImage: previous } } : {}),
      ...(injections ? { injections } : {}),
    });
    const tag = `localhost/${name}`;
    await bud(ctx, tag);
    return tag;
  };
  const readIn = async (image: string, file: string): Promise<string> => {
    const ctr = await buildah('from', '--pull-never', image);
    try {
      const mnt = await buildah('mount', ctr);
      return await readFile(path.join(mnt, file), 'utf8');
    } finally {
      await buildah('rm', ctr);
    }
  };

  const first = await build('app1');
  const cfg = JSON.parse(await buildah('inspect', '--type', 'image', first)).OCIv1.config;
  t.same(cfg.Cmd, ['/usr/libexec/s2i/run'], 'CMD in exec form, run from the image');
  t.equal(cfg.User, '1001');
  t.ok((cfg.Env as string[]).includes('GREETING=hello $USER "world"'), '$ and quotes survive');
  t.equal(cfg.Labels[Label.k8sDisplayName], 'app1');
  t.equal(await readIn(first, 'tmp/app/count'), '1\n', '.s2i/bin/assemble ran although the label says image://');
  t.equal(await readIn(first, 'tmp/app/index.html'), 'hi\n');

  const second = await build('app2', first);
  t.equal(await readIn(second, 'tmp/app/count'), '2\n', 'artifacts of the previous image restored');

  // --inject: copied in for assemble (writable by it), removed in the same RUN: in no layer, no path left.
  const inj = path.join(dir, 'inj');
  await mkdir(path.join(inj, 'sub'), { recursive: true });
  await writeFile(path.join(inj, 'key'), 'very-secret-key\n', { mode: 0o600 });
  await writeFile(path.join(inj, 'sub', 'token'), 'tok-123\n', { mode: 0o600 });
  const third = await build('app3', undefined, [
    { source: inj, destination: '/tmp/inj' },
    { source: path.join(inj, 'key'), destination: '/tmp/one/key' },
  ]);
  t.equal(await readIn(third, 'tmp/app/injected'), '21\n', 'assemble read and appended to the injected file');
  t.match(await readIn(third, 'tmp/app/src-list'), /index\.html/, '/tmp/src is not hidden by an injection into /tmp');
  const layout = path.join(dir, 'layout');
  await buildah('push', third, `oci:${layout}:x`);
  const blobs = path.join(layout, 'blobs', 'sha256');
  const { readdir } = await import('node:fs/promises');
  const zlib = await import('node:zlib');
  for (const b of await readdir(blobs)) {
    const raw = await readFile(path.join(blobs, b));
    const data = raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
    t.notOk(data.includes('very-secret-key') || data.includes('tok-123'), `no injected content in blob ${b.slice(0, 12)}`);
    if (data[0] === 0x7b) continue; // JSON: the config's history names the RUN (paths, not contents)
    const tarFile = path.join(dir, 'layer.tar');
    await writeFile(tarFile, data);
    const names = (await run('tar', ['-tf', tarFile], { maxBuffer: 64 << 20 })).stdout;
    t.notOk(/(^|\n)(\.\/)?tmp\/(inj|one)|\.s2i-injection/.test(names), `no injection path in layer ${b.slice(0, 12)}: ${names.split('\n').filter((n) => /tmp\/|run\//.test(n)).join(' ')}`);
  }
  // Bad: a destination the assemble user (1001) cannot create fails the build.
  await t.rejects(build('app4', undefined, [{ source: inj, destination: '/bad/dir' }]), 'an injection destination that cannot be created fails the build');
});
