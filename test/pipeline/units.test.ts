// Pure pieces of the build pipeline: strict save-artifacts extraction, mount/flag parsing, flag conflicts,
// runtime artifact mapping, completion scripts.
import t from 'tap';
import { mkdtempSync, rmSync, readFileSync, existsSync, lstatSync, readlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { extractArtifacts } from '../../src/pipeline/artifacts.js';
import { parseVolumes, bindMounts, parseAddHosts, writeHostsFile } from '../../src/pipeline/mounts.js';
import { parseInjections, injectionsUnder } from '../../src/pipeline/injections.js';
import { defaultFormatFor } from '../../src/transport/parse.js';
import { toLocation, locationName } from '../../src/pipeline/pull.js';
import { needsGzipFor } from '../../src/pipeline/convert-layers.js';
import { buildOptionsFromValues, checkBuildFlags } from '../../src/cli/build-options.js';
import { MediaType } from '../../src/oci/media-types.js';
import { parseRuntimeArtifacts } from '../../src/pipeline/runtime-stage.js';
import { rebuildSpecFromLabels } from '../../src/pipeline/rebuild.js';
import { bashCompletion, zshCompletion } from '../../src/cli/commands/completion.js';
import { S2IError } from '../../src/errors.js';
import { exitOf, exitOfSync } from '../helpers/exit-code.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-build-units-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

type E = { name: string; type?: tar.Headers['type']; body?: string; linkname?: string; mode?: number };
async function tarOf(entries: E[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', mode: e.mode ?? 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) }, e.type && e.type !== 'file' ? undefined : (e.body ?? ''));
  pack.finalize();
  return pack as unknown as Readable;
}
const fresh = () => mkdtempSync(path.join(tmp, 'x-'));

t.test('extractArtifacts: good tar with dirs, files, inside symlinks and hard links', async (t) => {
  const dir = fresh();
  const r = await extractArtifacts(await tarOf([
    { name: 'cache/', type: 'directory', mode: 0o755 },
    { name: 'cache/a.txt', body: 'A' },
    { name: './cache/sub/b.txt', body: 'BB', mode: 0o4755 },
    { name: 'cache/link', type: 'symlink', linkname: 'a.txt' },
    { name: 'cache/hard', type: 'link', linkname: 'cache/a.txt' },
  ]), dir);
  t.equal(readFileSync(path.join(dir, 'cache/a.txt'), 'utf8'), 'A');
  t.equal(readFileSync(path.join(dir, 'cache/sub/b.txt'), 'utf8'), 'BB');
  t.equal(lstatSync(path.join(dir, 'cache/sub/b.txt')).mode & 0o7777, 0o755, 'setuid dropped');
  t.equal(readlinkSync(path.join(dir, 'cache/link')), 'a.txt');
  t.equal(lstatSync(path.join(dir, 'cache/hard')).ino, lstatSync(path.join(dir, 'cache/a.txt')).ino);
  t.equal(r.bytes, 3);
});

t.test('extractArtifacts: hostile tars are refused or neutralised', async (t) => {
  const outside = fresh();
  const cases: Array<[string, E[], RegExp]> = [
    ['dot-dot name', [{ name: '../escape', body: 'x' }], /\.\./],
    ['absolute name', [{ name: '/etc/passwd', body: 'x' }], /absolute/],
    ['hard link out', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /\.\./],
    ['hard link to a missing entry', [{ name: 'h', type: 'link', linkname: 'nope' }], /not an earlier entry/],
  ];
  for (const [what, entries, re] of cases) {
    const dir = fresh();
    await t.rejects(extractArtifacts(await tarOf(entries), dir), { code: /ERR_ARTIFACTS_UNSAFE/, message: re }, what);
  }
  // A symlink pointing out is skipped, so a later entry cannot write through it.
  const dir = fresh();
  const warnings: string[] = [];
  await extractArtifacts(await tarOf([
    { name: 'out', type: 'symlink', linkname: outside },
    { name: 'up', type: 'symlink', linkname: '../..' },
    { name: 'out/pwned', body: 'x' },
    { name: 'fifo', type: 'fifo' },
  ]), dir, { onWarning: (m) => warnings.push(m) });
  t.notOk(existsSync(path.join(outside, 'pwned')), 'nothing written outside');
  t.ok(lstatSync(path.join(dir, 'out')).isDirectory(), 'the write landed inside, in a real directory');
  t.notOk(existsSync(path.join(dir, 'fifo')), 'special files skipped');
  t.match(warnings[0], /skipped 3/);
  // A symlink planted by the (trusted) root layout is resolved in-root, never followed out.
  const d2 = fresh();
  const { symlinkSync } = await import('node:fs');
  symlinkSync(outside, path.join(d2, 'evil'));
  await extractArtifacts(await tarOf([{ name: 'evil/x', body: 'y' }]), d2);
  t.notOk(existsSync(path.join(outside, 'x')), 'in-root resolution of an existing absolute symlink');
});

t.test('extractArtifacts: size and entry limits, corrupt input', async (t) => {
  await t.rejects(extractArtifacts(await tarOf([{ name: 'big', body: 'x'.repeat(100) }]), fresh(), { maxBytes: 10 }), { code: 'ERR_ARTIFACTS_UNSAFE', message: /limit of 10 bytes/ });
  await t.rejects(extractArtifacts(await tarOf([{ name: 'a' }, { name: 'b' }]), fresh(), { maxEntries: 1 }), { message: /limit of 1 entries/ });
  await t.rejects(extractArtifacts(Readable.from([Buffer.alloc(1024, 7)]), fresh()), { code: 'ERR_ARTIFACTS_CORRUPT' });
  const r = await extractArtifacts(Readable.from([]), fresh());
  t.equal(r.entries, 0, 'empty output is an empty artifact set');
});

t.test('parseVolumes and parseInjections: good and bad', async (t) => {
  const f = path.join(tmp, 'secret');
  writeFileSync(f, 's');
  const vols = parseVolumes([`${f}:rel/key;${f}:/abs/key:ro`]);
  t.same(vols, [
    { source: f, destination: 'rel/key' },
    { source: f, destination: '/abs/key', mode: 'ro' },
  ]);
  t.same(
    bindMounts(vols, '/opt/app').map((m) => ({ source: m.source, destination: m.destination, options: m.options })),
    [
      { source: f, destination: '/opt/app/rel/key', options: ['rbind', 'rw'] },
      { source: f, destination: '/abs/key', options: ['rbind', 'ro'] },
    ],
    'a relative destination is under WORKDIR',
  );
  for (const bad of [`${f}`, `:x`, `${f}:`, `${f}:/proc/x`, `${f}:/`, `${f}:/dev`, `${f}:../x`, `${path.join(tmp, 'missing')}:x`]) {
    t.throws(exitOfSync(() => parseVolumes([bad])), { code: 'ERR_BAD_MOUNT', exitCode: 64 }, bad);
  }
  t.throws(() => bindMounts(parseVolumes([`${f}:proc/x`]), '/'), { code: 'ERR_BAD_MOUNT', message: /--volume .*reserved/ }, 'relative, reserved once under WORKDIR /');

  // -i as s2i (VolumeList.Set): the last colon splits, quotes trimmed, no or an empty destination is the WORKDIR.
  const inj = parseInjections([`${f}:rel/key;${f}:/abs/key/`, `${f}:`, f, `"${f}":'/q'`, `${f}:.`, `${f}:/`]);
  t.same(
    inj.map((i) => i.destination),
    ['rel/key', '/abs/key', '', '', '/q', '', '/'],
  );
  t.ok(inj.every((i) => i.source === f));
  t.same(
    injectionsUnder(inj, '/opt/app-root/src').map((i) => i.destination),
    ['/opt/app-root/src/rel/key', '/abs/key', '/opt/app-root/src', '/opt/app-root/src', '/q', '/opt/app-root/src', '/'],
    'relative and empty destinations under WORKDIR',
  );
  for (const bad of [`:x`, `${f}:/proc/x`, `${f}:/dev`, `${f}:/sys/y`, `${f}:../x`, `${path.join(tmp, 'missing')}:x`, `${path.join(tmp, 'missing')}`]) {
    t.throws(exitOfSync(() => parseInjections([bad])), { code: 'ERR_BAD_MOUNT', exitCode: 64, message: /^--inject / }, bad);
  }
  t.throws(() => injectionsUnder(parseInjections([`${f}:proc/x`]), '/'), { code: 'ERR_BAD_MOUNT', message: /--inject .*reserved/ }, 'relative, reserved once under WORKDIR /');
});

t.test('parseAddHosts and the hosts file', async (t) => {
  t.same(parseAddHosts(['db:10.0.0.5', 'v6:::1']), [['db', '10.0.0.5'], ['v6', '::1']]);
  for (const bad of ['nocolon', 'db:999.1.1.1', ':1.2.3.4', 'bad host:1.2.3.4']) t.throws(() => parseAddHosts([bad]), { code: 'ERR_BAD_ADD_HOST' }, bad);
  const file = await writeHostsFile(path.join(tmp, 'hosts'), [['db', '10.0.0.5']]);
  t.match(readFileSync(file, 'utf8'), /10\.0\.0\.5\tdb\n$/);
});

t.test('checkBuildFlags: conflicting flags', async (t) => {
  t.doesNotThrow(() => checkBuildFlags({ incremental: true, 'incremental-from': 'x' }));
  const bad: Array<[Record<string, string | boolean | string[]>, RegExp]> = [
    [{ 'incremental-from': 'x' }, /--incremental-from needs --incremental/],
    [{ 'incremental-pull-policy': 'always' }, /needs --incremental/],
    [{ 'runtime-artifact': ['/a'] }, /--runtime-artifact needs --runtime-image/],
    [{ 'runtime-pull-policy': 'never' }, /needs --runtime-image/],
    [{ 'assemble-runtime-user': '1' }, /needs --runtime-image/],
    [{ 'as-dockerfile': 'f', incremental: true, 'incremental-pull-policy': 'always' }, /--as-dockerfile cannot be combined with --incremental-pull-policy/],
    [{ 'as-dockerfile': 'f', 'runtime-image': 'r' }, /--runtime-image/],
    [{ 'as-dockerfile': 'f', volume: ['a:b'] }, /--volume/],
  ];
  for (const [o, re] of bad) t.throws(exitOfSync(() => checkBuildFlags(o)), { exitCode: 64, message: re });
});

t.test('parseRuntimeArtifacts', async (t) => {
  t.same(parseRuntimeArtifacts(['/a/b.jar:lib;/c', '/d:'], '-a'), [
    { source: '/a/b.jar', destination: 'lib' },
    { source: '/c', destination: '.' },
    { source: '/d', destination: '.' },
  ]);
  for (const bad of ['rel', '/a:/abs', '/a:../up', '/a/../b']) t.throws(() => parseRuntimeArtifacts([bad], '-a'), { code: 'ERR_RUNTIME_ARTIFACT' }, bad);
});

t.test('rebuildSpecFromLabels', async (t) => {
  t.same(rebuildSpecFromLabels('i', { 'io.openshift.s2i.build.image': 'b', 'io.openshift.s2i.build.source-location': 'https://g/r', 'io.openshift.s2i.build.commit.ref': 'main', 'io.openshift.s2i.build.source-context-dir': 'app' }), {
    builder: 'b', source: 'https://g/r', ref: 'main', contextDir: 'app',
  });
  t.same(rebuildSpecFromLabels('i', { 'io.openshift.s2i.build.image': 'b', 'io.openshift.s2i.build.source-location': '/src', 'org.opencontainers.image.revision': 'abc' }), {
    builder: 'b', source: '/src', commit: 'abc',
  }, 'a Docker image\'s revision label is the commit when commit.id is missing');
  t.equal(rebuildSpecFromLabels('i', { 'io.openshift.s2i.build.image': 'b', 'io.openshift.s2i.build.source-location': '/src', 'io.openshift.s2i.build.commit.id': 'c1', 'org.opencontainers.image.revision': 'c2' }).commit, 'c1');
  t.throws(() => rebuildSpecFromLabels('i', { 'io.openshift.s2i.build.image': 'b' }), { code: 'ERR_REBUILD_LABELS' });
});

t.test('completion scripts name every command and flag', async (t) => {
  const commands = await (await import('../../src/cli/main.js')).loadCommands();
  const bash = bashCompletion(commands);
  const zsh = zshCompletion(commands);
  for (const c of ['build', 'rebuild', 'usage', 'create', 'completion']) {
    t.match(bash, new RegExp(`\\b${c}\\b`));
    t.match(zsh, new RegExp(`\\b${c}\\b`));
  }
  t.match(bash, /--incremental-pull-policy/);
  t.match(bash, /complete -F _oci_s2i oci-s2i/);
  t.match(zsh, /^#compdef oci-s2i/);
  mkdirSync(path.join(tmp, 'c'), { recursive: true });
});

t.test('image locations: references, parsed locations and strings; names as messages show them', async (t) => {
  const ref = { registry: 'example.com', repository: 'a/b', tag: 'v1' };
  t.same(toLocation(ref), { transport: 'docker', ref });
  t.equal(locationName(toLocation('example.com/a/b:v1')), 'example.com/a/b:v1', 'registry references keep their old spelling');
  t.equal(locationName(toLocation('docker://example.com/a/b:v1')), 'example.com/a/b:v1');
  t.equal(locationName(toLocation('oci:/x/layout:app')), 'oci:/x/layout:app');
  t.equal(locationName(toLocation('docker-archive:/x/a.tar:app:latest')), 'docker-archive:/x/a.tar:docker.io/library/app:latest');
  const parsed = toLocation('oci-archive:/x/a.tar');
  t.equal(toLocation(parsed), parsed, 'a parsed location passes through');
  t.throws(() => toLocation('ftp:/x'), { code: 'ERR_INVALID_REFERENCE' });
  t.throws(() => toLocation('oci:'), { code: 'ERR_INVALID_REFERENCE' });
});

t.test('defaultFormatFor: OCI for layouts and oci-archives, Docker otherwise', async (t) => {
  t.equal(defaultFormatFor('oci:/x:t'), 'oci');
  t.equal(defaultFormatFor('oci-archive:/x.tar'), 'oci');
  t.equal(defaultFormatFor('docker-archive:/x.tar'), 'docker');
  t.equal(defaultFormatFor('example.com/a:1'), 'docker');
  t.throws(() => defaultFormatFor('nope:/x'), { code: 'ERR_INVALID_REFERENCE' });
});

t.test('needsGzipFor: zstd and plain tar builder layers are recompressed for Docker only; foreign layers never', async (t) => {
  const table: Array<[string, 'docker' | 'oci', boolean]> = [
    [MediaType.ociLayerZstd, 'docker', true],
    [MediaType.ociLayer, 'docker', true],
    [MediaType.dockerLayer, 'docker', true],
    [MediaType.ociLayerGzip, 'docker', false],
    [MediaType.dockerLayerGzip, 'docker', false],
    [MediaType.ociLayerNonDistributableGzip, 'docker', false],
    [MediaType.ociLayerZstd, 'oci', false],
    [MediaType.ociLayer, 'oci', false],
  ];
  for (const [mt, f, want] of table) t.equal(needsGzipFor(f, mt), want, `${mt} → ${f}`);
  t.throws(() => needsGzipFor('docker', 'application/json'), { code: 'ERR_LAYER_MEDIA_TYPE' });
});

t.test('build flags: --check, --timestamp / SOURCE_DATE_EPOCH, --reproducible, format default from the TAG', async (t) => {
  const o = buildOptionsFromValues({ check: 'none', timestamp: '2024-01-01T00:00:00Z', reproducible: true }, 'example.com/a:1', { SOURCE_DATE_EPOCH: '5' });
  t.equal(o.check, false);
  t.equal(o.timestamp, 1704067200, '--timestamp wins over SOURCE_DATE_EPOCH');
  t.equal(o.reproducible, true);
  t.equal(o.format, 'docker');
  const e = buildOptionsFromValues({}, 'oci:/x:t', { SOURCE_DATE_EPOCH: '5' });
  t.equal(e.timestamp, 5);
  t.equal(e.format, 'oci', 'an oci: TAG defaults to OCI');
  t.equal(e.check, false, 'no --check: none for an OCI result');
  t.equal(buildOptionsFromValues({}, 'example.com/a:1', {}).check, 'ocp4.6', 'no --check: ocp4.6 for a Docker result');
  t.equal(buildOptionsFromValues({ compression: 'zstd' }, 'oci:/x:t', {}).compression, 'zstd', 'zstd is fine for an oci: TAG');
  t.equal(buildOptionsFromValues({ check: 'quay-legacy' }, undefined, {}).check, 'quay-legacy');
  t.throws(exitOfSync(() => buildOptionsFromValues({ check: 'ocp3' }, undefined, {})), { code: 'ERR_USAGE', exitCode: 64 });
  t.throws(exitOfSync(() => buildOptionsFromValues({ timestamp: 'yesterday' }, undefined, {})), { code: 'ERR_INVALID_TIMESTAMP', exitCode: 64 });
  t.throws(() => buildOptionsFromValues({}, undefined, { SOURCE_DATE_EPOCH: '1.5' }), { code: 'ERR_INVALID_TIMESTAMP' });
  t.throws(exitOfSync(() => buildOptionsFromValues({ compression: 'zstd' }, 'example.com/a:1', {})), { code: 'ERR_USAGE', exitCode: 64 });
});
