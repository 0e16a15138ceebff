// A skopeo sync YAML file as the source (tags, a digest, a semver constraint, a regular expression, per-registry
// tls-verify) into an oci-archive, then the archive into another registry: against real registries, checked with
// skopeo. A second run into the archive finds everything there and leaves the file as it was.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { writeTarLayer } from '../../src/demo/busybox-image.js';
import { buildManifest } from '../../src/image/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { jsonOf, sh } from '../transport/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sync-yaml-'));
let origin: TestRegistry;
let mirror: TestRegistry;

t.before(async () => {
  [origin, mirror] = await Promise.all([startRegistry(), startRegistry()]);
});
t.teardown(async () => {
  await Promise.allSettled([origin?.stop(), mirror?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

/** A one-file image per tag (the file says the tag, so every tag has its own digest). */
async function pushTags(client: RegistryClient, repository: string, tags: string[]): Promise<Map<string, string>> {
  const repo = client.repository(origin.host, repository);
  const out = new Map<string, string>();
  for (const tag of tags) {
    const layer = await writeTarLayer([{ name: 'tag.txt', content: `${repository}:${tag}\n` }], path.join(tmp, `${repository.replace('/', '-')}-${tag}.tar.gz`));
    const layerDesc: Descriptor = { ...layer.descriptor, mediaType: MediaType.ociLayerGzip };
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.diffID] } }));
    const cfgDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(cfg), size: cfg.length };
    await repo.pushBlob(cfgDesc, (o) => Readable.from([cfg.subarray(o)]));
    await repo.pushBlob(layerDesc, (o) => createReadStream(layer.file, { start: o }));
    const m = buildManifest('oci', cfgDesc, [layerDesc]);
    out.set(tag, await repo.pushManifest(tag, m.bytes, m.mediaType));
  }
  return out;
}

t.test('a sync file → an oci-archive → a registry', async (t) => {
  const client = new RegistryClient();
  t.teardown(() => client.close());
  const app = await pushTags(client, 'lib/app', ['1.0.0', '1.2.0', '1.10.0', '2.0.0-rc.1', '2.0.0', 'latest', 'old']);
  await pushTags(client, 'lib/other', ['a', 'b', 'bb']);
  const file = path.join(tmp, 'sync.yaml');
  writeFileSync(
    file,
    [
      `${origin.host}:`,
      '  images:',
      `    lib/app: ["1.0.0", "${app.get('old')}"]`,
      '  images-by-semver:',
      '    lib/app: ">= 1.2, < 2"',
      '  images-by-tag-regex:',
      '    lib/other: ^b$',
      '  tls-verify: false',
      '',
    ].join('\n'),
  );
  const archive = path.join(tmp, 'out', 'images.tar');
  const r = await runCli(['sync', '--json', '--src', 'yaml', file, `oci-archive:${archive}`]);
  t.equal(r.code, 0, r.stderr);
  const s = jsonOf<{ copied: number; images: Array<{ source: string }> }>(r, 'sync --json');
  const at = `${origin.host}/lib`;
  t.same(
    s.images.map((i) => i.source).sort(),
    [`docker://${at}/app:1.0.0`, `docker://${at}/app:1.10.0`, `docker://${at}/app:1.2.0`, `docker://${at}/app@${app.get('old')}`, `docker://${at}/other:b`].sort(),
    'the tags and the digest named, the versions >= 1.2 < 2 (no pre-release), the tags the expression finds',
  );
  const index = JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })) as { manifests: Array<{ annotations: Record<string, string> }> };
  t.equal(index.manifests.length, 5);
  const inspected = sh('skopeo', ['inspect', '--raw', `oci-archive:${archive}:${at}/app:1.10.0`]);
  t.equal(inspected.code, 0, inspected.stderr);
  t.equal(sha256Digest(Buffer.from(inspected.stdout)), app.get('1.10.0'), 'skopeo reads the archive by full names');

  const before = readFileSync(archive);
  const again = await runCli(['sync', '--src', 'yaml', file, `oci-archive:${archive}`]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /0 copied, 5 up to date, 0 failed/);
  t.same(readFileSync(archive), before, 'nothing new: the archive is not rewritten');

  const back = await runCli(['sync', '--src', `oci-archive:${archive}`, '--dest', `docker://${mirror.host}/m`]);
  t.equal(back.code, 0, back.stderr);
  const tags = jsonOf<{ Tags: string[] }>(sh('skopeo', ['list-tags', '--tls-verify=false', `docker://${mirror.host}/m/lib/app`]), 'list-tags');
  t.same(tags.Tags.sort(), ['1.0.0', '1.10.0', '1.2.0']);
  const byDigest = sh('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${mirror.host}/m/lib/app@${app.get('old')}`]);
  t.equal(byDigest.code, 0, 'the image named by digest is there by digest');
  t.equal(sha256Digest(Buffer.from(byDigest.stdout)), app.get('old'));
});
