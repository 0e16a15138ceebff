// s2i's --as-dockerfile integration tests (openshift/source-to-image test/integration/dockerfile/
// dockerfile_test.go) against `oci-s2i build --as-dockerfile`: the same flags, the same expected lines and files,
// one subtest per Go test. The builder stands in for centos/nodejs-8-centos7 (USER 1001, scripts in
// /usr/libexec/s2i, made with buildah: sti-fake.ts), the source for sclorg/nodejs-ex (a git repository with
// server.js). Where oci-s2i writes a line differently on purpose, the expectation says how (EXEC below: CMD in
// exec form, so the run script gets signals as PID 1; the save-artifacts test is `-x`, as the script must run).
// Then buildah builds the generated files, clean and incremental, and the results are checked with umoci.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, existsSync, writeFileSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { cannotRun, startSuite, unpack, type Suite } from './sti-fake.js';

const run = promisify(execFile);
const skip = await cannotRun();
let suite: Suite;
let builder: string;
let source: string;

if (!skip) {
  t.before(async () => {
    suite = await startSuite(['nodejs-like']);
    builder = suite.image('nodejs-like');
    source = path.join(suite.dir, 'nodejs-ex');
    mkdirSync(source);
    writeFileSync(path.join(source, 'server.js'), "require('http').createServer((q, s) => s.end('hi')).listen(8080);\n");
    writeFileSync(path.join(source, 'package.json'), '{"name":"nodejs-ex","version":"1.0.0"}\n');
    const git = (...a: string[]) => run('git', ['-C', source, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a]);
    await git('init', '-q', '-b', 'master');
    await git('add', '.');
    await git('commit', '-q', '-m', 'nodejs example');
  });
  t.teardown(async () => suite?.stop());
}

const tempdir = () => mkdtempSync(path.join(suite.dir, 's2i-dockerfiletest-dir'));
const touch = (p: string) => closeSync(openSync(p, 'a', 0o666));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface DockerfileTest {
  /** The builder (default: the nodejs-like image), the source (default: the nodejs-ex repository) and the flags. */
  builderImage?: string;
  src?: string;
  tag?: string;
  flags: string[];
  /** --as-dockerfile PATH */
  asDockerfile: string;
  expected?: RegExp[];
  notExpected?: RegExp[];
  expectedFiles?: string[];
  expectFailure?: boolean;
}

/** runDockerfileTest: the command succeeds (or fails), the Containerfile holds each expected line and none of the others, the files exist. */
async function runDockerfileTest(t: Test, d: DockerfileTest): Promise<string> {
  const args = ['build', d.src ?? source, d.builderImage ?? builder, ...(d.tag ? [d.tag] : []), '--as-dockerfile', d.asDockerfile, ...d.flags, '--root', suite.root];
  const r = await runCli(args, { env: { NODE_OPTIONS: '' } });
  if (d.expectFailure) {
    t.not(r.code, 0, `the build fails: ${r.stderr.trim().split('\n').pop()}`);
    return '';
  }
  t.equal(r.code, 0, `the build succeeds: ${r.stderr.slice(-1500)}`);
  const file = d.asDockerfile.endsWith('/') ? path.join(d.asDockerfile, 'Dockerfile') : d.asDockerfile;
  const text = readFileSync(file, 'utf8');
  for (const re of d.expected ?? []) t.match(text, re, `has ${re}`);
  for (const re of d.notExpected ?? []) t.notMatch(text, re, `has no ${re}`);
  for (const f of d.expectedFiles ?? []) t.ok(existsSync(f), `file ${path.relative(suite.dir, f)}`);
  return text;
}

const COMMIT_LABELS = ['"io.openshift.s2i.build.commit.date"', '"io.openshift.s2i.build.commit.id"', '"io.openshift.s2i.build.commit.ref"', '"io.openshift.s2i.build.commit.message"', '"io.openshift.s2i.build.source-location"', '"io.openshift.s2i.build.commit.author"'].map((l) => new RegExp(esc(l)));
/** EXEC: `CMD ["/path/run"]` where s2i writes `CMD /path/run`. */
const cmd = (p: string) => new RegExp(`^CMD \\["${esc(p)}"\\]`, 'm');
/** EXEC too: `RUN ["/path/assemble"]` where s2i writes `RUN /path/assemble` (no shell between). */
const runs = (p: string) => new RegExp(`^RUN (\\["${esc(p)}"\\]|${esc(p)})`, 'm');

t.test('dockerfile_test.go', { skip }, async (t) => {
  t.test('TestDockerfileBuild', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      flags: [],
      asDockerfile: path.join(dir, 'MyDockerfile'),
      expected: [
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        ...COMMIT_LABELS,
        new RegExp(esc(`"io.openshift.s2i.build.image"="${builder}"`)),
        /^COPY --chown=1001:0 upload\/src \/tmp\/src/m,
        // The default image user runs assemble: USER 1001 is the last USER before RUN assemble.
        /^USER 1001\n(?:(?!USER ).*\n)*RUN (\[")?\/usr\/libexec\/s2i\/assemble/m,
        cmd('/usr/libexec/s2i/run'),
      ],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'MyDockerfile')],
    });
  });

  t.test('TestDockerfileBuildDefaultDockerfile', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      flags: [],
      asDockerfile: dir + path.sep,
      expected: [new RegExp(`^FROM ${esc(builder)}`, 'm'), ...COMMIT_LABELS, /^COPY --chown=1001:0 upload\/src \/tmp\/src/m, runs('/usr/libexec/s2i/assemble'), cmd('/usr/libexec/s2i/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'Dockerfile')],
    });
  });

  t.test('TestDockerfileBuildEnv', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, { flags: ['-e', 'key1=value1', '-e', 'key2=value2'], asDockerfile: path.join(dir, 'Dockerfile'), expected: [/key1="value1"/, /key2="value2"/] });
  });

  t.test('TestDockerfileBuildLabels', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      flags: ['--scripts-url', 'image:///scripts', '--destination', '/destination', '--label', 'label1=value1', '--label', 'label2=value2', '--label', 'io.openshift.s2i.build.commit.author=shadowman'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        /"io\.openshift\.s2i\.scripts-url"="image:\/\/\/scripts"/,
        /"io\.openshift\.s2i\.destination"="\/destination"/,
        ...COMMIT_LABELS.slice(0, 5),
        new RegExp(esc(`"io.openshift.s2i.build.image"="${builder}"`)),
        /"io\.openshift\.s2i\.build\.commit\.author"="shadowman"/,
        /"label1"="value1"/,
        /"label2"="value2"/,
      ],
    });
  });

  t.test('TestDockerfileBuildInjections', async (t) => {
    const dir = tempdir();
    const injection1 = path.join(dir, 'injection1');
    mkdirSync(injection1);
    for (let i = 0; i < 3; i++) touch(path.join(injection1, `injectfile-${i}`));
    const injection2 = path.join(dir, 'injection2');
    mkdirSync(injection2);
    touch(path.join(injection2, 'injectfile-2'));
    // s2i COPYs each injection in (a layer then holds it, though assemble's RUN removes it after) and stages it
    // under upload/injections/<host path>. oci-s2i binds it into assemble's own RUN from upload/injections/<n>,
    // copies it to the destination there and removes it in the same RUN: no layer ever holds it. s2i's
    // VolumeSpec Keep (injection2 kept) has no flag: every --inject is removed after assemble.
    const text = await runDockerfileTest(t, {
      flags: ['-i', `${injection1}:injection1`, '-i', `${injection2}:/destination/injection2`],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        /--mount=type=bind,source=upload\/injections\/0,/,
        /--mount=type=bind,source=upload\/injections\/1,/,
        /cp -R \S+ \/opt\/app-root\/src\/injection1\//,
        /cp -R \S+ \/destination\/injection2\//,
        /rm -f \/opt\/app-root\/src\/injection1\/injectfile-0/,
        /rm -f \/destination\/injection2\/injectfile-2/,
      ],
      notExpected: [/^COPY[^\n]*upload\/injections/m],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/injections/0/injectfile-0'), path.join(dir, 'upload/injections/1/injectfile-2')],
    });
    t.match(text, /\/usr\/libexec\/s2i\/assemble; rc=\$\?/, 'assemble runs between the copy and the removal, its status kept');
  });

  t.test('TestDockerfileBuildScriptsURLAssemble', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'assemble'));
    await runDockerfileTest(t, {
      flags: ['--scripts-url', `file://${dir}`, '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/libexec/s2i/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildScriptsURLRun', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'run'));
    await runDockerfileTest(t, {
      flags: ['--scripts-url', `file://${dir}`, '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/usr/libexec/s2i/assemble'), cmd('/destination/scripts/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/scripts/run')],
    });
  });

  t.test('TestDockerfileBuildScriptsURLNone', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, { flags: ['--scripts-url', `file://${dir}`, '--destination', '/destination'], asDockerfile: path.join(dir, 'Dockerfile'), expectFailure: true });
  });

  /** A plain directory with .s2i/bin/NAME (s2i: file:/// source, ForceCopy). */
  const sourceWith = (dir: string, name: string): string => {
    const src = path.join(dir, 'sourcecode');
    mkdirSync(path.join(src, '.s2i', 'bin'), { recursive: true });
    touch(path.join(src, '.s2i', 'bin', name));
    return src;
  };

  t.test('TestDockerfileBuildSourceScriptsAssemble', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      src: `file://${sourceWith(dir, 'assemble')}`,
      flags: ['--copy', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/libexec/s2i/run')],
      expectedFiles: [path.join(dir, 'upload/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildSourceScriptsRun', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      src: `file://${sourceWith(dir, 'run')}`,
      flags: ['--copy', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/usr/libexec/s2i/assemble'), cmd('/destination/scripts/run')],
      expectedFiles: [path.join(dir, 'upload/scripts/run')],
    });
  });

  t.test('TestDockerfileBuildScriptsURLImage', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      src: `file://${sourceWith(dir, 'assemble')}`,
      flags: ['--copy', '--scripts-url', 'image:///usr/custom/s2i', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [runs('/usr/custom/s2i/assemble'), cmd('/usr/custom/s2i/run')],
      notExpected: [/^COPY.*upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildImageScriptsURLAssemble', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'assemble'));
    await runDockerfileTest(t, {
      flags: ['--image-scripts-url', `file://${dir}`, '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/libexec/s2i/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildImageScriptsURLRun', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'run'));
    await runDockerfileTest(t, {
      flags: ['--image-scripts-url', `file://${dir}`, '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/usr/libexec/s2i/assemble'), cmd('/destination/scripts/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/scripts/run')],
    });
  });

  t.test('TestDockerfileBuildImageScriptsURLImage', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      src: `file://${sourceWith(dir, 'assemble')}`,
      flags: ['--copy', '--image-scripts-url', 'image:///usr/custom/s2i', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/custom/s2i/run')],
      expectedFiles: [path.join(dir, 'upload/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildScriptsAndImageURL', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'assemble'));
    await runDockerfileTest(t, {
      flags: ['--scripts-url', `file://${dir}`, '--image-scripts-url', 'image:///usr/some/dir', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/some/dir/run')],
      expectedFiles: [path.join(dir, 'upload/src/server.js'), path.join(dir, 'upload/scripts/assemble')],
    });
  });

  t.test('TestDockerfileBuildScriptsAndImageURLConflicts', async (t) => {
    const scriptsDir = tempdir();
    const imageDir = tempdir();
    const outputDir = tempdir();
    const assembleData = '#!/bin/bash\necho "Hello World!"';
    writeFileSync(path.join(scriptsDir, 'assemble'), assembleData);
    touch(path.join(imageDir, 'assemble'));
    await runDockerfileTest(t, {
      flags: ['--scripts-url', `file://${scriptsDir}`, '--image-scripts-url', `file://${imageDir}`, '--destination', '/destination'],
      asDockerfile: path.join(outputDir, 'Dockerfile'),
      expected: [/^COPY --chown=1001:0 upload\/scripts \/destination\/scripts/m, runs('/destination/scripts/assemble'), cmd('/usr/libexec/s2i/run')],
      expectedFiles: [path.join(outputDir, 'upload/src/server.js'), path.join(outputDir, 'upload/scripts/assemble')],
    });
    t.equal(readFileSync(path.join(outputDir, 'upload/scripts/assemble'), 'utf8'), assembleData, '--scripts-url wins over --image-scripts-url');
  });

  // The previous image stage: s2i writes `FROM TAG as cached`, a comment, then the USER of save-artifacts
  // (oci-s2i: `AS`, and no comment when save-artifacts is the image's).
  const cached = (from: string, user?: string) => new RegExp(`^FROM ${esc(from)} as cached\\n(#.+\\n)*${user ? `USER ${user}` : ''}`, 'mi');

  t.test('TestDockerfileIncrementalBuild', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      tag: 'test:tag',
      flags: ['--incremental'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        cached('test:tag', '1001'),
        // -x where s2i tests -s: a script that cannot run would fail the stage.
        /^RUN if \[ -x \/usr\/libexec\/s2i\/save-artifacts \]; then \/usr\/libexec\/s2i\/save-artifacts > \/tmp\/artifacts\.tar; else touch \/tmp\/artifacts\.tar; fi/m,
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        /^COPY (--chown=1001:0 --from=cached|--from=cached --chown=1001:0) \/tmp\/artifacts\.tar \/tmp\/artifacts\.tar/m,
        /if \[ -s \/tmp\/artifacts\.tar \]; then mkdir -p \/tmp\/artifacts(;| &&) tar -xf \/tmp\/artifacts\.tar -C \/tmp\/artifacts; fi/,
        /rm (-f )?\/tmp\/artifacts\.tar/,
        /^COPY --chown=1001:0 upload\/src \/tmp\/src/m,
        runs('/usr/libexec/s2i/assemble'),
        cmd('/usr/libexec/s2i/run'),
      ],
    });
  });

  t.test('TestDockerfileIncrementalSourceSave', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      src: sourceWith(dir, 'save-artifacts'),
      tag: 'test:tag',
      flags: ['--incremental', '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        cached('test:tag'),
        /^COPY --chown=1001:0 upload\/scripts\/save-artifacts \/destination\/scripts\/save-artifacts/m,
        /^USER 1001\nRUN if \[ -x \/destination\/scripts\/save-artifacts \]; then \/destination\/scripts\/save-artifacts > \/tmp\/artifacts\.tar;/m,
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        /mkdir -p \/destination\/artifacts/,
        /tar -xf \/tmp\/artifacts\.tar -C \/destination\/artifacts/,
        runs('/usr/libexec/s2i/assemble'),
        cmd('/usr/libexec/s2i/run'),
      ],
      expectedFiles: [path.join(dir, 'upload/scripts/save-artifacts')],
    });
  });

  t.test('TestDockerfileIncrementalSaveURL', async (t) => {
    const dir = tempdir();
    touch(path.join(dir, 'save-artifacts'));
    await runDockerfileTest(t, {
      tag: 'test:tag',
      flags: ['--incremental', '--scripts-url', `file://${dir}`, '--destination', '/destination'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        cached('test:tag'),
        /^COPY --chown=1001:0 upload\/scripts\/save-artifacts \/destination\/scripts\/save-artifacts/m,
        /^USER 1001\nRUN if \[ -x \/destination\/scripts\/save-artifacts \]; then \/destination\/scripts\/save-artifacts > \/tmp\/artifacts\.tar;/m,
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        /mkdir -p \/destination\/artifacts/,
        /tar -xf \/tmp\/artifacts\.tar -C \/destination\/artifacts/,
        runs('/usr/libexec/s2i/assemble'),
        cmd('/usr/libexec/s2i/run'),
      ],
      expectedFiles: [path.join(dir, 'upload/scripts/save-artifacts')],
    });
  });

  t.test('TestDockerfileIncrementalTag', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      tag: 'test:tag',
      flags: ['--incremental', '--incremental-from', 'incremental:tag'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        /^FROM incremental:tag as cached/im,
        /\/usr\/libexec\/s2i\/save-artifacts > \/tmp\/artifacts\.tar/,
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        /mkdir -p \/tmp\/artifacts/,
        /tar -xf \/tmp\/artifacts\.tar -C \/tmp\/artifacts/,
        /rm (-f )?\/tmp\/artifacts\.tar/,
        runs('/usr/libexec/s2i/assemble'),
        cmd('/usr/libexec/s2i/run'),
      ],
    });
  });

  t.test('TestDockerfileIncrementalAssembleUser', async (t) => {
    const dir = tempdir();
    await runDockerfileTest(t, {
      tag: 'test:tag',
      flags: ['--incremental', '--assemble-user', '2250'],
      asDockerfile: path.join(dir, 'Dockerfile'),
      expected: [
        cached('test:tag', '2250'),
        /\/usr\/libexec\/s2i\/save-artifacts > \/tmp\/artifacts\.tar/,
        new RegExp(`^FROM ${esc(builder)}`, 'm'),
        /^COPY (--chown=2250:0 --from=cached|--from=cached --chown=2250:0) \/tmp\/artifacts\.tar \/tmp\/artifacts\.tar/m,
        /mkdir -p \/tmp\/artifacts/,
        /tar -xf \/tmp\/artifacts\.tar -C \/tmp\/artifacts/,
        /rm (-f )?\/tmp\/artifacts\.tar/,
        runs('/usr/libexec/s2i/assemble'),
        cmd('/usr/libexec/s2i/run'),
      ],
    });
  });

  t.test('TestDockerfileLocalSource', async (t) => {
    const local = tempdir();
    const outputDir = tempdir();
    for (const d of ['foo/bar', 'foo/baz/foobar']) mkdirSync(path.join(local, d), { recursive: true });
    for (const f of ['foo/a_file', 'foo/bar/a_file', 'foo/bar/another_file', 'foo/baz/foobar/a_file']) writeFileSync(path.join(local, f), 'Hello World!');
    const out = (p: string) => path.join(outputDir, 'upload/src', p);
    const d = { builderImage: suite.image('nodejs-like'), src: `file://${local}`, flags: [], asDockerfile: path.join(outputDir, 'Dockerfile') };
    await runDockerfileTest(t, { ...d, expectedFiles: ['foo/a_file', 'foo/bar', 'foo/bar/a_file', 'foo/bar/another_file', 'foo/baz/foobar', 'foo/baz/foobar/a_file'].map(out) });
    writeFileSync(path.join(local, '.s2iignore'), 'dummy\n#skip_file\nfoo/bar/another_file\nfoo/baz/foobar');
    await runDockerfileTest(t, { ...d, expectedFiles: ['foo/a_file', 'foo/bar', 'foo/bar/a_file'].map(out) });
    // Beyond s2i's test: the second run into the same directory left nothing of the first behind.
    t.notOk(existsSync(out('foo/bar/another_file')), 'an ignored file from the earlier run is gone');
    t.notOk(existsSync(out('foo/baz/foobar')), 'an ignored directory from the earlier run is gone');
  });
});

t.test('buildah builds the generated files: clean, then incremental from it', { skip }, async (t) => {
  const dir = tempdir();
  const bud = (ctx: string, tag: string) => suite.buildah('bud', '--isolation', 'chroot', '-q', '--tls-verify=false', '-f', path.join(ctx, 'Dockerfile'), '-t', tag, ctx);
  const tag = 'localhost/conformance/nodejs-app:tag';
  const cleanCtx = path.join(dir, 'clean') + '/';
  const c = await runCli(['build', source, builder, tag, '--as-dockerfile', cleanCtx, '--root', suite.root], { env: { NODE_OPTIONS: '' } });
  t.equal(c.code, 0, c.stderr);
  await bud(cleanCtx, tag);
  const incCtx = path.join(dir, 'incremental') + '/';
  const i = await runCli(['build', source, builder, tag, '--as-dockerfile', incCtx, '--incremental', '--root', suite.root], { env: { NODE_OPTIONS: '' } });
  t.equal(i.code, 0, i.stderr);
  await bud(incCtx, `${tag}-2`);
  // Into the loopback registry, then read back with skopeo + umoci, and run as s2i's suite does.
  for (const [local, remote] of [[tag, 'conformance/nodejs-app:1'], [`${tag}-2`, 'conformance/nodejs-app:2']] as const) {
    await suite.buildah('push', '-q', '--tls-verify=false', local, `docker://${suite.registry.host}/${remote}`);
  }
  const first = await unpack(suite, `${suite.registry.host}/conformance/nodejs-app:1`, { runCommand: true });
  t.equal(first.exitCode, 0, 'the run script runs');
  t.ok(first.exists('sti-fake/assemble-invoked') && first.exists('sti-fake/run-invoked') && first.exists('sti-fake/src/server.js'), 'assemble and run ran, the source was there');
  t.notOk(first.exists('sti-fake/save-artifacts-invoked'), 'a clean build');
  t.equal(first.config.config.User, '1001');
  t.same(first.config.config.Cmd, ['/usr/libexec/s2i/run']);
  const second = await unpack(suite, `${suite.registry.host}/conformance/nodejs-app:2`);
  t.ok(second.exists('sti-fake/save-artifacts-invoked'), 'the incremental build restored the artifacts save-artifacts wrote');
  t.notOk(second.exists('tmp/artifacts.tar'), 'the artifacts tar is not left in the image');
});
