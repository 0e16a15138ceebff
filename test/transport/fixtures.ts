// Test images for the transport tests: the busybox builder (demo/busybox-image.ts) in either format, optionally
// with zstd layers (recompressed with the real `zstd` command), written to a registry or an OCI layout.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { makeBuilderImage, type BuiltImage } from '../../src/demo/busybox-image.js';
import { buildManifest } from '../../src/image/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, ImageFormat } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OciLayout } from '../../src/transport/oci-layout.js';

export const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const BIN = path.resolve('bin/oci-s2i.js');

export interface Fixture extends BuiltImage {
  /** blob digest → file or bytes */
  blobs: Map<string, { file?: string; bytes?: Buffer }>;
  diffIDs: string[];
}

export async function makeImage(dir: string, opts: { format?: ImageFormat; zstd?: boolean; labels?: Record<string, string> } = {}): Promise<Fixture> {
  const format = opts.format ?? 'docker';
  const scripts = path.join(dir, 'scripts');
  execFileSync('mkdir', ['-p', scripts]);
  await writeFile(path.join(scripts, 'assemble'), '#!/bin/sh\necho assemble\n');
  await writeFile(path.join(scripts, 'run'), '#!/bin/sh\necho run\n');
  const img = await makeBuilderImage({ scriptsDir: scripts, format, ...(opts.labels ? { labels: opts.labels } : {}) }, dir);
  const blobs = new Map<string, { file?: string; bytes?: Buffer }>();
  blobs.set(img.configDescriptor.digest, { bytes: img.config });
  if (opts.zstd) {
    // Recompress every layer with the zstd command: same tar (diffID), new blob.
    for (const l of img.layers) {
      const tarBytes = zlib.gunzipSync(await readFile(l.file));
      const z = spawnSync('zstd', ['-q', '-c', '-3'], { input: tarBytes, maxBuffer: 1 << 30 });
      const file = `${l.file}.zst`;
      await writeFile(file, z.stdout);
      l.file = file;
      l.descriptor = { mediaType: MediaType.ociLayerZstd, digest: sha(z.stdout), size: z.stdout.length };
    }
    const m = buildManifest('oci', img.configDescriptor, img.layers.map((l) => l.descriptor));
    img.manifest = { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
  }
  for (const l of img.layers) blobs.set(l.descriptor.digest, { file: l.file });
  return { ...img, blobs, diffIDs: img.layers.map((l) => l.diffID) };
}

function openBlob(f: Fixture, d: Descriptor, offset = 0): Readable {
  const b = f.blobs.get(d.digest)!;
  return b.file ? createReadStream(b.file, { start: offset }) : Readable.from([b.bytes!.subarray(offset)]);
}

export async function pushFixture(host: string, repository: string, tag: string, f: Fixture): Promise<string> {
  const client = new RegistryClient();
  try {
    const repo = client.repository(host, repository);
    const m = JSON.parse(f.manifest.bytes.toString()) as { config: Descriptor; layers: Descriptor[] };
    for (const d of [m.config, ...m.layers]) await repo.pushBlob(d, (o) => openBlob(f, d, o));
    return await repo.pushManifest(tag, f.manifest.bytes, f.manifest.mediaType);
  } finally {
    await client.close();
  }
}

export async function writeLayoutFixture(dir: string, tag: string | undefined, f: Fixture): Promise<OciLayout> {
  const layout = await OciLayout.openOrCreate(dir);
  const m = JSON.parse(f.manifest.bytes.toString()) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [m.config, ...m.layers]) await layout.put(d, openBlob(f, d));
  const desc = await layout.putBytes(f.manifest.bytes, f.manifest.mediaType);
  await layout.addToIndex(desc, tag);
  return layout;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function sh(cmd: string, args: string[]): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Parses a command's JSON stdout; on failure the error carries the command's stderr (for diagnosis). */
export function jsonOf<T>(r: RunResult, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what}: exit ${r.code}, no JSON on stdout; stderr: ${r.stderr.slice(0, 2000)}`);
  }
}

/** The CLI as a child process, asynchronously (so independent runs can overlap). */
export function cliAsync(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `fn` over `items`, `limit` at a time, results in order. */
export async function mapParallel<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}
