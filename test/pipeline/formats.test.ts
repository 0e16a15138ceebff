// Formats at build time, end to end through the CLI with real tools: a zstd OCI builder built --format docker
// (gzip Docker layers, passes `inspect --check ocp4.6`); builder and result in OCI layouts and docker-archives
// with no registry named (podman loads the archive, skopeo reads it); two reproducible builds give one digest;
// the importer check refuses what OpenShift 4.6 would not import, and pushes nothing.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { withZstdLayers, writeLayout } from '../helpers/builder-variants.js';
import { RegistryClient } from '../../src/registry/client.js';
import { makeBuilderImage, pushBuiltImage } from '../../src/demo/busybox-image.js';
import { MediaType } from '../../src/oci/media-types.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-formats-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
let plainBuilder: string;
let zstdBuilder: string;
let builderDiffIDs: string[];

interface RawManifest {
  mediaType: string;
  config: { mediaType: string; digest: string };
  layers: Array<{ mediaType: string; digest: string }>;
}

function sh(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}
const skopeoJson = <T>(...args: string[]): T => JSON.parse(execFileSync('skopeo', ['inspect', ...args], { encoding: 'utf8' })) as T;

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'Test S2I process!\n');
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'page.txt'), 'nested\n');
  return dir;
}
const root = (): string => mkdtempSync(path.join(tmp, 'root-'));

t.before(async () => {
  registry = await startRegistry();
  const img = await makeBuilderImage({ scriptsDir, format: 'oci' }, mkdtempSync(path.join(tmp, 'img-')));
  builderDiffIDs = img.layers.map((l) => l.diffID);
  await pushBuiltImage(client.repository(registry.host, 't/plain'), img, 'latest');
  plainBuilder = `${registry.host}/t/plain:latest`;
  await pushBuiltImage(client.repository(registry.host, 't/zstd'), await withZstdLayers(img), 'latest');
  zstdBuilder = `${registry.host}/t/zstd:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('zstd OCI builder → build --format docker: Docker types only, gzip layers, passes --check ocp4.6', async (t) => {
  const before = await runCli(['inspect', '--check', 'ocp4.6', zstdBuilder]);
  t.equal(before.code, 1, 'the builder itself would not import');
  const out = `${registry.host}/t/app-from-zstd:1`;
  const r = await runCli(['build', source(), zstdBuilder, out, '--root', root(), '--format', 'docker']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /builder layer 0: recompressed tar\+zstd → gzip/);
  const raw = skopeoJson<RawManifest>('--tls-verify=false', '--raw', `docker://${out}`);
  t.equal(raw.mediaType, MediaType.dockerManifest);
  t.equal(raw.config.mediaType, MediaType.dockerConfig);
  t.equal(raw.layers.length, 3);
  for (const l of raw.layers) t.equal(l.mediaType, MediaType.dockerLayerGzip);
  const cfg = skopeoJson<{ rootfs: { diff_ids: string[] } }>('--tls-verify=false', '--config', `docker://${out}`);
  t.same(cfg.rootfs.diff_ids.slice(0, 2), builderDiffIDs, 'diffIDs of the builder layers unchanged');
  const check = await runCli(['inspect', '--check', 'ocp4.6', out]);
  t.equal(check.code, 0, check.stdout + check.stderr);
  // skopeo can copy it and umoci unpack it: the gzip blobs are real
  const layout = path.join(tmp, 'zstd-app-layout');
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${out}`, `oci:${layout}:app`], { stdio: 'ignore' });
  t.equal(sh('umoci', ['unpack', '--image', `${layout}:app`, path.join(tmp, 'zstd-bundle')]).code, 0);

  // --format oci keeps the builder's zstd blobs as they are (no recompression, same digests)
  const ociOut = `${registry.host}/t/app-from-zstd:oci`;
  const o = await runCli(['build', source(), zstdBuilder, ociOut, '--root', root(), '--format', 'oci', '--compression', 'zstd', '-q']);
  t.equal(o.code, 0, o.stderr);
  const ociRaw = skopeoJson<RawManifest>('--tls-verify=false', '--raw', `docker://${ociOut}`);
  const builderRaw = skopeoJson<RawManifest>('--tls-verify=false', '--raw', `docker://${zstdBuilder}`);
  t.same(ociRaw.layers.slice(0, 2), builderRaw.layers, 'builder layers untouched');
  t.equal(ociRaw.layers[2]!.mediaType, MediaType.ociLayerZstd);
});

t.test('oci: builder → docker-archive: result, no registry named; podman loads it; it builds again into oci:', async (t) => {
  const layoutDir = path.join(tmp, 'builder-layout');
  const copy = await runCli(['copy', `docker://${plainBuilder}`, `oci:${layoutDir}:b1`, '--tls-verify=false']);
  t.equal(copy.code, 0, copy.stderr);
  const archive = path.join(tmp, 'app.tar');
  const r = await runCli(['build', source(), `oci:${layoutDir}:b1`, `docker-archive:${archive}:localhost/oci-s2i-formats-test:v1`, '--root', root()]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const info = skopeoJson<{ Layers: string[]; Labels: Record<string, string> }>(`docker-archive:${archive}`);
  t.equal(info.Layers.length, 3, "the builder's layers plus one");
  t.equal(info.Labels['io.openshift.s2i.build.image'], `oci:${layoutDir}:b1`, 'the builder is named as given');
  const load = sh('podman', ['load', '-i', archive]);
  t.equal(load.code, 0, load.stderr);
  t.teardown(() => void sh('podman', ['rmi', '-f', 'localhost/oci-s2i-formats-test:v1']));
  t.match(load.stdout + load.stderr, /oci-s2i-formats-test/);

  // the archive is a builder too (it keeps the scripts label): docker-archive: in, oci: out (OCI by default)
  const outLayout = path.join(tmp, 'app-layout');
  const again = await runCli(['build', source(), `docker-archive:${archive}`, `oci:${outLayout}:app2`, '--root', root()]);
  t.equal(again.code, 0, again.stderr);
  const raw = skopeoJson<RawManifest>('--raw', `oci:${outLayout}:app2`);
  t.equal(raw.mediaType, MediaType.ociManifest);
  t.equal(raw.layers.length, 4);
  t.equal(sh('umoci', ['unpack', '--image', `${outLayout}:app2`, path.join(tmp, 'app2-bundle')]).code, 0, 'umoci unpacks it');
});

t.test('two reproducible builds (different caches, a second apart) give the same digest', async (t) => {
  const src = source();
  const out = `${registry.host}/t/app-repro:1`;
  const first = await runCli(['build', src, plainBuilder, out, '--root', root(), '--reproducible']);
  t.equal(first.code, 0, first.stderr);
  await sleep(1100); // so that any wall-clock time that leaked into the image would differ
  const second = await runCli(['build', src, plainBuilder, out, '--root', root(), '--reproducible', '-q']);
  t.equal(second.code, 0, second.stderr);
  t.match(first.stdout, /^sha256:[0-9a-f]{64}\n$/);
  t.equal(second.stdout, first.stdout, 'same image digest');
  const cfg = skopeoJson<{ created: string; history: Array<{ created: string }> }>('--tls-verify=false', '--config', `docker://${out}`);
  t.equal(cfg.created, '1970-01-01T00:00:00Z');
  t.equal(cfg.history.at(-1)!.created, '1970-01-01T00:00:00Z');

  // SOURCE_DATE_EPOCH sets the time instead of 0; --timestamp wins over it
  const epoch = await runCli(['build', src, plainBuilder, `${registry.host}/t/app-repro:2`, '--root', root(), '--reproducible'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  t.equal(epoch.code, 0, epoch.stderr);
  t.not(epoch.stdout, first.stdout);
  const cfg2 = skopeoJson<{ created: string }>('--tls-verify=false', '--config', `docker://${registry.host}/t/app-repro:2`);
  t.equal(cfg2.created, '2023-11-14T22:13:20Z');
  const flag = await runCli(['build', src, plainBuilder, `${registry.host}/t/app-repro:3`, '--root', root(), '--timestamp', '2024-01-01T00:00:00Z'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  t.equal(flag.code, 0, flag.stderr);
  t.equal(skopeoJson<{ created: string }>('--tls-verify=false', '--config', `docker://${registry.host}/t/app-repro:3`).created, '2024-01-01T00:00:00Z');
});

t.test('--format docker refuses what OpenShift 4.6 would not import, and pushes nothing', async (t) => {
  t.test('an uncompressed new layer (--compression none)', async (t) => {
    const out = `${registry.host}/t/app-refused:1`;
    const r = await runCli(['build', source(), plainBuilder, out, '--root', root(), '--compression', 'none']);
    t.equal(r.code, 6, r.stderr);
    t.match(r.stderr, /would not import into ocp4\.6, so nothing was pushed/);
    t.match(r.stderr, /layer 2 has type application\/vnd\.docker\.image\.rootfs\.diff\.tar;/);
    t.not(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${out}`]).code, 0, 'nothing pushed');
    const ok = await runCli(['build', source(), plainBuilder, out, '--root', root(), '--compression', 'none', '--check', 'none', '-q']);
    t.equal(ok.code, 0, ok.stderr);
    t.equal(skopeoJson<RawManifest>('--tls-verify=false', '--raw', `docker://${out}`).layers[2]!.mediaType, MediaType.dockerLayer);
  });
  t.test('a builder with a non-distributable layer (an OCI layout may hold one)', async (t) => {
    const img = await makeBuilderImage({ scriptsDir, format: 'oci' }, mkdtempSync(path.join(tmp, 'img-')));
    const dir = path.join(tmp, 'foreign-layout');
    await writeLayout(dir, 'v1', img, [MediaType.ociLayerNonDistributableGzip]);
    const archive = path.join(tmp, 'refused.tar');
    const r = await runCli(['build', source(), `oci:${dir}:v1`, `docker-archive:${archive}`, '--root', root()]);
    t.equal(r.code, 6, r.stderr);
    t.match(r.stderr, /layer 0 is a foreign \(non-distributable\) layer/);
    t.not(sh('test', ['-e', archive]).code, 0, 'no archive written');
    const oci = await runCli(['build', source(), `oci:${dir}:v1`, `oci:${path.join(tmp, 'foreign-out')}:x`, '--root', root(), '-q']);
    t.equal(oci.code, 0, `OCI output has no such check: ${oci.stderr}`);
  });
});

t.test('bad input: one line, stable exit codes', async (t) => {
  const b = plainBuilder;
  const out = `${registry.host}/t/never:1`;
  const cases: Array<[string[], NodeJS.ProcessEnv, number, RegExp]> = [
    [['build', source(), `oci:${path.join(tmp, 'no-such-layout')}:x`, out], {}, 2, /no-such-layout/],
    [['build', source(), b, `oci:${path.join(tmp, 'l')}:x`, '--format', 'docker'], {}, 64, /holds OCI images only: use --format oci/],
    [['build', source(), b, out, '--timestamp', 'yesterday'], {}, 64, /invalid --timestamp "yesterday"/],
    [['build', source(), b, out], { SOURCE_DATE_EPOCH: '-5' }, 64, /invalid SOURCE_DATE_EPOCH/],
    [['build', source(), b, out, '--check', 'ocp3'], {}, 64, /--check must be one of/],
    [['build', source(), b, 'ftp:/x'], {}, 64, /unknown transport "ftp:"/],
  ];
  const results = await Promise.all(cases.map(([args, env]) => runCli([...args, '--root', root()], { env })));
  for (const [i, [args, , code, re]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, code, `${args.slice(3).join(' ')}: ${r.stderr}`);
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
