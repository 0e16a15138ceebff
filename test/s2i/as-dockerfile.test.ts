import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile, mkdir, writeFile, stat, rm, symlink, lstat } from 'node:fs/promises';
import { makeSourceFilter } from '../../src/s2i/ignore.js';
import path from 'node:path';
import { renderContainerfile, writeAsDockerfile, quoteWord, type ContainerfileInput } from '../../src/s2i/as-dockerfile.js';
import type { ScriptName, ScriptSource } from '../../src/s2i/scripts.js';
import { tmpDir } from './tmp-dir.js';

const imageScripts = (...names: ScriptName[]): Array<[ScriptName, ScriptSource]> => names.map((n) => [n, { kind: 'image', path: `/usr/libexec/s2i/${n}` }]);

t.test('golden: simple build, image scripts', async (t) => {
  const input: ContainerfileInput = {
    builderImage: 'registry.example/builder:1',
    destination: '/tmp',
    assembleUser: '1001',
    imageUser: '1001',
    labels: { 'io.openshift.s2i.build.image': 'registry.example/builder:1', 'io.k8s.display-name': 'app' },
    env: [['A', '1'], ['B', 'two words']],
    scripts: new Map(imageScripts('assemble', 'run')),
  };
  t.equal(
    renderContainerfile(input),
    `FROM registry.example/builder:1
LABEL "io.k8s.display-name"="app" \\
      "io.openshift.s2i.build.image"="registry.example/builder:1"
ENV A="1" \\
    B="two words"
COPY --chown=1001:0 upload/src /tmp/src
USER 1001
RUN ["/usr/libexec/s2i/assemble"]
CMD ["/usr/libexec/s2i/run"]
`,
  );
});

t.test('golden: incremental, .s2i/bin overrides beside an image:// label, user restored', async (t) => {
  const scripts = new Map<ScriptName, ScriptSource>([
    ['assemble', { kind: 'file', hostPath: '/src/.s2i/bin/assemble' }],
    ['run', { kind: 'image', path: '/usr/libexec/s2i/run' }],
    ['save-artifacts', { kind: 'file', hostPath: '/src/.s2i/bin/save-artifacts' }],
  ]);
  const out = renderContainerfile({
    builderImage: 'builder',
    destination: '/opt/s2i',
    assembleUser: '431',
    imageUser: '1001',
    labels: {},
    env: [],
    scripts,
    incremental: { previousImage: 'registry.example/app:latest' },
  });
  t.equal(
    out,
    `FROM registry.example/app:latest AS cached
# save-artifacts from the source or a scripts URL, run in the previous image
COPY --chown=431:0 upload/scripts/save-artifacts /opt/s2i/scripts/save-artifacts
USER 431
RUN if [ -x /opt/s2i/scripts/save-artifacts ]; then /opt/s2i/scripts/save-artifacts > /tmp/artifacts.tar; else touch /tmp/artifacts.tar; fi

FROM builder
COPY --chown=431:0 upload/scripts /opt/s2i/scripts
COPY --chown=431:0 upload/src /opt/s2i/src
COPY --from=cached --chown=431:0 /tmp/artifacts.tar /tmp/artifacts.tar
USER 431
RUN if [ -s /tmp/artifacts.tar ]; then mkdir -p /opt/s2i/artifacts && tar -xf /tmp/artifacts.tar -C /opt/s2i/artifacts; fi && rm -f /tmp/artifacts.tar
RUN ["/opt/s2i/scripts/assemble"]
USER 1001
CMD ["/usr/libexec/s2i/run"]
`,
  );
});

t.test('incremental without save-artifacts is a clean build; root assemble user', async (t) => {
  const out = renderContainerfile({
    builderImage: 'b',
    destination: '/tmp',
    assembleUser: '',
    labels: {},
    env: [],
    scripts: new Map(imageScripts('assemble', 'run')),
    incremental: { previousImage: 'prev' },
  });
  t.notMatch(out, /cached/);
  t.match(out, /COPY --chown=0:0 upload\/src \/tmp\/src\nUSER 0\n/);
  t.notMatch(out, /USER 0\nRUN[^\n]*\nUSER/, 'no restore when imageUser unknown');
});

t.test('values are escaped; bad values refused', async (t) => {
  t.equal(quoteWord('a"b\\c$HOME', 'x'), '"a\\"b\\\\c\\$HOME"');
  const out = renderContainerfile({
    builderImage: 'b',
    destination: '/tmp',
    assembleUser: '1001:1001',
    labels: { 'weird "key"': 'v$1' },
    env: [['P', '$PATH:"x"']],
    scripts: new Map<ScriptName, ScriptSource>([
      ['assemble', { kind: 'image', path: '/s/as "q"' }],
      ['run', { kind: 'image', path: '/s/run' }],
    ]),
  });
  t.match(out, /LABEL "weird \\"key\\""="v\\\$1"/);
  t.match(out, /ENV P="\\\$PATH:\\"x\\""/);
  t.match(out, /RUN \["\/s\/as \\"q\\""\]/);
  t.match(out, /--chown=1001:1001 /);
  const base = { builderImage: 'b', destination: '/tmp', assembleUser: '1', labels: {}, env: [] as Array<[string, string]>, scripts: new Map(imageScripts('assemble', 'run')) };
  t.throws(() => renderContainerfile({ ...base, labels: { a: 'x\ny' } }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderContainerfile({ ...base, env: [['A B', 'x']] }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderContainerfile({ ...base, builderImage: 'a b' }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderContainerfile({ ...base, assembleUser: 'x y' }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderContainerfile({ ...base, scripts: new Map(imageScripts('assemble')) }), { code: 'ERR_SCRIPT_MISSING' });
});

t.test('writeAsDockerfile writes Containerfile, upload/src and upload/scripts', async (t) => {
  const dir = await tmpDir(t);
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, '.s2i', 'bin'), { recursive: true });
  await writeFile(path.join(src, '.s2i', 'bin', 'assemble'), '#!/bin/sh\n', { mode: 0o700 });
  await writeFile(path.join(src, 'index.html'), 'hi');
  const ctx = path.join(dir, 'ctx');
  await mkdir(ctx);
  const r = await writeAsDockerfile({
    containerfile: path.join(ctx, 'Containerfile'),
    sourceDir: src,
    filter: () => true,
    builderImage: 'b',
    destination: '/tmp',
    assembleUser: '1001',
    labels: {},
    env: [],
    scripts: new Map<ScriptName, ScriptSource>([
      ['assemble', { kind: 'file', hostPath: path.join(src, '.s2i', 'bin', 'assemble') }],
      ['run', { kind: 'http', url: 'http://x/run', data: Buffer.from('#!/bin/sh\nrun\n') }],
    ]),
  });
  t.same(r.scripts, ['assemble', 'run']);
  t.match(await readFile(path.join(ctx, 'Containerfile'), 'utf8'), /COPY --chown=1001:0 upload\/scripts \/tmp\/scripts/);
  t.equal(await readFile(path.join(ctx, 'upload', 'src', 'index.html'), 'utf8'), 'hi');
  t.equal(await readFile(path.join(ctx, 'upload', 'scripts', 'run'), 'utf8'), '#!/bin/sh\nrun\n');
  t.equal((await stat(path.join(ctx, 'upload', 'scripts', 'assemble'))).mode & 0o777, 0o755);
});

t.test('a second writeAsDockerfile into the same directory starts from an empty upload tree', async (t) => {
  const dir = await tmpDir(t);
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, '.s2i', 'bin'), { recursive: true });
  await writeFile(path.join(src, '.s2i', 'bin', 'assemble'), '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(path.join(src, 'secret.txt'), 'secret');
  await writeFile(path.join(src, 'index.html'), 'hi');
  const ctx = path.join(dir, 'ctx');
  await mkdir(ctx);
  const write = async (scripts: Array<[ScriptName, ScriptSource]>) =>
    writeAsDockerfile({
      containerfile: path.join(ctx, 'Dockerfile'),
      sourceDir: src,
      filter: await makeSourceFilter(src),
      builderImage: 'b',
      destination: '/tmp',
      assembleUser: '1001',
      labels: {},
      env: [],
      scripts: new Map(scripts),
    });
  await write([['assemble', { kind: 'file', hostPath: path.join(src, '.s2i', 'bin', 'assemble') }], ...imageScripts('run')]);
  t.ok(existsSync(path.join(ctx, 'upload', 'src', 'secret.txt')), 'first run copies everything');
  t.ok(existsSync(path.join(ctx, 'upload', 'scripts', 'assemble')));
  // Second run: secret.txt now excluded, assemble from the image.
  await writeFile(path.join(src, '.s2iignore'), 'secret.txt\n');
  await write(imageScripts('assemble', 'run'));
  t.notOk(existsSync(path.join(ctx, 'upload', 'src', 'secret.txt')), 'the excluded file from the earlier run is gone');
  t.ok(existsSync(path.join(ctx, 'upload', 'src', 'index.html')));
  t.notOk(existsSync(path.join(ctx, 'upload', 'scripts')), 'stale override scripts are gone');
  // Bad: upload/src replaced by a link to somewhere else: the link goes, what it points at stays.
  const elsewhere = path.join(dir, 'elsewhere');
  await mkdir(elsewhere);
  await writeFile(path.join(elsewhere, 'keep'), 'k');
  await rm(path.join(ctx, 'upload', 'src'), { recursive: true });
  await symlink(elsewhere, path.join(ctx, 'upload', 'src'));
  await write(imageScripts('assemble', 'run'));
  t.equal(await readFile(path.join(elsewhere, 'keep'), 'utf8'), 'k', 'the link target is untouched');
  t.ok((await lstat(path.join(ctx, 'upload', 'src'))).isDirectory(), 'upload/src is a real directory again');
  t.ok(existsSync(path.join(ctx, 'upload', 'src', 'index.html')));
});
