// `build --isolation in-image` in the pod shapes it is for: the engine (dist/standalone, mounted read-only) runs
// inside a podman container started from the builder image itself, with no capability, no new privileges, as
// the builder's USER, as OpenShift's random UID with gid 0, and as root. Every row pushes to the real registry on
// loopback; the result is checked with skopeo, and its new layer's listing (names, types, modes, owners, sizes,
// link targets) must equal the one of a sandbox build of the same source: the layer is the same whichever way
// assemble ran. The same in a musl userland with no glibc (an Alpine-like builder made from Debian's musl and a
// busybox compiled against it), checked with skopeo and umoci too. A container that is not the builder is refused
// in one line.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { makeBuilderImage, pushBuiltImage, type BuilderSpec } from '../../src/demo/busybox-image.js';
import { muslBusybox, muslLoader } from '../helpers/musl-userland.js';
import { lastLayer as lastLayerOf, showEntries, type Entry } from '../helpers/layer-listing.js';
import { attachedSbomPurls } from '../helpers/attached-sbom.js';
import { inContainer } from '../../src/pipeline/in-image.js';
import { podmanSeccompFile, runtimeDefaultSeccompFile } from '../helpers/seccomp-profiles.js';

// OCI_S2I_TEST_STANDALONE: another standalone dir (a copy under test).
const hasPodman = spawnSync('podman', ['--version']).status === 0;
const standalone = process.env.OCI_S2I_TEST_STANDALONE ?? path.join(projectRoot, 'dist', 'standalone');
t.ok(existsSync(path.join(standalone, 'oci-s2i')), `the standalone engine is built (${standalone}); npm run build makes it`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-in-image-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
let builder: string;
let builderSpec: BuilderSpec;
const podmanImages = new Set<string>();
const containers = new Set<string>();

// assemble: copies the source into the app dir, writes who ran it, makes a symlink and an executable, and removes a
// file and a directory of the image (whiteouts). Its second of sleep stands for a compiler's work: the time the
// build's low-priority worker reads the image's SBOM files in (in-image-ahead.ts).
const assemble = `#!/bin/sh
set -e
echo "---> assemble as $(id -u):$(id -g) in $(pwd)"
sleep 1
cp -R /tmp/src/. /opt/app-root/src/
id -u > /opt/app-root/src/built-by
printf '#!/bin/sh\\necho hi\\n' > /opt/app-root/src/hello
chmod 0755 /opt/app-root/src/hello
ln -s hello /opt/app-root/src/hello-link
rm -f /opt/app-root/old.txt
rm -rf /opt/app-root/olddir
mkdir -p /opt/app-root/src/empty
echo "---> done"
`;
const run = `#!/bin/sh\nexec cat /opt/app-root/src/index.html\n`;

function podman(args: string[], timeoutMs = 120_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** podman's flags for this host (shared/ENVIRONMENT.md) and the pod's shape. */
const hostFlags = ['--runtime', 'runc', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000', '--network', 'host', '--tls-verify=false'];
// seccomp: the containerd-like RuntimeDefault profile (no unshare, clone namespace flags or mount without
// CAP_SYS_ADMIN), derived from podman's at test time.
const restricted = ['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--security-opt', `seccomp=${runtimeDefaultSeccompFile()}`];

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'in-image page\n');
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'page.txt'), 'nested\n');
  // What the SBOM finds in what assemble adds (copied to /opt/app-root/src).
  writeFileSync(path.join(dir, 'package-lock.json'), lockFile('left-pad', '1.3.0'));
  chmodSync(path.join(dir, 'sub'), 0o755);
  return dir;
}

/** A package-lock.json (lockfileVersion 3) with one installed package. */
function lockFile(name: string, version: string): string {
  return JSON.stringify({ name: 'app', lockfileVersion: 3, packages: { '': { name: 'app' }, [`node_modules/${name}`]: { version } } });
}

/** Runs the engine in a container of the builder image; `name` is the container's (removed in teardown too). */
function inPod(name: string, podFlags: string[], src: string, target: string, extra: string[] = [], image = builder) {
  containers.add(name);
  podmanImages.add(image);
  return podman([
    'run', '--rm', '--name', name, ...hostFlags, ...podFlags,
    '-v', `${standalone}:/opt/oci-s2i:ro`,
    '-v', `${src}:/workspace/source:ro`,
    image,
    '/opt/oci-s2i/oci-s2i', 'build', '--isolation', 'in-image', '/workspace/source', image, target, '--tls-verify=false', ...extra,
  ]);
}

// The one file whose content differs: who ran assemble.
const norm = (es: Entry[]): string[] => showEntries(es.map((e) => (e.name === 'opt/app-root/src/built-by' ? { ...e, size: 0 } : e)));
const lastLayer = (ref: string) => lastLayerOf(client, ref);

t.before(async () => {
  if (!hasPodman) return;
  registry = await startRegistry();
  const scripts = path.join(tmp, 'scripts');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'assemble'), assemble, { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), run, { mode: 0o755 });
  builderSpec = {
    scriptsDir: scripts,
    env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/opt/app-root/src', 'APP_ROOT=/opt/app-root'],
    extraLayer: [
      { name: 'opt/', type: 'directory' },
      { name: 'opt/app-root/', type: 'directory', mode: 0o775, uid: 1001, gid: 0 },
      { name: 'opt/app-root/old.txt', content: 'from the image\n', mode: 0o664, uid: 1001, gid: 0 },
      { name: 'opt/app-root/olddir/', type: 'directory', mode: 0o775, uid: 1001, gid: 0 },
      { name: 'opt/app-root/olddir/f', content: 'x\n', mode: 0o664, uid: 1001, gid: 0 },
      // What the SBOM finds in the builder's own files (an in-image build's root, which it does not walk twice).
      { name: 'opt/app-root/lib/', type: 'directory', mode: 0o775, uid: 1001, gid: 0 },
      { name: 'opt/app-root/lib/package-lock.json', content: lockFile('is-odd', '3.0.1'), mode: 0o664, uid: 1001, gid: 0 },
    ],
  };
  const img = await makeBuilderImage(builderSpec, mkdtempSync(path.join(tmp, 'img-')));
  await pushBuiltImage(client.repository(registry.host, 'in-image/builder'), img, 'v1');
  builder = `${registry.host}/in-image/builder:v1`;
});

t.teardown(async () => {
  for (const c of containers) podman(['rm', '-f', '-t', '0', c]);
  for (const i of podmanImages) podman(['rmi', '-f', i]);
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('in-image builds in the pod shapes give the layer a sandbox build gives', { skip: !hasPodman && 'podman is not installed' }, async (t) => {
  const src = source();
  const sandboxTarget = `${registry.host}/in-image/app:sandbox`;
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const sb = await runCli(['build', src, builder, sandboxTarget, '--root', root, '--tls-verify=false', '--isolation', 'sandbox']);
  t.equal(sb.code, 0, `sandbox build: ${sb.stderr}`);
  const want = await lastLayer(sandboxTarget);
  const wantSbom = await attachedSbomPurls(client, sandboxTarget);
  t.same(wantSbom, ['pkg:npm/is-odd@3.0.1', 'pkg:npm/left-pad@1.3.0'], 'the sandbox build\'s SBOM: the builder\'s lock file and the one assemble added');
  /** The rows whose SBOM took the image's files from the worker that read them while assemble ran. */
  const readAhead: string[] = [];
  let shared: string | undefined;
  const rows: Array<[string, string[], number]> = [
    ['restricted, the builder USER', [...restricted, '--user', '1001:0'], 1001],
    ['restricted, a random UID with gid 0', [...restricted, '--user', '1000680000:0'], 1000680000],
    ['root, CRI-O\'s seccomp profile', ['--user', '0:0', '--security-opt', `seccomp=${podmanSeccompFile}`], 1001],
    ['privileged', ['--user', '0:0', '--privileged'], 1001],
  ];
  for (const [i, [what, flags, runsAs]] of rows.entries()) {
    const target = `${registry.host}/in-image/app:row${i}`;
    // The last row keeps its store on the host, to show what the build fetched.
    const store = i === rows.length - 1 ? mkdtempSync(path.join(tmp, 'store-')) : undefined;
    shared = store ?? shared;
    const r = inPod(`oci-s2i-in-image-test-${process.pid}-${i}`, [...flags, ...(store ? ['-v', `${store}:/store`] : [])], src, target, store ? ['--root', '/store/oci-s2i'] : []);
    t.equal(r.code, 0, `${what}: exit 0 (${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
    if (r.code !== 0) continue;
    t.match(r.stderr + r.stdout, new RegExp(`assemble as ${runsAs}:0`), `${what}: assemble ran as ${runsAs}`);
    t.match(r.stderr, /isolation: in-image \(this container is the builder /, `${what}: the path taken, in one line`);
    // The container's root is a kernel overlay: the walk after assemble skips what is still in the image's layers.
    t.match(r.stderr, /new layer: .*\([1-9]\d* directories still in the image's layers not walked\)/, `${what}: untouched directories of the image not walked`);
    if (/SBOM: [1-9]\d* of the image's files read while assemble ran/.test(r.stderr)) readAhead.push(what);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`], { encoding: 'utf8' })) as { Layers: string[]; Labels: Record<string, string> };
    t.equal(inspect.Layers.length, 4, `${what}: the builder's three layers and one new one`);
    t.equal(inspect.Labels['io.openshift.s2i.build.image'], builder, `${what}: labelled with the builder`);
    const got = await lastLayer(target);
    t.same(norm(got.entries), norm(want.entries), `${what}: the same entries, modes and owners as the sandbox build's layer`);
    t.same(await attachedSbomPurls(client, target), wantSbom, `${what}: the SBOM lists what the sandbox build's lists (the builder's files and assemble's)`);
    t.notOk(got.entries.some((e) => /^(proc|sys|dev|workspace|store|opt\/oci-s2i)(\/|$)/.test(e.name) || /^tmp\/oci-s2i-/.test(e.name)), `${what}: nothing of /proc, /sys, /dev, the workspace, the engine or its store`);
    if (store) {
      const blobs = readdirSync(path.join(store, 'oci-s2i', 'oci', 'blobs', 'sha256'));
      const builderLayers = (JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${builder}`], { encoding: 'utf8' })) as { Layers: string[] }).Layers;
      t.ok(builderLayers.every((l) => !blobs.includes(l.slice(7))), `${what}: none of the builder's layers was downloaded (the store has ${blobs.length} blobs)`);
      t.ok(inspect.Layers.slice(-1).every((l) => blobs.includes(l.slice(7))), `${what}: the new layer is in the store`);
    }
  }
  // The worker runs at the lowest priority: on a loaded machine one row may have asked before it was done (the
  // SBOM then reads the files itself, and is the same, checked above); not all of them.
  t.ok(readAhead.length > 0, `the SBOM took the image's files as read while assemble ran (in ${readAhead.join('; ') || 'no row'})`);
  // The next pod of a pipeline whose --root is a shared volume: the findings of the builder's files that the last
  // row's build kept there are taken (no worker, none of those files read), and the SBOM is the same.
  if (shared) {
    const kept = readdirSync(path.join(shared, 'oci-s2i', 'sbom')).filter((f) => /^image-sha256-[0-9a-f]{64}\.v\d+\.files\.json$/.test(f));
    t.equal(kept.length, 1, 'the first build kept the findings of the builder\'s files, by its image ID');
    const target = `${registry.host}/in-image/app:again`;
    const r = inPod(`oci-s2i-in-image-test-${process.pid}-again`, ['--user', '0:0', '--privileged', '-v', `${shared}:/store`], src, target, ['--root', '/store/oci-s2i']);
    t.equal(r.code, 0, `again: exit 0 (${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
    t.match(r.stderr, /entries in the root file system recorded \(names alone: /, 'the snapshot recorded names alone (no stat per file): the first build noted which image the builder was');
    t.match(r.stderr, /SBOM: [1-9]\d* of the image's files known from an earlier build of /, 'the kept findings taken');
    t.same(await attachedSbomPurls(client, target), wantSbom, 'the same SBOM as the sandbox build\'s');
    // The builder's reference noted as another image (the tag moved since): the snapshot records names alone, the
    // image fetched has nothing kept, and the SBOM reads all of the image's files itself: the same SBOM.
    const sbomDir = path.join(shared, 'oci-s2i', 'sbom');
    const other = `sha256:${'e'.repeat(64)}`;
    const entry = readdirSync(sbomDir).find((f) => f.startsWith('image-'))!;
    renameSync(path.join(sbomDir, entry), path.join(sbomDir, entry.replace(/sha256-[0-9a-f]{64}/, other.replace(':', '-'))));
    for (const note of readdirSync(sbomDir).filter((f) => f.startsWith('builder-'))) writeFileSync(path.join(sbomDir, note), other, { mode: 0o600 });
    const moved = inPod(`oci-s2i-in-image-test-${process.pid}-moved`, ['--user', '0:0', '--privileged', '-v', `${shared}:/store`], src, `${registry.host}/in-image/app:moved`, ['--root', '/store/oci-s2i']);
    t.equal(moved.code, 0, `moved: exit 0 (${moved.stderr.trim().split('\n').slice(-3).join(' | ')})`);
    t.match(moved.stderr, /recorded \(names alone: /, 'moved: the note was taken');
    t.match(moved.stderr, /SBOM: the image's files are read now \(.* keeps nothing usable for /, 'moved: nothing kept for the image fetched, said so');
    t.same(await attachedSbomPurls(client, `${registry.host}/in-image/app:moved`), wantSbom, 'moved: the same SBOM as the sandbox build\'s');
    t.ok(readdirSync(sbomDir).includes(entry), 'moved: what it read is kept under the image it is');
  }
  // What the layers hold, once (both are the same, checked above).
  t.ok(want.entries.some((e) => e.name === 'opt/app-root/.wh.old.txt'), 'a deleted file is a whiteout');
  t.ok(want.entries.some((e) => e.name === 'opt/app-root/.wh.olddir'), 'a deleted directory is a whiteout');
  t.ok(want.entries.some((e) => e.name === 'tmp/src/sub/page.txt' && e.uid === 1001), 'the source, owned by the USER');
  // The image runs: podman starts the in-image result.
  const out = podman(['run', '--rm', ...hostFlags, `${registry.host}/in-image/app:row1`]);
  podmanImages.add(`${registry.host}/in-image/app:row1`);
  t.equal(out.stdout, 'in-image page\n', 'the result runs with podman');
});

t.test('a musl userland (busybox built against musl, no glibc): the in-image build in the restricted pod', { skip: !hasPodman && 'podman is not installed' }, async (t) => {
  // Made here from Debian's packages (test/helpers/musl-userland.ts): missing is a failure, as setup.sh makes it.
  const musl = muslBusybox();
  if (typeof musl === 'string') {
    t.fail(musl);
    return;
  }
  const image = `${registry.host}/in-image/musl:v1`;
  await pushBuiltImage(client.repository(registry.host, 'in-image/musl'), await makeBuilderImage({ ...builderSpec, busybox: musl }, mkdtempSync(path.join(tmp, 'img-'))), 'v1');
  podmanImages.add(image);

  // What the image is, checked in it (the engine not mounted) and on the host: musl's loader and nothing of glibc.
  const busybox = readFileSync(musl.binary);
  t.equal(execFileSync('readelf', ['-l', musl.binary], { encoding: 'utf8' }).match(/Requesting program interpreter: (\S+)\]/)?.[1], muslLoader, 'busybox is dynamically linked, its interpreter musl\'s loader');
  t.notOk(busybox.includes('GLIBC_') || busybox.includes('GNU C Library'), 'no glibc symbol version or banner in busybox');
  const probe = podman(['run', '--rm', ...hostFlags, image, 'sh', '-c', [
    'ls -A /lib',
    `${muslLoader} --list /bin/busybox`,
    'find / -xdev \\( -name "libc.so.6" -o -name "libc-2.*" -o -name "ld-linux*" -o -name "libc.so" -o -name "*.so.6" -o -name "*x86_64-linux-gnu*" \\) -print',
    'echo end',
  ].join('; ')]);
  t.equal(probe.code, 0, probe.stderr);
  const lines = probe.stdout.split('\n');
  t.same(lines.slice(0, 2), ['ld-musl-x86_64.so.1', 'libc.musl-x86_64.so.1'], '/lib holds musl\'s loader (and Alpine\'s link to it), nothing else');
  t.match(lines.slice(2, 4).join('\n'), /^\s*\/lib\/ld-musl-x86_64\.so\.1 \(0x[0-9a-f]+\)\n\s*libc\.so => \/lib\/ld-musl-x86_64\.so\.1 \(0x[0-9a-f]+\)$/, 'busybox runs on musl: its libc is the loader');
  t.equal(lines.slice(4).join('\n'), 'end\n', 'no glibc library or loader anywhere in the image');

  // A sandbox build of the same source on the host, and the in-image build in the restricted pod (a random UID in
  // group 0, no capability, no new privileges, RuntimeDefault seccomp) with the standalone engine mounted read-only.
  const src = source();
  const sandboxTarget = `${registry.host}/in-image/musl-app:sandbox`;
  const sb = await runCli(['build', src, image, sandboxTarget, '--root', mkdtempSync(path.join(tmp, 'root-')), '--tls-verify=false', '--isolation', 'sandbox']);
  t.equal(sb.code, 0, `sandbox build: ${sb.stderr}`);
  const target = `${registry.host}/in-image/musl-app:in-image`;
  const r = inPod(`oci-s2i-in-image-test-${process.pid}-musl`, [...restricted, '--user', '1000680000:0'], src, target, [], image);
  t.equal(r.code, 0, `the standalone engine builds in the musl image: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  if (r.code !== 0) return;
  t.match(r.stderr + r.stdout, /assemble as 1000680000:0/, 'assemble ran as the pod\'s UID');
  t.match(r.stderr, /isolation: in-image \(this container is the builder /);
  const got = await lastLayer(target);
  t.same(norm(got.entries), norm((await lastLayer(sandboxTarget)).entries), 'the same entries, modes and owners as the sandbox build\'s layer');

  // The pushed image, read by skopeo and unpacked by umoci: the new layer's files with their owners and modes on
  // top of the musl base, the image's deletions applied.
  const layout = path.join(tmp, 'musl-layout');
  execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${target}`, `oci:${layout}:app`]);
  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout}:app`], { encoding: 'utf8' })) as { Layers: string[]; Labels: Record<string, string> };
  t.equal(inspect.Layers.length, 4, 'the builder\'s three layers and one new one');
  t.equal(inspect.Labels['io.openshift.s2i.build.image'], image);
  const bundle = path.join(tmp, 'musl-bundle');
  execFileSync('umoci', ['unpack', '--image', `${layout}:app`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  const stat = (p: string): string => {
    const s = lstatSync(path.join(rootfs, p));
    return `${s.isSymbolicLink() ? 'l' : s.isDirectory() ? 'd' : 'f'} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
  };
  const modeOf = (p: string): string => ((got.entries.find((e) => e.name === p || e.name === `${p}/`)?.mode ?? -1) & 0o7777).toString(8);
  t.same(
    ['index.html', 'sub/page.txt', 'built-by', 'hello', 'hello-link', 'empty'].map((f) => `${f} ${stat(`opt/app-root/src/${f}`)}`),
    [
      `index.html f ${modeOf('opt/app-root/src/index.html')} 1001:0`,
      `sub/page.txt f ${modeOf('opt/app-root/src/sub/page.txt')} 1001:0`,
      `built-by f ${modeOf('opt/app-root/src/built-by')} 1001:0`,
      'hello f 755 1001:0',
      'hello-link l 777 1001:0',
      `empty d ${modeOf('opt/app-root/src/empty')} 1001:0`,
    ],
    'the application, owned by the builder\'s USER (the pod\'s random UID is not recorded)',
  );
  t.equal(readFileSync(path.join(rootfs, 'opt/app-root/src/built-by'), 'utf8'), '1000680000\n', 'assemble\'s output');
  t.equal(readFileSync(path.join(rootfs, 'opt/app-root/src/index.html'), 'utf8'), 'in-image page\n');
  t.notOk(existsSync(path.join(rootfs, 'opt/app-root/old.txt')) || existsSync(path.join(rootfs, 'opt/app-root/olddir')), 'the image\'s file and directory removed by assemble are gone');
  t.equal(stat('lib/ld-musl-x86_64.so.1'), 'f 755 0:0', 'on the musl base');
  t.notOk(got.entries.some((e) => /^(proc|sys|dev|workspace|opt\/oci-s2i|lib)(\/|$)/.test(e.name) || /^tmp\/oci-s2i-/.test(e.name)), 'nothing of the engine (its own loader and libraries included) in the layer');
  // The result runs on its musl userland.
  podmanImages.add(target);
  t.equal(podman(['run', '--rm', ...hostFlags, target]).stdout, 'in-image page\n', 'the result runs with podman');
});

t.test('a container that is not the builder is refused in one line, exit 13', { skip: !hasPodman && 'podman is not installed' }, async (t) => {
  const src = source();
  // A builder whose config sets an environment this container does not have.
  const other = await makeBuilderImage({ env: ['PATH=/bin', 'APP_ROOT=/elsewhere', 'STI_SCRIPTS_PATH=/nowhere'] }, mkdtempSync(path.join(tmp, 'img-')));
  await pushBuiltImage(client.repository(registry.host, 'in-image/other'), other, 'v1');
  const r = podman([
    'run', '--rm', '--name', `oci-s2i-in-image-test-${process.pid}-other`, ...hostFlags, ...restricted, '--user', '1001:0',
    '-v', `${standalone}:/opt/oci-s2i:ro`, '-v', `${src}:/workspace/source:ro`, builder,
    '/opt/oci-s2i/oci-s2i', 'build', '--isolation', 'in-image', '/workspace/source', `${registry.host}/in-image/other:v1`, `${registry.host}/in-image/app:other`, '--tls-verify=false',
  ]);
  containers.add(`oci-s2i-in-image-test-${process.pid}-other`);
  t.equal(r.code, 13, 'exit 13');
  const lines = r.stderr.trim().split('\n');
  t.match(lines[lines.length - 1], /must be started from the builder .*in-image\/other:v1.*APP_ROOT/, 'one line naming the builder and what differs');
  t.equal(spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/in-image/app:other`]).status === 0, false, 'nothing pushed');
});

t.test('a signature policy that cannot be read fails in one line and leaves no store directory behind', { skip: !hasPodman && 'podman is not installed' }, async (t) => {
  const src = source();
  const name = `oci-s2i-in-image-test-${process.pid}-policy`;
  // The build's exit code, then what the default store root (/tmp/oci-s2i-<uid>) left: the build runs in the
  // container's shell so the check sees the same file system.
  const script = '/opt/oci-s2i/oci-s2i "$@"; echo "rc=$?"; ls -d /tmp/oci-s2i-* 2>/dev/null || echo "no store"';
  const r = podman([
    'run', '--rm', '--name', name, ...hostFlags, ...restricted, '--user', '1001:0',
    '-v', `${standalone}:/opt/oci-s2i:ro`, '-v', `${src}:/workspace/source:ro`, builder,
    'sh', '-c', script, 'sh', 'build', '--isolation', 'in-image', '/workspace/source', builder, `${registry.host}/in-image/app:policy`, '--tls-verify=false', '--signature-policy', '/nonexistent/policy.json',
  ]);
  containers.add(name);
  t.match(r.stdout, /^rc=64\n/m, 'exit 64 (a usage error)');
  t.match(r.stdout, /^no store$/m, 'no store directory made');
  const lines = r.stderr.trim().split('\n');
  t.match(lines[lines.length - 1], /signature policy \/nonexistent\/policy\.json .*containers-policy\.json/, 'one line naming the file');
});

t.test('an in-image build runs only in a container', async (t) => {
  const none = () => false;
  t.notOk(inContainer(none, {}), 'no mark: not a container');
  t.ok(inContainer((p) => p === '/run/.containerenv', {}), 'podman, CRI-O');
  t.ok(inContainer((p) => p === '/.dockerenv', {}), 'Docker');
  t.ok(inContainer(none, { container: 'podman' }), '$container');
  t.ok(inContainer(none, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }), 'a Kubernetes pod (containerd leaves no file)');
});

t.test('flags an in-image build cannot honour are usage errors', async (t) => {
  for (const flag of [['--runtime', 'runc'], ['--incremental'], ['-v', '/a:/b'], ['--network', 'none'], ['--cap-drop', 'CHOWN'], ['--runtime-image', 'x']]) {
    const r = await runCli(['build', '.', 'b', 'localhost/x:1', '--isolation', 'in-image', ...flag]);
    t.equal(r.code, 64, `${flag[0]}: exit 64`);
    t.match(r.stderr, new RegExp(`--isolation in-image cannot be combined with ${flag[0] === '-v' ? '--volume' : flag[0]}`));
  }
  const r = await runCli(['build', '.', 'b', 'localhost/x:1', '--isolation', 'elsewhere']);
  t.equal(r.code, 64, 'an unknown isolation: exit 64');
});
