// Every conversion path registry ↔ oci ↔ oci-archive ↔ docker-archive, in both formats, read back by
// independent tools: skopeo inspect/copy, umoci unpack, podman load. diffIDs (the layer contents) never change.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRegistry } from '../helpers/registry.js';
import { MediaType } from '../../src/oci/media-types.js';
import { copyImage, type CopyOptions } from '../../src/transport/copy.js';
import { openDestination, openSource } from '../../src/transport/open.js';
import type { ImageFormat } from '../../src/oci/types.js';
import { makeImage, pushFixture, sh, writeLayoutFixture, type Fixture } from './fixtures.js';

async function copy(src: string, dst: string, opts: CopyOptions = {}): Promise<{ digest: string; bytes: Buffer }> {
  const s = await openSource(src);
  try {
    const d = await openDestination(dst);
    try {
      return await copyImage(s, d, opts);
    } finally {
      await d.close();
    }
  } finally {
    await s.close();
  }
}

function skopeoJSON(args: string[]): Record<string, unknown> {
  const r = sh('skopeo', ['--insecure-policy', ...args]);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const tls = ['--tls-verify=false'];

t.test('conversion paths', async (t) => {
  const reg = await startRegistry();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-transport-'));
  const podmanName = `localhost/oci-s2i-test-${randomBytes(4).toString('hex')}`;
  t.teardown(async () => {
    sh('podman', ['rmi', '-f', `${podmanName}:docker`, `${podmanName}:oci`]);
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const fixtures: Record<ImageFormat, Fixture> = {
    docker: await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'docker' }),
    oci: await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'oci' }),
  };
  for (const format of ['docker', 'oci'] as const) {
    await pushFixture(reg.host, `src/${format}`, 'v1', fixtures[format]);
  }

  for (const format of ['docker', 'oci'] as const) {
    t.test(`${format} source`, async (t) => {
      const f = fixtures[format];
      const diffIDs = f.diffIDs;
      const configOf = (args: string[]) => skopeoJSON(['inspect', '--config', ...args]) as { rootfs: { diff_ids: string[] } };
      const raw = (args: string[]) => skopeoJSON(['inspect', '--raw', ...args]) as { mediaType?: string; config: { mediaType: string; digest: string }; layers: Array<{ mediaType: string }> };

      // registry → oci layout: OCI manifest (layouts hold OCI), config bytes kept (same digest), unpackable by umoci.
      const layout = path.join(dir, `layout-${format}`);
      await copy(`${reg.host}/src/${format}:v1`, `oci:${layout}:app`);
      const m1 = raw([`oci:${layout}:app`]);
      t.equal(m1.mediaType, MediaType.ociManifest);
      t.equal(m1.config.digest, f.configDescriptor.digest, 'config bytes kept');
      t.ok(m1.layers.every((l) => l.mediaType === MediaType.ociLayerGzip));
      t.same(configOf([`oci:${layout}:app`]).rootfs.diff_ids, diffIDs);
      const bundle = path.join(dir, `bundle-${format}`);
      const un = sh('umoci', ['unpack', '--rootless', '--image', `${layout}:app`, bundle]);
      t.equal(un.code, 0, un.stderr);
      t.ok(existsSync(path.join(bundle, 'rootfs/bin/busybox')), 'umoci unpacked the base layer');
      t.ok(existsSync(path.join(bundle, 'rootfs/usr/libexec/s2i/assemble')), 'umoci unpacked the scripts layer');

      // oci layout → oci-archive
      const ociArchive = path.join(dir, `oci-${format}.tar`);
      await copy(`oci:${layout}:app`, `oci-archive:${ociArchive}:app`);
      t.same(configOf([`oci-archive:${ociArchive}:app`]).rootfs.diff_ids, diffIDs);
      const back = path.join(dir, `skopeo-back-${format}`);
      const sc = sh('skopeo', ['--insecure-policy', 'copy', `oci-archive:${ociArchive}:app`, `oci:${back}:x`]);
      t.equal(sc.code, 0, sc.stderr);

      // oci-archive → docker-archive: loadable by podman, readable by skopeo
      const dockerArchive = path.join(dir, `docker-${format}.tar`);
      await copy(`oci-archive:${ociArchive}:app`, `docker-archive:${dockerArchive}:${podmanName}:${format}`);
      const dcfg = configOf([`docker-archive:${dockerArchive}`]);
      t.same(dcfg.rootfs.diff_ids, diffIDs);
      const load = sh('podman', ['load', '-i', dockerArchive]);
      t.equal(load.code, 0, load.stderr);
      t.match(load.stdout, `${podmanName}:${format}`);
      const pi = sh('podman', ['image', 'inspect', `${podmanName}:${format}`]);
      t.equal(pi.code, 0, pi.stderr);
      t.same((JSON.parse(pi.stdout) as Array<{ RootFS: { Layers: string[] } }>)[0]!.RootFS.Layers, diffIDs);

      // docker-archive → registry as Docker: gzip layers again, importable
      await copy(`docker-archive:${dockerArchive}`, `${reg.host}/dst/from-archive-${format}:v1`, { format: 'docker' });
      const m2 = raw([...tls, `docker://${reg.host}/dst/from-archive-${format}:v1`]);
      t.equal(m2.mediaType, MediaType.dockerManifest);
      t.equal(m2.config.mediaType, MediaType.dockerConfig);
      t.ok(m2.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip));
      t.equal(m2.config.digest, f.configDescriptor.digest);
      t.same(configOf([...tls, `docker://${reg.host}/dst/from-archive-${format}:v1`]).rootfs.diff_ids, diffIDs);

      // registry → registry in the other format; and back: the original digest returns (deterministic bytes)
      const other: ImageFormat = format === 'docker' ? 'oci' : 'docker';
      const conv = await copy(`${reg.host}/src/${format}:v1`, `${reg.host}/dst/${format}-as-${other}:v1`, { format: other });
      const m3 = raw([...tls, `docker://${reg.host}/dst/${format}-as-${other}:v1`]);
      t.equal(m3.mediaType, other === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest);
      t.equal(sh('skopeo', ['--insecure-policy', 'copy', ...['--src-tls-verify=false'], `docker://${reg.host}/dst/${format}-as-${other}:v1`, `oci:${path.join(dir, `sk-${format}`)}:y`]).code, 0);
      const again = await copy(`${reg.host}/dst/${format}-as-${other}:v1`, `${reg.host}/dst/${format}-roundtrip:v1`, { format });
      t.equal(again.digest, f.manifest.digest, 'converting back gives the original manifest digest');
      t.not(conv.digest, f.manifest.digest);

      // an unconverted copy keeps the manifest bytes exactly
      const same = await copy(`${reg.host}/src/${format}:v1`, `${reg.host}/dst/${format}-same:v1`);
      t.equal(same.digest, f.manifest.digest);
      t.same(same.bytes, f.manifest.bytes);
    });
  }

  t.test('oci layout without a tag, read back by skopeo', async (t) => {
    const layout = path.join(dir, 'untagged');
    const r = await copy(`${reg.host}/src/oci:v1`, `oci:${layout}`);
    const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    t.same(index.manifests.map((m) => m.digest), [r.digest]);
    t.equal(sh('skopeo', ['inspect', `oci:${layout}`]).code, 0);
    // a second tag in the same layout: now a tag is needed to read it
    await copy(`${reg.host}/src/docker:v1`, `oci:${layout}:second`);
    const s = await openSource(`oci:${layout}`);
    await t.rejects(s.resolve(), { code: 'ERR_TAG_NOT_FOUND', message: /holds 2 images.*second/ });
    await s.close();
  });

  t.test('bad inputs give clean one-line errors', async (t) => {
    await t.rejects(openSource(`oci:${path.join(dir, 'missing')}:x`), { code: 'ERR_LAYOUT_NOT_FOUND', message: /is not an OCI image layout/ });
    const corrupt = path.join(dir, 'corrupt.tar');
    writeFileSync(corrupt, randomBytes(4096));
    await t.rejects(openSource(`oci-archive:${corrupt}`), { code: 'ERR_ARCHIVE_INVALID' });
    await t.rejects(openSource(`docker-archive:${corrupt}`), { code: 'ERR_ARCHIVE_INVALID' });
    const empty = path.join(dir, 'empty.tar');
    writeFileSync(empty, '');
    await t.rejects(openSource(`docker-archive:${empty}`), { code: 'ERR_ARCHIVE_INVALID' });
    await t.rejects(openSource(`docker-archive:${path.join(dir, 'nope.tar')}`), { code: 'ERR_ARCHIVE_NOT_FOUND' });
    // an oci-archive is not a docker-archive
    await t.rejects(openSource(`docker-archive:${path.join(dir, 'oci-oci.tar')}`), { code: 'ERR_ARCHIVE_INVALID', message: /no manifest.json/ });
    const s = await openSource(`oci:${path.join(dir, 'layout-oci')}:nosuchtag`);
    await t.rejects(s.resolve(), { code: 'ERR_TAG_NOT_FOUND', message: /no image tagged "nosuchtag".*"app"/ });
    await s.close();
    const da = await openSource(`docker-archive:${path.join(dir, 'docker-oci.tar')}:other:tag`).catch((e: unknown) => e);
    t.match(da, { code: 'ERR_TAG_NOT_FOUND' });
    // layouts hold OCI: asking for Docker there is refused before anything is written
    await t.rejects(copy(`${reg.host}/src/docker:v1`, `oci:${path.join(dir, 'refused')}:x`, { format: 'docker' }), { code: 'ERR_FORMAT_UNSUPPORTED' });
    // a corrupted blob in a layout is caught by digest, nothing is tagged at the destination
    const bad = path.join(dir, 'bad-layout');
    const layout = await writeLayoutFixture(bad, 'x', fixtures.oci);
    const victim = layout.blobPath(fixtures.oci.layers[1]!.descriptor.digest);
    const bytes = await fs.readFile(victim);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await fs.writeFile(victim, bytes);
    await t.rejects(copy(`oci:${bad}:x`, `${reg.host}/dst/corrupt:v1`), { code: 'ERR_DIGEST_MISMATCH' });
    t.not(sh('skopeo', ['inspect', ...tls, `docker://${reg.host}/dst/corrupt:v1`]).code, 0, 'no tag was pushed');
  });
});
