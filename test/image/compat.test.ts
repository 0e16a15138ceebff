import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import { parseManifestDocument } from '../../src/oci/manifest.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { openShift46Problems } from '../../src/image/compat.js';
import { buildManifest } from '../../src/image/manifest.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const cfg = { mediaType: MediaType.ociConfig, digest: d('c'), size: 10 };
const gz = { mediaType: MediaType.ociLayerGzip, digest: d('1'), size: 10 };
const config = (n: number): ImageConfig => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array(n).fill(d('9')) } });

t.test('a docker gzip manifest passes', async (t) => {
  const parsed = parseManifestDocument(buildManifest('docker', cfg, [gz, gz]).bytes);
  t.same(openShift46Problems(parsed, config(2)), []);
});

t.test('what OpenShift 4.6 refuses', async (t) => {
  const oci = parseManifestDocument(buildManifest('oci', cfg, [gz], { annotations: { a: 'b' } }).bytes);
  const problems = openShift46Problems(oci, config(2));
  t.match(problems.join('\n'), /not Docker v2s2/);
  t.match(problems.join('\n'), /no Docker "mediaType"/);
  t.match(problems.join('\n'), /config type/);
  t.match(problems.join('\n'), /only gzip Docker layers/);
  t.match(problems.join('\n'), /manifest has annotations/);
  t.match(problems.join('\n'), /1 layers/);

  const foreign = parseManifestDocument(
    buildManifest('docker', cfg, [{ ...gz, mediaType: MediaType.dockerForeignLayerGzip, urls: ['https://x'] }]).bytes,
  );
  t.match(openShift46Problems(foreign).join('\n'), /foreign/);
  const plainTar = parseManifestDocument(buildManifest('docker', cfg, [{ ...gz, mediaType: MediaType.ociLayer }]).bytes);
  t.match(openShift46Problems(plainTar).join('\n'), /only gzip/);

  const list = parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [] })));
  t.match(openShift46Problems(list).join('\n'), /list\/index/);
});
