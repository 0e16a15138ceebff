// The standalone engine (dist/standalone, scripts/standalone.mjs) where there is no Node and no libc: a
// busybox-only image run by podman, as a random non-root UID with every capability dropped and no_new_privs (the
// restricted pod), the directory mounted read-only. It prints its version and help, and writes real layers there
// (libdeflate gzip and zstd: every native addon and shared library loads) whose digests the host checks and
// reproduces; and in an image whose own (broken) libc sits at every usual path. Also on the host: through a symlink, the re-executions through bin/run-node (the root namespace,
// the rootless user namespace), and whole S2I builds as root and as an unprivileged user.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { projectRoot } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type TarFile } from '../../src/demo/busybox-image.js';
import { namespaceCommands } from '../../src/cli/command-table.js';
import { ensureUser, userTempDir } from '../helpers/users.js';
import { busyboxImage, podmanRun, restricted, rmiAll, testImage } from './podman.js';

const standalone = path.join(projectRoot, 'dist', 'standalone');
const entry = path.join(standalone, 'oci-s2i');
// Built by every `npm run build` (scripts/build.sh), which `npm test` runs first: missing is a failure, not a skip.
const built = existsSync(entry);
if (!built) t.fail('dist/standalone is missing: scripts/build.sh makes it (npm run build)');
const skip = process.getuid?.() !== 0 ? 'podman runs as root here (CI and the development machines): run the suite as root' : !built ? 'dist/standalone is missing' : false;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-standalone-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry | undefined;
let image = '';
let foreignLibc = '';
const client = new RegistryClient();

t.before(async () => {
  if (skip) return;
  registry = await startRegistry();
  image = busyboxImage(registry.host);
  const repo = image.slice(registry.host.length + 1).split(':')[0]!;
  await pushBusyboxBuilder(client.repository(registry.host, repo), 'latest', { user: '0', cmd: ['sh'] });
  // A libc of the image's own at every place a loader or Node would look, none of it loadable: what an Alpine
  // (musl) or an older glibc image is to the standalone, at its worst.
  foreignLibc = testImage(registry.host, 'foreign-libc');
  const junk = (name: string): TarFile => ({ name, content: 'not an ELF file\n', mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, foreignLibc.slice(registry.host.length + 1).split(':')[0]!), 'latest', {
    user: '0',
    cmd: ['sh'],
    env: ['PATH=/bin', 'LD_LIBRARY_PATH=/lib:/lib/x86_64-linux-gnu:/usr/lib'],
    extraLayer: [
      { name: 'lib/', type: 'directory' },
      { name: 'lib/x86_64-linux-gnu/', type: 'directory' },
      { name: 'lib64/', type: 'directory' },
      { name: 'usr/lib/', type: 'directory' },
      junk('lib/ld-musl-x86_64.so.1'),
      junk('lib64/ld-linux-x86-64.so.2'),
      ...['libc.so.6', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libdl.so.2', 'libdeflate.so.0'].flatMap((l) => [junk(`lib/${l}`), junk(`lib/x86_64-linux-gnu/${l}`), junk(`usr/lib/${l}`)]),
      junk('etc/ld.so.cache'),
    ],
  });
  await pushBusyboxBuilder(client.repository(registry.host, 'standalone/builder'), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
});
t.teardown(async () => {
  rmiAll();
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const mount = ['-v', `${standalone}:/opt/oci-s2i:ro`];

t.test('the entry script: POSIX sh, no path of this machine, the namespace commands of bin/oci-s2i', { skip }, async (t) => {
  const script = readFileSync(entry, 'utf8');
  t.equal(spawnSync('/bin/busybox', ['sh', '-n', entry]).status, 0, 'busybox sh parses it');
  t.notMatch(script, /@LOADER@/);
  t.notMatch(script, projectRoot, 'nothing of where it was built');
  const list = (s: string): string | undefined => /^case "\$1" in\n {2}([^\n)]*)\)\n/m.exec(s)?.[1];
  t.equal(list(script), [...namespaceCommands].join('|'), 'the same commands bin/oci-s2i execs under unshare');
  t.equal(list(script), list(readFileSync(path.join(projectRoot, 'bin', 'oci-s2i'), 'utf8')));
  t.ok(lstatSync(path.join(standalone, 'bin', 'node')).isFile(), 'bin/node is a real file, not a link to the build machine');
  // An in-image build leaves "the engine's own directory" out of its layer: the nearest directory above the
  // launcher whose package.json is oci-s2i's (pipeline/in-image.ts). That must be all of it, bin/ and lib/ too.
  t.equal((JSON.parse(readFileSync(path.join(standalone, 'package.json'), 'utf8')) as { name: string }).name, 'oci-s2i');
  for (const d of ['dist', 'dist/src', 'dist/src/cli']) t.notOk(existsSync(path.join(standalone, d, 'package.json')), `no package.json in ${d}`);
});

t.test('on the host: through a symlink, and the root re-execution through bin/run-node', { skip }, async (t) => {
  const link = path.join(tmp, 'bin', 'oci-s2i');
  mkdirSync(path.dirname(link));
  symlinkSync(entry, link);
  const version = execFileSync(link, ['version'], { encoding: 'utf8' });
  t.match(version, /^oci-s2i \d+\.\d+\.\d+ \(node v\d+/);
  t.equal(version, execFileSync(path.join(projectRoot, 'bin', 'oci-s2i'), ['version'], { encoding: 'utf8' }));
  // Node would read NODE_EXTRA_CA_CERTS at start-up (and warn about a missing file); the engine reads it as
  // OCI_S2I_EXTRA_CA_CERTS when it opens a TLS connection (bin/oci-s2i, src/sys/trust.ts).
  const ca = spawnSync(link, ['version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', NODE_EXTRA_CA_CERTS: path.join(tmp, 'missing-ca.pem') } });
  t.equal(ca.status, 0);
  t.equal(ca.stderr, '', 'NODE_EXTRA_CA_CERTS is not Node\'s to read');
  const hooked = spawnSync(link, ['version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${path.join(tmp, 'missing.js')}` } });
  t.equal(hooked.status, 0, `a NODE_OPTIONS meant for another Node is not this one's: ${hooked.stderr}`);
  // The loader started by hand, not by the script: launch.ts re-executes process.execPath under `unshare` for a
  // root namespace command, and that must be bin/run-node (the kernel's answer is the loader).
  const lib = path.join(standalone, 'lib');
  const r = spawnSync(path.join(lib, 'ld-linux-x86-64.so.2'), ['--library-path', lib, path.join(standalone, 'bin', 'node'), path.join(standalone, 'dist', 'src', 'cli', 'launch.cjs'), 'cache', 'prune', '--root', path.join(tmp, 'store')], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  t.equal(r.status, 0, r.stderr);
});

t.test('in a busybox image, as a random UID with no capabilities, read-only: version, help, real layers', { skip }, async (t) => {
  const out = path.join(tmp, 'out');
  mkdirSync(out, { mode: 0o777 });
  chmodSync(out, 0o777);
  const host = path.join(tmp, 'host-dir');
  mkdirSync(path.join(host, 'app', 'lib'), { recursive: true });
  writeFileSync(path.join(host, 'app', 'main.js'), 'console.log("hello")\n'.repeat(2000));
  writeFileSync(path.join(host, 'app', 'lib', 'big.bin'), Buffer.alloc(3_000_000, 'x'));
  symlinkSync('main.js', path.join(host, 'app', 'link'));
  const run = (script: string): ReturnType<typeof podmanRun> =>
    podmanRun([...restricted, ...mount, '-v', `${out}:/out`, '-v', `${host}:/host:ro`, image, 'sh', '-c', script]);

  const none = run('command -v node || ls /usr/lib /lib 2>&1; true');
  t.equal(none.stdout.trim(), 'ls: /usr/lib: No such file or directory\nls: /lib: No such file or directory', 'no node and no libc in the image');

  const v = run('/opt/oci-s2i/oci-s2i version && id -u');
  t.equal(v.status, 0, v.stderr);
  t.match(v.stdout, /^oci-s2i \d+\.\d+\.\d+ \(node v\d+[^\n]*\n1000680000\n$/);
  const help = run('/opt/oci-s2i/oci-s2i --help');
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /Usage: oci-s2i COMMAND/);

  // A directory made in the container, as gzip (libdeflate) and zstd; the host reads the blobs back.
  const layers = run([
    'set -e',
    'mkdir -p /tmp/d/etc && echo made-in-the-container > /tmp/d/etc/motd && seq 1 20000 > /tmp/d/numbers',
    'cd /tmp',
    '/opt/oci-s2i/oci-s2i layer --json --backend libdeflate /tmp/d -o /out/in.tar.gz',
    '/opt/oci-s2i/oci-s2i layer --json --compression zstd /tmp/d -o /out/in.tar.zst',
    '/opt/oci-s2i/oci-s2i layer --json --backend libdeflate /host -o /out/host.tar.gz',
  ].join('\n'));
  t.equal(layers.status, 0, layers.stderr);
  const results = layers.stdout.trim().split('\n').map((l) => JSON.parse(l) as { digest: string; diffID: string; backend?: string; compression: string });
  t.equal(results.length, 3);
  const [gz, zst, fromHost] = results as [typeof results[0], typeof results[0], typeof results[0]];
  t.equal(gz.backend, 'libdeflate', 'the libdeflate addon (and lib/libdeflate.so.0) loaded');
  t.equal(zst.compression, 'zstd', 'zstd-napi loaded');
  const gzBlob = readFileSync(path.join(out, 'in.tar.gz'));
  t.equal(sha(gzBlob), gz.digest, 'the digest printed is the blob the host reads');
  t.equal(sha(gunzipSync(gzBlob)), gz.diffID, 'and the diffID is its tar');
  t.equal(zst.diffID, gz.diffID, 'zstd holds the same tar');
  t.equal(sha(readFileSync(path.join(out, 'in.tar.zst'))), zst.digest);
  const tar = execFileSync('tar', ['-tvf', '-'], { input: gunzipSync(gzBlob), encoding: 'utf8' });
  t.match(tar, /1000680000\/0 .* etc\/motd/, 'owned by the random UID that wrote it');

  // The same directory from the host's engine: the same bytes.
  const onHost = JSON.parse(execFileSync(path.join(projectRoot, 'bin', 'oci-s2i'), ['layer', '--json', '--backend', 'libdeflate', host, '-o', path.join(tmp, 'host.tar.gz')], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })) as { digest: string };
  t.equal(fromHost.digest, onHost.digest, 'the standalone in the container writes what the engine on the host writes');
});

t.test('in an image whose own libc is at every usual path and broken, with LD_LIBRARY_PATH pointing at it', { skip }, async (t) => {
  const check = podmanRun([foreignLibc, 'sh', '-c', 'echo $LD_LIBRARY_PATH; cat /lib64/ld-linux-x86-64.so.2']);
  t.equal(check.stdout, '/lib:/lib/x86_64-linux-gnu:/usr/lib\nnot an ELF file\n', 'the image is what the test means');
  const direct = podmanRun([...mount, foreignLibc, '/opt/oci-s2i/bin/node', '--version']);
  t.not(direct.status, 0, 'bin/node started the usual way does not run there');
  const r = podmanRun([...restricted, ...mount, foreignLibc, 'sh', '-c', 'cd /tmp && mkdir d && seq 1 1000 > d/n && /opt/oci-s2i/oci-s2i version && /opt/oci-s2i/oci-s2i layer -q --backend libdeflate d -o l.tgz && /opt/oci-s2i/oci-s2i layer -q --compression zstd d -o l.zst']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^oci-s2i \d+\.\d+\.\d+ \(node v\d+[^\n]*\nsha256:[0-9a-f]{64}\nsha256:[0-9a-f]{64}\n$/);
});

t.test('the built directory is only read: nothing next to it changes when it runs writable', { skip }, async (t) => {
  const copy = path.join(tmp, 'copy');
  execFileSync('cp', ['-a', standalone, copy]);
  const listing = (): string => execFileSync('sh', ['-c', 'find . -printf "%p %s %T@\\n" | sort'], { cwd: copy, encoding: 'utf8' });
  const before = listing();
  const r = podmanRun([...restricted, '-v', `${copy}:/opt/oci-s2i`, image, '/opt/oci-s2i/oci-s2i', 'version']);
  t.equal(r.status, 0, r.stderr);
  execFileSync(path.join(copy, 'oci-s2i'), ['--help'], { stdio: 'ignore' });
  t.equal(listing(), before);
});


t.test('S2I builds on the host with the standalone alone: as root, and as a user through a copy', { skip }, async (t) => {
  const host = registry!.host;
  const env = { ...process.env, NODE_OPTIONS: '' };
  const root = execFileSync(entry, ['build', path.join(projectRoot, 'examples', 'hello'), `${host}/standalone/builder`, `${host}/standalone/app:root`, '--root', path.join(tmp, 'store-root'), '-q'], { encoding: 'utf8', env });
  t.match(root, /^sha256:[0-9a-f]{64}\n$/);
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${host}/standalone/app:root`], { encoding: 'utf8' })) as { config: { Cmd: string[] } };
  t.same(config.config.Cmd, ['/usr/libexec/s2i/run']);

  // An unprivileged user with a subordinate range, from a copy it can read: main.ts re-executes the engine in a
  // user namespace through process.execPath, which must be bin/run-node.
  const user = ensureUser('ocis2i-rootless', { subIds: true });
  const work = userTempDir(user, 'oci-s2i-standalone-user-');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  execFileSync('cp', ['-a', standalone, path.join(work, 'oci-s2i')]);
  execFileSync('cp', ['-a', path.join(projectRoot, 'examples', 'hello'), path.join(work, 'hello')]);
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, work]);
  const r = spawnSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'env', '-u', 'NODE_OPTIONS', `HOME=${user.home}`,
    path.join(work, 'oci-s2i', 'oci-s2i'), 'build', path.join(work, 'hello'), `${host}/standalone/builder`, `${host}/standalone/app:user`, '--root', path.join(work, 'store'), '-q'], { encoding: 'utf8', cwd: '/', env });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
});
