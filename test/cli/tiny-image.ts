// Small images written straight into an OCI layout for the CLI's bad-input tests: one layer holding one file,
// per platform, and optionally an index over several platforms. No busybox, no registry.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { writeTarLayer } from '../../src/demo/busybox-image.js';
import { buildManifest } from '../../src/image/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { OciLayout } from '../../src/transport/oci-layout.js';

export interface TinyImage {
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

/** Writes a one-layer image for `platform` into the layout at `dir` (tagged `tag` when given). */
export async function writeTinyImage(dir: string, work: string, platform: Platform, tag?: string): Promise<TinyImage> {
  const name = `${platform.os}-${platform.architecture}`;
  const layer = await writeTarLayer([{ name: 'hello.txt', content: Buffer.from(`hello from ${name}\n`) }], path.join(work, `${name}.tar.gz`));
  const layerDesc: Descriptor = { ...layer.descriptor, mediaType: MediaType.ociLayerGzip };
  const layout = await OciLayout.openOrCreate(dir);
  const configBytes = Buffer.from(JSON.stringify({ ...platform, config: {}, rootfs: { type: 'layers', diff_ids: [layer.diffID] }, history: [] }));
  const config = await layout.putBytes(configBytes, MediaType.ociConfig);
  await layout.put(layerDesc, createReadStream(layer.file));
  const m = buildManifest('oci', config, [layerDesc]);
  const manifest = { ...(await layout.putBytes(m.bytes, m.mediaType)), platform };
  if (tag !== undefined) await layout.addToIndex(manifest, tag);
  return { manifest, config, layer: layerDesc };
}

/** An index over one tiny image per platform, tagged `tag`. */
export async function writeTinyIndex(dir: string, work: string, platforms: Platform[], tag: string): Promise<TinyImage[]> {
  const images: TinyImage[] = [];
  for (const p of platforms) images.push(await writeTinyImage(dir, work, p));
  const layout = await OciLayout.openOrCreate(dir);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images.map((i) => i.manifest) }));
  await layout.addToIndex(await layout.putBytes(index, MediaType.ociIndex), tag);
  return images;
}
