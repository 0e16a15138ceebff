// `oci-s2i copy` and `oci-s2i inspect` as a user runs them (child processes), against the real registry:
// an OCI builder with zstd layers becomes a Docker image OpenShift 4.6 imports (gzip layers, diffIDs unchanged);
// an index copied with --all or one --platform; usage and input errors are one line with a stable exit code.
import t from 'tap';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRegistry } from '../helpers/registry.js';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { buildManifest } from '../../src/image/manifest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { OciLayout } from '../../src/transport/oci-layout.js';
import { cli, cliAsync, jsonOf, makeImage, mapParallel, pushFixture, sh } from '../transport/fixtures.js';

const tls = '--tls-verify=false';

t.test('copy and inspect through the CLI', async (t) => {
  const reg = await startRegistry();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-copy-cli-'));
  t.teardown(async () => {
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const zstd = await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'oci', zstd: true });
  await pushFixture(reg.host, 'builders/zstd', 'v1', zstd);

  t.test('zstd OCI builder → --format docker: all Docker types, gzip layers, same diffIDs, passes ocp4.6', async (t) => {
    const before = cli(['inspect', '--check', 'ocp4.6', `${reg.host}/builders/zstd:v1`]);
    t.equal(before.code, 1, before.stderr);
    t.match(before.stderr, /would not import/, before.stderr);
    t.match(before.stdout, /OCI manifest.*fix: .*oci-s2i copy --format docker/);
    t.match(before.stdout, /layer 0 is zstd-compressed.*fix: recompress to gzip/);

    const r = cli(['copy', '--format', 'docker', `${reg.host}/builders/zstd:v1`, `docker://${reg.host}/builders/docker:v1`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    t.match(r.stderr, /layer 0: recompressed tar\+zstd → gzip/);
    const raw = jsonOf(sh('skopeo', ['inspect', tls, '--raw', `docker://${reg.host}/builders/docker:v1`]), 'skopeo inspect') as {
      mediaType: string; config: { mediaType: string; digest: string }; layers: Array<{ mediaType: string; digest: string }>;
    };
    t.equal(raw.mediaType, MediaType.dockerManifest);
    t.equal(raw.config.mediaType, MediaType.dockerConfig);
    t.equal(raw.config.digest, zstd.configDescriptor.digest, 'config bytes unchanged');
    t.ok(raw.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip), 'gzip Docker layers only');
    t.equal(sha256Digest(Buffer.from(sh('skopeo', ['inspect', tls, '--raw', `docker://${reg.host}/builders/docker:v1`]).stdout)), r.stdout.trim());
    // the layer bytes really are gzip of the same tar: skopeo unpacks them into an OCI layout for umoci
    const lay = path.join(dir, 'sk');
    t.equal(sh('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${reg.host}/builders/docker:v1`, `oci:${lay}:x`]).code, 0);
    t.equal(sh('umoci', ['unpack', '--rootless', '--image', `${lay}:x`, path.join(dir, 'bundle')]).code, 0);
    t.ok(existsSync(path.join(dir, 'bundle/rootfs/usr/libexec/s2i/run')));
    const cfg = jsonOf(sh('skopeo', ['inspect', tls, '--config', `docker://${reg.host}/builders/docker:v1`]), 'skopeo inspect') as { rootfs: { diff_ids: string[] } };
    t.same(cfg.rootfs.diff_ids, zstd.diffIDs, 'diffIDs unchanged');

    const after = cli(['inspect', '--check', 'ocp4.6', `${reg.host}/builders/docker:v1`]);
    t.equal(after.code, 0, after.stdout + after.stderr);
    t.match(after.stdout, /would import into OpenShift 4.6/);

    // inspect shows the result; --json carries the decoded S2I labels
    const info = cli(['inspect', `${reg.host}/builders/docker:v1`]);
    t.equal(info.code, 0);
    t.match(info.stdout, /Format: +Docker \(application\/vnd.docker.distribution.manifest.v2\+json\)/);
    t.match(info.stdout, /scripts-url +image:\/\/\/usr\/libexec\/s2i/);
    const j = jsonOf(cli(['inspect', '--json', `${reg.host}/builders/docker:v1`]), 'inspect --json') as { format: string; s2i: Record<string, string>; layers: unknown[] };
    t.equal(j.format, 'docker');
    t.same(j.s2i, { 'scripts-url': 'image:///usr/libexec/s2i' });
    t.equal(j.layers.length, 2);
    t.same(Buffer.from(cli(['inspect', '--config', `${reg.host}/builders/docker:v1`]).stdout), zstd.config, '--config prints the bytes as stored');

    // the same zstd builder straight into a docker-archive loads in podman (layers stored uncompressed)
    const archive = path.join(dir, 'zstd.tar');
    const a = cli(['copy', `${reg.host}/builders/zstd:v1`, `docker-archive:${archive}:localhost/oci-s2i-zstd-test:v1`]);
    t.equal(a.code, 0, a.stderr);
    t.equal(sh('skopeo', ['inspect', `docker-archive:${archive}`]).code, 0);
    const load = sh('podman', ['load', '-i', archive]);
    t.equal(load.code, 0, load.stderr);
    sh('podman', ['rmi', '-f', 'localhost/oci-s2i-zstd-test:v1']);
  });

  t.test('--all copies an index (OCI index → Docker list); --platform picks one', async (t) => {
    // a two-platform index: the fixture as amd64 and a re-labelled config as arm64 (same layers)
    const client = new RegistryClient();
    t.teardown(() => client.close());
    const repo = client.repository(reg.host, 'multi/app');
    const amd = JSON.parse(zstd.config.toString()) as Record<string, unknown>;
    const arm = Buffer.from(JSON.stringify({ ...amd, architecture: 'arm64', variant: 'v8' }));
    const armCfg = { mediaType: MediaType.ociConfig, digest: sha256Digest(arm), size: arm.length };
    await repo.pushBlob(armCfg, (o) => Readable.from([arm.subarray(o)]));
    await pushFixture(reg.host, 'multi/app', 'amd64', zstd);
    const armManifest = buildManifest('oci', armCfg, zstd.layers.map((l) => l.descriptor));
    await repo.pushManifest(armManifest.digest, armManifest.bytes, armManifest.mediaType);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: zstd.manifest.digest, size: zstd.manifest.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaType.ociManifest, digest: armManifest.digest, size: armManifest.bytes.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }));
    await repo.pushManifest('v1', index, MediaType.ociIndex);

    const all = cli(['copy', '--all', '--format', 'docker', `${reg.host}/multi/app:v1`, `${reg.host}/multi/docker:v1`]);
    t.equal(all.code, 0, all.stderr);
    t.match(all.stderr, /manifest list does not import into OpenShift 4.6/);
    const list = jsonOf(sh('skopeo', ['inspect', tls, '--raw', `docker://${reg.host}/multi/docker:v1`]), 'skopeo inspect') as { mediaType: string; manifests: Array<{ mediaType: string; platform: { architecture: string } }> };
    t.equal(list.mediaType, MediaType.dockerList);
    t.same(list.manifests.map((m) => [m.mediaType, m.platform.architecture]), [[MediaType.dockerManifest, 'amd64'], [MediaType.dockerManifest, 'arm64']]);
    t.equal(sh('skopeo', ['inspect', tls, '--override-arch', 'arm64', `docker://${reg.host}/multi/docker:v1`]).code, 0);
    t.equal(cli(['inspect', '--check', 'quay-legacy', `${reg.host}/multi/docker:v1`]).code, 0, 'old Quay takes a Docker list of good images');
    t.equal(cli(['inspect', '--check', 'ocp4.6', `${reg.host}/multi/docker:v1`]).code, 1, 'OpenShift 4.6 does not');

    const one = cli(['copy', '--platform', 'linux/arm64', '--format', 'docker', `${reg.host}/multi/app:v1`, `oci-archive:${path.join(dir, 'x.tar')}:y`]);
    t.equal(one.code, 1, 'an oci-archive cannot hold Docker');
    t.match(one.stderr, /^oci-s2i: .*holds oci images only; use --format oci\b[^\n]*\n$/);
    const arm64 = cli(['copy', '--platform', 'linux/arm64', '--format', 'docker', `${reg.host}/multi/app:v1`, `${reg.host}/multi/arm:v1`]);
    t.equal(arm64.code, 0, arm64.stderr);
    const armInfo = jsonOf(cli(['inspect', '--json', `${reg.host}/multi/arm:v1`]), 'inspect --json') as { platform: string; format: string };
    t.same([armInfo.platform, armInfo.format], ['linux/arm64/v8', 'docker']);
    t.equal(cli(['copy', '--all', `${reg.host}/multi/app:v1`, `docker-archive:${path.join(dir, 'all.tar')}`]).code, 1, 'a docker-archive holds no index');
  });

  t.test('usage and input errors: one line, stable exit codes', async (t) => {
    const conflict = cli(['copy', '--all', '--platform', 'linux/amd64', `${reg.host}/builders/zstd:v1`, `oci:${dir}/l`]);
    t.equal(conflict.code, 64);
    t.match(conflict.stderr, /^oci-s2i: --all and --platform cannot be combined.*\n$/);
    const cases: Array<[string[], number, RegExp]> = [
      [['copy', 'ftp:/x/y', `oci:${dir}/l`], 64, /unknown transport "ftp:"/],
      [['copy', `oci:${dir}/missing:t`, `oci:${dir}/l`], 1, /is not an OCI image layout/],
      [['copy', `${reg.host}/builders/zstd:v1`], 64, /copy takes SOURCE DESTINATION/],
      [['copy', '--format', 'v1', `${reg.host}/builders/zstd:v1`, `oci:${dir}/l`], 64, /--format must be one of docker, oci/],
      [['inspect', `docker-archive:${dir}/nope.tar`], 1, /does not exist/],
      [['inspect', `${reg.host}/builders/none:v1`], 2, /.+/],
    ];
    const results = await mapParallel(cases, 6, ([args]) => cliAsync(args));
    for (const [i, [args, code, re]] of cases.entries()) {
      const r = results[i]!;
      t.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      t.match(r.stderr, re);
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    // the check refuses a Docker result with a foreign layer and pushes nothing (source: a layout, which
    // unlike the registry does not insist on having every blob)
    const m = JSON.parse(zstd.manifest.bytes.toString()) as { config: { digest: string; size: number } };
    const layout = await OciLayout.openOrCreate(path.join(dir, 'foreign'));
    await layout.putBytes(zstd.config, MediaType.ociConfig);
    await layout.put(zstd.layers[1]!.descriptor, createReadStream(zstd.layers[1]!.file));
    const foreign = buildManifest('oci', { mediaType: MediaType.ociConfig, digest: m.config.digest, size: m.config.size }, [
      { mediaType: MediaType.ociLayerNonDistributableGzip, digest: `sha256:${'e'.repeat(64)}`, size: 5, urls: ['https://example.com/l'] },
      zstd.layers[1]!.descriptor,
    ]);
    await layout.addToIndex(await layout.putBytes(foreign.bytes, foreign.mediaType), 'v1');
    const refused = cli(['copy', '-q', '--format', 'docker', `oci:${layout.dir}:v1`, `${reg.host}/foreign/out:v1`]);
    t.equal(refused.code, 1);
    t.match(refused.stderr, /^oci-s2i: the converted image would not import into ocp4.6, so nothing was pushed: layer 0 is a foreign/);
    t.equal(refused.stderr.trim().split('\n').length, 1);
    t.not(sh('skopeo', ['inspect', tls, `docker://${reg.host}/foreign/out:v1`]).code, 0, 'nothing was pushed');
    const blobs = sh('find', [reg.dataDir, '-path', '*foreign/out*', '-name', 'link']);
    t.equal(blobs.stdout.trim(), '', 'not even a blob');
  });
});
