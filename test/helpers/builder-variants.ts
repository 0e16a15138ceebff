// Busybox builder images (src/demo/busybox-image.ts) in the shapes the format tests need: OCI with zstd layers
// (recompressed by the real `zstd` command: same tars, so same diffIDs), or written into an OCI layout with a
// chosen media type per layer (e.g. a non-distributable one).
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import { buildManifest } from '../../src/image/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest } from '../../src/oci/digest.js';
import type { BuiltImage } from '../../src/demo/busybox-image.js';
import { OciLayout } from '../../src/transport/oci-layout.js';

/** The same image with every layer recompressed to zstd, as an OCI manifest. */
export async function withZstdLayers(img: BuiltImage): Promise<BuiltImage> {
  const layers = [];
  for (const l of img.layers) {
    const tar = zlib.gunzipSync(await readFile(l.file));
    const z = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
    if (z.status !== 0) throw new Error(`zstd failed: ${z.stderr.toString()}`);
    const file = `${l.file}.zst`;
    await writeFile(file, z.stdout);
    layers.push({ ...l, file, descriptor: { mediaType: MediaType.ociLayerZstd, digest: sha256Digest(z.stdout), size: z.stdout.length } });
  }
  const config = { ...img.configDescriptor, mediaType: MediaType.ociConfig };
  const m = buildManifest('oci', config, layers.map((l) => l.descriptor));
  return { ...img, layers, configDescriptor: config, manifest: { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest } };
}

/** Writes `img` into the OCI layout at `dir` under `tag`; `mediaTypes[i]` overrides layer i's type (blob unchanged). */
export async function writeLayout(dir: string, tag: string, img: BuiltImage, mediaTypes: Array<string | undefined> = []): Promise<void> {
  const layout = await OciLayout.openOrCreate(dir);
  await layout.putBytes(img.config, MediaType.ociConfig);
  const descs = img.layers.map((l, i) => ({ ...l.descriptor, mediaType: mediaTypes[i] ?? l.descriptor.mediaType }));
  for (const [i, l] of img.layers.entries()) await layout.put(descs[i]!, createReadStream(l.file));
  const m = buildManifest('oci', { ...img.configDescriptor, mediaType: MediaType.ociConfig }, descs);
  await layout.addToIndex(await layout.putBytes(m.bytes, m.mediaType), tag);
}
