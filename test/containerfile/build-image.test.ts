// End to end: `oci-s2i build-image` against the real registry, checked with skopeo and umoci: the guide's
// golang-builder shape and the `create` scaffold built FROM a busybox image pushed first, then used as builders
// by `oci-s2i build`; squash, OCI format, oci: output, ADD of a tar, COPY flags, globs, .dockerignore, scratch;
// and every failure mode (syntax errors with line numbers, failing RUN, missing sources, bad flags).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, statSync, readFileSync, chmodSync, readdirSync, existsSync, lstatSync, readlinkSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli as runCliRaw, type CliResult } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { createScaffold } from '../../src/s2i/create.js';

// tap's per-process hooks (NODE_OPTIONS) make every CLI start several times slower; they are not needed here.
const runCli = (args: string[]): Promise<CliResult> => runCliRaw(args, { env: { NODE_OPTIONS: '' } });
// The guide's scripts, shortened and in POSIX sh (busybox has no bash or go).
const guideScripts: Record<string, string> = {
  assemble: '#!/bin/sh -e\necho "---> Installing application source"\ncp -Rf /tmp/src/. ./\necho "---> Build finished as $(id -u):$(id -g) in $(pwd)"\n',
  run: '#!/bin/sh -e\nexec httpd -f -p "${PORT:-8080}" -h "$(pwd)"\n',
  usage: '#!/bin/sh\necho "This is the golang-builder S2I image"\n',
  'save-artifacts': '#!/bin/sh\ntar -cf - .\n',
};
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-build-image-test-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
let registry: TestRegistry;
let base: string;
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
  // Like docker.io/library/busybox: runs as root. One layer, one history entry.
  await pushBusyboxBuilder(client.repository(registry.host, 'lib/busybox'), 'latest', { user: '0', cmd: ['sh'] });
  base = `${registry.host}/lib/busybox:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8' });
}
function config(ref: string): { config: Record<string, any>; history: Array<Record<string, any>>; rootfs: { diff_ids: string[] } } {
  return JSON.parse(skopeo('inspect', '--tls-verify=false', '--config', `docker://${ref}`));
}
function rawManifest(ref: string): { mediaType: string; layers: Array<{ mediaType: string }> } {
  return JSON.parse(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${ref}`));
}
/** Unpacks a registry image with skopeo + umoci; returns the rootfs path. */
function unpack(ref: string, name: string): string {
  const layout = path.join(tmp, `layout-${name}`);
  skopeo('copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`);
  const bundle = path.join(tmp, `bundle-${name}`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:img`, bundle], { stdio: 'ignore' });
  return path.join(bundle, 'rootfs');
}
function dir(files: Record<string, string | { content: string; mode: number }>): string {
  const d = mkdtempSync(path.join(tmp, 'ctx-'));
  chmodSync(d, 0o755);
  for (const [name, f] of Object.entries(files)) {
    const p = path.join(d, name);
    mkdirSync(path.dirname(p), { recursive: true });
    if (typeof f === 'string') writeFileSync(p, f);
    else writeFileSync(p, f.content, { mode: f.mode });
  }
  return d;
}
function appSource(): string {
  return dir({ 'index.html': 'Test S2I process!\n' });
}

const golangShape = `# golang-builder (S2I-GUIDE.md), with busybox instead of golang:1.12
ARG BASE
FROM \${BASE}
LABEL maintainer "Longfei Hua <hualongfeiyyy@163.com>"

# environment variable GOCACHE=/tmp seted to avoid write errors when
# running the build as a user other than root
ENV CGO_ENABLED=0 \\
    GOOS=linux \\
    GOCACHE=/tmp \\
    STI_SCRIPTS_PATH=/usr/libexec/s2i \\
    SOURCE_DIR=/go/src/app

LABEL io.k8s.description="Builder image for compiling and testing Go applications" \\
      io.k8s.display-name="golang-builder" \\
      io.openshift.s2i.scripts-url=image://\${STI_SCRIPTS_PATH}

# Copy the s2i scripts into the golang image
COPY ./s2i/bin/ \${STI_SCRIPTS_PATH}
# Must add exec permission otherwise build failed during 's2i build'
RUN chmod +x \${STI_SCRIPTS_PATH}/assemble \${STI_SCRIPTS_PATH}/run \${STI_SCRIPTS_PATH}/usage

# Allow random UIDs to write to the $SOURCE_DIR (for OKD/OpenShift)
RUN mkdir -p $SOURCE_DIR && \\
    chmod 0777 $SOURCE_DIR

WORKDIR $SOURCE_DIR

# Drop root (as is tradition)
USER 1001

# usage script just print regular messages
CMD ["/usr/libexec/s2i/usage"]
`;

function golangContext(): string {
  const d = dir({ Dockerfile: golangShape });
  mkdirSync(path.join(d, 's2i', 'bin'), { recursive: true });
  // Scripts without the exec bit: the RUN chmod +x has to add it (save-artifacts is left alone).
  for (const [n, text] of Object.entries(guideScripts)) {
    writeFileSync(path.join(d, 's2i', 'bin', n), text);
    chmodSync(path.join(d, 's2i', 'bin', n), 0o644);
  }
  return d;
}

t.test('the guide golang-builder shape: config, history, layers, files; then it works as an S2I builder', async (t) => {
  const ref = `${registry.host}/t/golang-builder:latest`;
  const digestFile = path.join(tmp, 'digest-golang');
  const r = await runCli(['build-image', '--build-arg', `BASE=${base}`, '--root', root, '--digestfile', digestFile, golangContext(), ref]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), readFileSync(digestFile, 'utf8').trim());
  t.match(r.stderr, /STEP 3\/11: LABEL maintainer/);
  const raw = rawManifest(ref);
  t.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json', 'docker format by default');
  t.equal(raw.layers.length, 4, 'the base layer plus COPY, RUN, RUN');
  for (const l of raw.layers) t.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  const cfg = config(ref);
  t.same(cfg.config.Env, [
    'PATH=/usr/local/bin:/usr/bin:/bin',
    'HOME=/opt/app-root/src',
    'CGO_ENABLED=0',
    'GOOS=linux',
    'GOCACHE=/tmp',
    'STI_SCRIPTS_PATH=/usr/libexec/s2i',
    'SOURCE_DIR=/go/src/app',
  ]);
  t.equal(cfg.config.Labels['io.openshift.s2i.scripts-url'], 'image:///usr/libexec/s2i', '${STI_SCRIPTS_PATH} substituted from ENV');
  t.equal(cfg.config.Labels.maintainer, 'Longfei Hua <hualongfeiyyy@163.com>', 'legacy LABEL form, quotes removed');
  t.equal(cfg.config.Labels['io.k8s.display-name'], 'golang-builder');
  t.equal(cfg.config.User, '1001');
  t.equal(cfg.config.WorkingDir, '/go/src/app');
  t.same(cfg.config.Cmd, ['/usr/libexec/s2i/usage']);
  t.equal(cfg.history.length, 1 + 9, 'base history plus one entry per instruction after FROM (ARG makes none)');
  t.equal(cfg.history.filter((h) => !h.empty_layer).length, 4);
  t.equal(cfg.rootfs.diff_ids.length, 4);
  t.match(cfg.history[4]!.created_by, /^COPY \.\/s2i\/bin\/ \/usr\/libexec\/s2i/);
  t.match(cfg.history[5]!.created_by, /^RUN \/bin\/sh -c chmod \+x/);
  t.equal(cfg.history[1]!.empty_layer, true);

  const rootfs = unpack(ref, 'golang');
  for (const n of ['assemble', 'run', 'usage']) {
    const st = statSync(path.join(rootfs, 'usr/libexec/s2i', n));
    t.equal(st.mode & 0o777, 0o755, `${n} made executable by RUN chmod`);
    t.equal(st.uid, 0, `${n} owned by root`);
  }
  t.equal(statSync(path.join(rootfs, 'usr/libexec/s2i/save-artifacts')).mode & 0o777, 0o644, 'save-artifacts keeps its mode');
  const src = statSync(path.join(rootfs, 'go/src/app'));
  t.ok(src.isDirectory());
  t.equal(src.mode & 0o7777, 0o777, 'SOURCE_DIR is world-writable');

  const app = `${registry.host}/t/golang-app:latest`;
  const b = await runCli(['build', appSource(), ref, app, '--root', root]);
  t.equal(b.code, 0, b.stderr);
  t.match(b.stderr, /Build finished as 1001:0 in \/go\/src\/app/);
  t.same(config(app).config.Cmd, ['/usr/libexec/s2i/run'], 'the builder label led build to the run script');
});

t.test('the create scaffold builds FROM a pushed busybox, and builds an application', async (t) => {
  const d = path.join(tmp, 'scaffold');
  await createScaffold('test-builder', d, { baseImage: base });
  const ref = `${registry.host}/t/scaffold-builder:v1`;
  const r = await runCli(['build-image', '--root', root, d, ref]);
  t.equal(r.code, 0, r.stderr);
  const cfg = config(ref);
  t.equal(cfg.config.User, '1001');
  t.equal(cfg.config.WorkingDir, '/opt/app-root/src');
  t.same(cfg.config.ExposedPorts, { '8080/tcp': {} });
  t.same(cfg.config.Cmd, ['/usr/libexec/s2i/usage']);
  t.equal(cfg.config.Labels['io.openshift.s2i.scripts-url'], 'image:///usr/libexec/s2i');
  t.ok(cfg.config.Env.includes('HOME=/opt/app-root/src'));
  const rootfs = unpack(ref, 'scaffold');
  t.equal(statSync(path.join(rootfs, 'usr/libexec/s2i/assemble')).mode & 0o777, 0o755, 'COPY keeps the scripts executable');
  t.equal(statSync(path.join(rootfs, 'opt/app-root/src')).uid, 1001, 'RUN chown took effect');

  const app = `${registry.host}/t/scaffold-app:v1`;
  const b = await runCli(['build', path.join(d, 'test', 'test-app'), ref, app, '--root', root]);
  t.equal(b.code, 0, b.stderr);
  t.match(b.stderr, /Installing application source/, "the scaffold's assemble ran");
  t.same(config(app).config.Cmd, ['/usr/libexec/s2i/run']);
});

t.test('--squash: one new layer, history kept; --format oci', async (t) => {
  const ref = `${registry.host}/t/golang-squashed:latest`;
  const r = await runCli(['build-image', '--squash', '--format', 'oci', '--build-arg', `BASE=${base}`, '--root', root, golangContext(), ref]);
  t.equal(r.code, 0, r.stderr);
  const raw = rawManifest(ref);
  t.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  t.equal(raw.layers.length, 2, 'base layer plus one');
  for (const l of raw.layers) t.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const cfg = config(ref);
  t.equal(cfg.history.length, 10);
  t.equal(cfg.history.filter((h) => !h.empty_layer).length, 2);
  t.match(cfg.history[6]!.created_by, /^RUN .*mkdir -p/, 'the last filesystem step carries the squashed layer');
  t.notOk(cfg.history[6]!.empty_layer);
  const rootfs = unpack(ref, 'squashed');
  t.equal(statSync(path.join(rootfs, 'usr/libexec/s2i/run')).mode & 0o777, 0o755);
  t.equal(statSync(path.join(rootfs, 'go/src/app')).mode & 0o777, 0o777);
});

t.test('COPY/ADD flags, globs, .dockerignore, ADD of a tar, exec-form RUN, ENTRYPOINT, scratch and oci: output', async (t) => {
  const ctx = dir({
    'Containerfile': `FROM ${base}
ARG GREETING=hello
ARG UNUSED
ENV APP=/app
COPY --chown=named:tty --chmod=0640 conf/*.conf \${APP}/conf/
COPY ["data dir/", "$APP/data/"]
COPY single.txt /app/renamed.txt
COPY . /ctx/
ADD bundle.tar.gz /opt/
ADD plain.tar /opt/plain/
ADD notes.gz /opt/
RUN ["/bin/sh", "-c", "echo $GREETING > /app/greeting; id -u > /app/uid"]
USER named
RUN id -u > /tmp/uid-named
WORKDIR rel
WORKDIR sub
ENTRYPOINT ["/bin/sh"]
EXPOSE 80/udp 8080-8081
VOLUME /data
STOPSIGNAL SIGINT
`,
    'conf/a.conf': 'a\n',
    'conf/b.conf': 'b\n',
    'conf/c.txt': 'not a conf\n',
    'data dir/x': 'x\n',
    'single.txt': 'single\n',
    'secret.key': 'do not copy\n',
    'logs/x.log': 'log\n',
    '.dockerignore': '# comment\nsecret.key\nlogs\n',
  });
  symlinkSync('single.txt', path.join(ctx, 'link'));
  // An archive with an owner, a mode and a symlink; and a gzip file that is not a tar (copied as is).
  const tarSrc = dir({ 'top/file': 'from the tar\n', 'top/run.sh': { content: '#!/bin/sh\n', mode: 0o750 } });
  symlinkSync('file', path.join(tarSrc, 'top', 'alias'));
  execFileSync('tar', ['-czf', path.join(ctx, 'bundle.tar.gz'), '--owner=431', '--group=5', '-C', tarSrc, 'top']);
  execFileSync('tar', ['-cf', path.join(ctx, 'plain.tar'), '-C', tarSrc, 'top']);
  writeFileSync(path.join(tmp, 'notes'), 'just notes\n');
  execFileSync('sh', ['-c', `gzip -c '${path.join(tmp, 'notes')}' > '${path.join(ctx, 'notes.gz')}'`]);
  const layout = path.join(tmp, 'out-layout');
  const r = await runCli(['build-image', '--root', root, '--build-arg', 'NOT_DECLARED=1', ctx, `oci:${layout}:flags`]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /NOT_DECLARED/, 'undeclared build args are reported');
  const cfg = JSON.parse(skopeo('inspect', '--config', `oci:${layout}:flags`));
  t.equal(JSON.parse(skopeo('inspect', '--raw', `oci:${layout}:flags`)).mediaType, 'application/vnd.oci.image.manifest.v1+json', 'oci: gets OCI by default');
  t.same(cfg.config.Entrypoint, ['/bin/sh']);
  t.notOk(cfg.config.Cmd, 'ENTRYPOINT resets the inherited CMD');
  t.same(cfg.config.ExposedPorts, { '80/udp': {}, '8080/tcp': {}, '8081/tcp': {} });
  t.same(cfg.config.Volumes, { '/data': {} });
  t.equal(cfg.config.StopSignal, 'SIGINT');
  t.equal(cfg.config.WorkingDir, '/opt/app-root/src/rel/sub', 'relative WORKDIRs stack');
  t.notOk(cfg.config.Env.some((e: string) => e.startsWith('GREETING=')), 'ARG values are not persisted');
  const bundle = path.join(tmp, 'bundle-flags');
  execFileSync('umoci', ['unpack', '--image', `${layout}:flags`, bundle], { stdio: 'ignore' });
  const rf = path.join(bundle, 'rootfs');
  t.same(readdirSync(path.join(rf, 'app/conf')).sort(), ['a.conf', 'b.conf'], 'glob matched only *.conf');
  const a = statSync(path.join(rf, 'app/conf/a.conf'));
  t.equal(a.uid, 431, '--chown user by name');
  t.equal(a.gid, 5, '--chown group by name');
  t.equal(a.mode & 0o777, 0o640, '--chmod');
  t.equal(statSync(path.join(rf, 'app/conf')).uid, 431, 'created destination dir gets the owner');
  t.equal(readFileSync(path.join(rf, 'app/data/x'), 'utf8'), 'x\n', 'JSON form with a space, contents of a dir');
  t.equal(readFileSync(path.join(rf, 'app/renamed.txt'), 'utf8'), 'single\n', 'file to a file path');
  t.equal(statSync(path.join(rf, 'app/renamed.txt')).uid, 0, 'COPY without --chown: root');
  t.ok(existsSync(path.join(rf, 'ctx/Containerfile')));
  t.notOk(existsSync(path.join(rf, 'ctx/secret.key')), '.dockerignore file');
  t.notOk(existsSync(path.join(rf, 'ctx/logs')), '.dockerignore dir');
  t.equal(readlinkSync(path.join(rf, 'ctx/link')), 'single.txt', 'symlinks inside a copied dir stay symlinks');
  t.equal(readFileSync(path.join(rf, 'opt/top/file'), 'utf8'), 'from the tar\n', 'ADD unpacks a tar.gz');
  t.equal(statSync(path.join(rf, 'opt/top/file')).uid, 431, 'archive owners kept');
  t.equal(statSync(path.join(rf, 'opt/top/run.sh')).mode & 0o777, 0o750, 'archive modes kept');
  t.ok(lstatSync(path.join(rf, 'opt/top/alias')).isSymbolicLink());
  t.ok(existsSync(path.join(rf, 'opt/plain/top/file')), 'ADD unpacks a plain tar');
  t.ok(existsSync(path.join(rf, 'opt/notes.gz')), 'a gzip that is not a tar is copied');
  t.equal(readFileSync(path.join(rf, 'app/greeting'), 'utf8'), 'hello\n', 'ARG default visible to RUN');
  t.equal(readFileSync(path.join(rf, 'app/uid'), 'utf8'), '0\n');
  t.equal(readFileSync(path.join(rf, 'tmp/uid-named'), 'utf8'), '431\n', 'RUN runs as USER');
  t.ok(statSync(path.join(rf, 'opt/app-root/src/rel/sub')).isDirectory(), 'WORKDIR created');

  // FROM scratch, COPY only, into the local store.
  const sctx = dir({ Containerfile: 'FROM scratch\nCOPY hello /\nCMD ["/hello"]\n', hello: 'hi\n' });
  const s = await runCli(['build-image', '--root', root, '--no-push', sctx, `${registry.host}/t/scratch:latest`]);
  t.equal(s.code, 0, s.stderr);
  t.match(s.stderr, /kept in the local store/);
  t.throws(() => skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/t/scratch:latest`), 'not pushed');
  // …and from there onto an OCI layout through FROM oci:
  const fctx = dir({ Containerfile: `FROM oci:${layout}:flags\nRUN test -f /app/greeting\n` });
  const f = await runCli(['build-image', '--root', root, fctx, `${registry.host}/t/from-layout:latest`]);
  t.equal(f.code, 0, f.stderr);
  t.equal(config(`${registry.host}/t/from-layout:latest`).rootfs.diff_ids.length, cfg.rootfs.diff_ids.length + 1);
});

t.test('failures: syntax errors with line numbers, failing RUN, missing sources, bad flags', async (t) => {
  const cases: Array<{ name: string; file: string; files?: Record<string, string>; args?: string[]; code: number; msg: RegExp }> = [
    { name: 'unknown instruction', file: `FROM ${base}\n\nFROBNICATE x\n`, code: 64, msg: /Containerfile:3: unknown instruction "FROBNICATE"/ },
    { name: 'bad --chmod', file: `FROM ${base}\nCOPY --chmod=u+x a /a\n`, files: { a: 'a' }, code: 64, msg: /Containerfile:2: --chmod=u\+x is not an octal mode/ },
    { name: 'unknown --chown user', file: `FROM ${base}\nCOPY --chown=nobody2 a /a\n`, files: { a: 'a' }, code: 64, msg: /Containerfile:2: --chown=nobody2/ },
    { name: 'missing COPY source', file: `FROM ${base}\n\nCOPY nothere /x\n`, code: 14, msg: /Containerfile:3: COPY: "nothere" does not exist/ },
    { name: 'source outside the context via symlink', file: `FROM ${base}\nCOPY esc /x\n`, code: 14, msg: /Containerfile:2: COPY: cannot read "esc" in the build context: its symlink target \/etc\/passwd is not in the context/ },
    { name: 'failing RUN', file: `FROM ${base}\nRUN echo first && echo about to fail >&2 && exit 3\n`, code: 1, msg: /Containerfile:2: RUN .* exited with code 3; last output: .*about to fail/ },
    { name: 'bad build arg', file: `FROM ${base}\n`, args: ['--build-arg', '1BAD=x'], code: 64, msg: /invalid --build-arg "1BAD=x"/ },
  ];
  // Three at a time: each is a CLI process, and they share nothing but the (read-only here) store.
  for (let i = 0; i < cases.length; i += 3) {
    await Promise.all(
      cases.slice(i, i + 3).map(async (c) => {
        const ctx = dir({ Containerfile: c.file, ...(c.files ?? {}) });
        if (c.name.includes('symlink')) symlinkSync('/etc/passwd', path.join(ctx, 'esc'));
        const r = await runCli(['build-image', '--root', root, ...(c.args ?? []), ctx, `${registry.host}/t/bad:latest`]);
        t.equal(r.code, c.code, `${c.name}: exit code (${r.stderr.trim()})`);
        t.match(r.stderr, c.msg, `${c.name}: message`);
      }),
    );
  }
  const none = await runCli(['build-image', '--root', root, dir({}), `${registry.host}/t/bad:latest`]);
  t.equal(none.code, 64);
  t.match(none.stderr, /no Containerfile or Dockerfile/);
  const missing = await runCli(['build-image', '--root', root, path.join(tmp, 'no-such-dir'), `${registry.host}/t/bad:latest`]);
  t.equal(missing.code, 14);
});
