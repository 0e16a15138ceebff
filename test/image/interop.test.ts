// Images assembled from this folder's pieces, checked by independent tools: skopeo (containers/image) reads
// and copies both formats, umoci (OCI) unpacks the OCI one. A manifest those tools refuse would fail here.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { MediaType } from '../../src/oci/media-types.js';
import { parseImageConfig, parseManifestDocument } from '../../src/oci/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import type { ImageConfig, ImageFormat } from '../../src/oci/types.js';
import { appendLayer, configMediaType, mergeEnv, serializeConfig, setConfigFields } from '../../src/image/config.js';
import { buildManifest, layerMediaType } from '../../src/image/manifest.js';
import { openShift46Problems } from '../../src/image/compat.js';

function has(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * OCI images go to an OCI layout; Docker ones to containers/image's `dir:` layout, because skopeo 1.9's
 * `oci:` transport only finds OCI manifests in index.json.
 */
function blobPath(layout: string, format: ImageFormat, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return format === 'oci' ? join(layout, 'blobs', 'sha256', hex) : join(layout, hex);
}

async function writeImage(layout: string, format: ImageFormat): Promise<{ manifestDigest: string; configDigest: string }> {
  if (format === 'oci') {
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  } else {
    mkdirSync(layout, { recursive: true });
    writeFileSync(join(layout, 'version'), 'Directory Transport Version: 1.1\n');
  }
  const writeBlob = (_layout: string, bytes: Buffer): string => {
    const digest = sha256Digest(bytes);
    writeFileSync(blobPath(layout, format, digest), bytes);
    return digest;
  };
  const tar = await tarOf({ 'hello.txt': 'hello\n' });
  const gz = gzipSync(tar);
  const layerDigest = writeBlob(layout, gz);
  let config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
  config = appendLayer(config, sha256Digest(tar), { created: '1970-01-01T00:00:00Z', created_by: 'test' });
  config = setConfigFields(config, { Env: mergeEnv(undefined, [['A', '1']]), Cmd: ['/bin/true'], Labels: { l: 'v' } });
  const configBytes = serializeConfig(config);
  const configDigest = writeBlob(layout, configBytes);
  const m = buildManifest(format, { mediaType: configMediaType(format), digest: configDigest, size: configBytes.length }, [
    { mediaType: layerMediaType(format, 'gzip'), digest: layerDigest, size: gz.length },
  ]);
  if (format === 'docker') {
    writeFileSync(join(layout, 'manifest.json'), m.bytes);
    return { manifestDigest: m.digest, configDigest };
  }
  writeBlob(layout, m.bytes);
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ ...m.descriptor, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return { manifestDigest: m.digest, configDigest };
}

const skip = !has('skopeo') ? 'skopeo not installed' : false;

t.test('skopeo reads and copies what we build', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oci-s2i-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const format of ['docker', 'oci'] as const) {
    const src = join(dir, `${format}-src`);
    const { manifestDigest, configDigest } = await writeImage(src, format);
    const srcName = format === 'oci' ? `oci:${src}:latest` : `dir:${src}`;
    const raw = execFileSync('skopeo', ['inspect', '--raw', srcName]);
    t.equal(sha256Digest(raw), manifestDigest, `${format}: skopeo sees our manifest bytes`);
    const cfg = parseImageConfig(execFileSync('skopeo', ['inspect', '--config', '--raw', srcName]));
    t.same(cfg.config?.Env, ['A=1']);
    // A copy verifies every blob's digest and size against the manifest.
    const dst = join(dir, `${format}-dst`);
    execFileSync('skopeo', ['copy', '--quiet', '--preserve-digests', srcName, `dir:${dst}`]);
    const copied = readFileSync(join(dst, 'manifest.json'));
    t.equal(sha256Digest(copied), manifestDigest, `${format}: copy preserved the manifest digest`);
    const parsed = parseManifestDocument(copied);
    t.equal(parsed.format, format);
    if (parsed.kind === 'manifest') t.equal(parsed.manifest.config.digest, configDigest);
    t.same(openShift46Problems(parsed).length === 0, format === 'docker', `${format}: OpenShift 4.6 check`);
  }
  // skopeo converts our Docker image to OCI, keeping the config bytes (our rule too).
  const converted = join(dir, 'converted');
  execFileSync('skopeo', ['copy', '--quiet', '--format', 'oci', `dir:${join(dir, 'docker-src')}`, `dir:${converted}`]);
  const conv = parseManifestDocument(readFileSync(join(converted, 'manifest.json')));
  t.equal(conv.mediaType, MediaType.ociManifest);
});

t.test('umoci unpacks the OCI image', { skip: !has('umoci') ? 'umoci not installed' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oci-s2i-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = join(dir, 'layout');
  await writeImage(layout, 'oci');
  const stat = execFileSync('umoci', ['stat', '--image', `${layout}:latest`, '--json']).toString();
  t.match(stat, /"created_by":\s*"test"/);
  const bundle = join(dir, 'bundle');
  execFileSync('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:latest`, bundle]);
  t.equal(readFileSync(join(bundle, 'hello.txt'), 'utf8'), 'hello\n');
});
