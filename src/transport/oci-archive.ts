// oci-archive:FILE[:TAG] — a tar of an OCI image layout. Reading unpacks the layout's files (and nothing else)
// into a private temp dir and serves it as an oci: layout; writing builds a layout in a temp dir and packs it
// into FILE on commit (temp file + rename, so a failed copy leaves FILE as it was).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OciLayout, OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import { extractArchive, packArchive, type PackFile } from './tar-archive.js';
import type { ImageDestination, ImageSource } from './types.js';

const layoutName = /^(?:oci-layout|index\.json|blobs\/(?:sha256\/[0-9a-f]{64}|sha512\/[0-9a-f]{128}))$/;

/** Unpacks the layout files of the archive `file` (and nothing else) into `tmp`/layout and opens it. */
export async function unpackLayoutArchive(file: string, tmp: string): Promise<OciLayout> {
  const entries = await extractArchive(file, tmp, (n) => layoutName.test(n));
  const layoutDir = path.join(tmp, 'layout');
  for (const e of entries.values()) {
    const target = path.join(layoutDir, e.name);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(e.file, target);
  }
  try {
    return await OciLayout.openExisting(layoutDir);
  } catch (e) {
    throw Object.assign(e as Error, { message: (e as Error).message.replace(layoutDir, `the archive ${file}`) });
  }
}

/** Packs `layout` (its oci-layout, index.json and blobs, sorted) into the archive `file`, atomically. */
export async function packLayoutArchive(layout: OciLayout, file: string): Promise<void> {
  const files: PackFile[] = [
    { name: 'oci-layout', file: path.join(layout.dir, 'oci-layout') },
    { name: 'index.json', file: path.join(layout.dir, 'index.json') },
  ];
  for (const alg of (await fs.readdir(path.join(layout.dir, 'blobs'))).sort()) {
    for (const hex of (await fs.readdir(path.join(layout.dir, 'blobs', alg))).sort()) {
      if (!hex.startsWith('.')) files.push({ name: `blobs/${alg}/${hex}`, file: path.join(layout.dir, 'blobs', alg, hex) });
    }
  }
  await packArchive(file, files);
}

export async function openOciArchiveSource(file: string, tag: string | undefined, name: string, tmpRoot = os.tmpdir()): Promise<ImageSource> {
  const tmp = await fs.mkdtemp(path.join(tmpRoot, 'oci-s2i-oci-archive-'));
  try {
    const layout = await unpackLayoutArchive(file, tmp);
    return new OciLayoutSource(layout, tag, name, () => fs.rm(tmp, { recursive: true, force: true }), 'oci-archive');
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export async function openOciArchiveDestination(file: string, tag: string | undefined, name: string, tmpRoot = os.tmpdir()): Promise<ImageDestination> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = await fs.mkdtemp(path.join(tmpRoot, 'oci-s2i-oci-archive-'));
  const layout = await OciLayout.openOrCreate(path.join(tmp, 'layout'));
  const pack = (): Promise<void> => packLayoutArchive(layout, file);
  return new OciLayoutDestination(layout, tag, name, 'oci-archive', pack, () => fs.rm(tmp, { recursive: true, force: true }));
}
