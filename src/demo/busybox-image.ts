// Makes a small S2I builder image from the host's static busybox plus a directory of S2I scripts, without a
// daemon or root: the layer tars are written with tar-stream (ownership set in the headers), gzip-compressed
// and digested in one pass, then pushed. Used by `npm run demo` and the tests.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, stat, mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { Digester } from '../layer/digester.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageConfig, ImageFormat } from '../oci/types.js';
import { hostPlatform } from '../oci/platform.js';
import { sha256Digest } from '../oci/digest.js';
import { serializeConfig, configMediaType } from '../image/config.js';
import { buildManifest } from '../image/manifest.js';
import type { Repository } from '../registry/client.js';

export interface TarFile {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  mode?: number;
  uid?: number;
  gid?: number;
  /** Host file to copy, or literal content. */
  source?: string;
  content?: string | Buffer;
  linkname?: string;
}

export interface BuiltLayer {
  file: string;
  descriptor: Descriptor;
  diffID: string;
}

const MTIME = new Date('2024-01-01T00:00:00Z');

/** Writes `files` (in order) as a gzip layer file; returns its descriptor and diffID. */
export async function writeTarLayer(files: TarFile[], file: string): Promise<BuiltLayer> {
  const pack = tar.pack();
  const tarDigest = new Digester();
  const gzDigest = new Digester();
  const done = pipeline(pack, tarDigest, zlib.createGzip({ level: 6 }), gzDigest, createWriteStream(file));
  for (const f of files) {
    const header = { name: f.name, mode: f.mode ?? 0o644, uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: MTIME, uname: '', gname: '' };
    if (f.type === 'directory') {
      pack.entry({ ...header, type: 'directory', mode: f.mode ?? 0o755 });
    } else if (f.type === 'symlink') {
      pack.entry({ ...header, type: 'symlink', linkname: f.linkname ?? '', mode: 0o777 });
    } else if (f.source) {
      const size = (await stat(f.source)).size;
      const entry = pack.entry({ ...header, size });
      await pipeline(createReadStream(f.source), entry);
    } else {
      const body = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content ?? '');
      await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: body.length }, body, (err) => (err ? reject(err) : resolve())));
    }
  }
  pack.finalize();
  await done;
  return {
    file,
    descriptor: { mediaType: MediaType.dockerLayerGzip, digest: gzDigest.digest(), size: gzDigest.size },
    diffID: tarDigest.digest(),
  };
}

export function busyboxPath(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox', '/usr/sbin/busybox']) {
    try {
      execFileSync(p, ['true']);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('busybox not found: install busybox-static (apt-get install busybox-static)');
}

/** Another busybox for the base layer than the host's static one, with the files it needs to run (its libc). */
export interface OtherBusybox {
  /** The busybox binary (run here once for its applet list: it must run on this machine). */
  binary: string;
  /** Entries added to the base layer, e.g. a dynamic loader and its directories. */
  files: TarFile[];
}

/** The root filesystem of a minimal busybox system with users root and `default` (1001). */
export function busyboxRootfs(opts: { withTar?: boolean; busybox?: OtherBusybox } = {}): TarFile[] {
  const bb = opts.busybox?.binary ?? busyboxPath();
  const applets = execFileSync(bb, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox' && (opts.withTar !== false || a !== 'tar'));
  const files: TarFile[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', source: bb, mode: 0o755 },
    ...applets.map((a): TarFile => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\ndefault:x:1001:0:Default Application User:/opt/app-root/src:/bin/sh\nnamed:x:431:0::/home/named:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { name: 'etc/group', content: 'root:x:0:\ntty:x:5:\nnobody:x:65534:\n' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/app-root/', type: 'directory', mode: 0o775, uid: 1001, gid: 0 },
    { name: 'opt/app-root/src/', type: 'directory', mode: 0o775, uid: 1001, gid: 0 },
    { name: 'proc/', type: 'directory' },
    { name: 'root/', type: 'directory', mode: 0o700 },
    { name: 'sys/', type: 'directory' },
    { name: 'dev/', type: 'directory' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/libexec/', type: 'directory' },
    ...(opts.busybox?.files ?? []),
  ];
  return files;
}

export interface BuilderSpec {
  /** Directory holding the S2I scripts (assemble, run, …), installed at `scriptsPath`. */
  scriptsDir?: string;
  scriptsPath?: string;
  user?: string;
  labels?: Record<string, string>;
  env?: string[];
  workingDir?: string;
  cmd?: string[];
  format?: ImageFormat;
  /** ONBUILD triggers of the image config. */
  onBuild?: string[];
  /** Leave tar out of the image (s2i's "no tar" test builder: we need none). */
  withoutTar?: boolean;
  /** One more layer on top, with these entries (tests craft hostile images with it). */
  extraLayer?: TarFile[];
  /** The base layer's busybox: the host's static one by default. */
  busybox?: OtherBusybox;
}

export interface BuiltImage {
  layers: BuiltLayer[];
  config: Buffer;
  configDescriptor: Descriptor;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
}

/** Builds the builder image's blobs into `workDir` (files) and returns them with config and manifest. */
export async function makeBuilderImage(spec: BuilderSpec, workDir: string): Promise<BuiltImage> {
  const scriptsPath = spec.scriptsPath ?? '/usr/libexec/s2i';
  const base = await writeTarLayer(busyboxRootfs({ withTar: !spec.withoutTar, ...(spec.busybox ? { busybox: spec.busybox } : {}) }), path.join(workDir, 'base.tar.gz'));
  const layers = [base];
  if (spec.scriptsDir) {
    const files: TarFile[] = [];
    const rel = scriptsPath.replace(/^\/+/, '');
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) files.push({ name: parts.slice(0, i).join('/') + '/', type: 'directory' });
    for (const name of (await readdir(spec.scriptsDir)).sort()) {
      files.push({ name: `${rel}/${name}`, content: await readFile(path.join(spec.scriptsDir, name)), mode: 0o755 });
    }
    layers.push(await writeTarLayer(files, path.join(workDir, 'scripts.tar.gz')));
  }
  if (spec.extraLayer) layers.push(await writeTarLayer(spec.extraLayer, path.join(workDir, 'extra.tar.gz')));
  const format = spec.format ?? 'docker';
  const platform = hostPlatform();
  const config: ImageConfig = {
    created: MTIME.toISOString(),
    architecture: platform.architecture,
    os: 'linux',
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      User: spec.user ?? '1001',
      Env: spec.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/opt/app-root/src'],
      WorkingDir: spec.workingDir ?? '/opt/app-root/src',
      Cmd: spec.cmd ?? [`${scriptsPath}/usage`],
      Labels: { 'io.openshift.s2i.scripts-url': `image://${scriptsPath}`, ...(spec.labels ?? {}) },
      ...(spec.onBuild ? { OnBuild: spec.onBuild } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created: MTIME.toISOString(), created_by: i === 0 ? 'busybox rootfs' : 'S2I scripts' })),
  };
  const configBytes = serializeConfig(config);
  const configDescriptor: Descriptor = { mediaType: configMediaType(format), digest: sha256Digest(configBytes), size: configBytes.length };
  const manifest = buildManifest(format, configDescriptor, layers.map((l) => l.descriptor));
  return { layers, config: configBytes, configDescriptor, manifest };
}

/** Pushes a built image to `repo` under `tag`. */
export async function pushBuiltImage(repo: Repository, image: BuiltImage, tag: string): Promise<string> {
  for (const l of image.layers) {
    if (!(await repo.blobExists(l.descriptor))) await repo.pushBlob(l.descriptor, (offset) => createReadStream(l.file, { start: offset }));
  }
  if (!(await repo.blobExists(image.configDescriptor))) {
    await repo.pushBlob(image.configDescriptor, (offset) => Readable.from([image.config.subarray(offset)]));
  }
  return await repo.pushManifest(tag, image.manifest.bytes, image.manifest.mediaType);
}

/** Convenience: make and push a busybox builder in one go (temp files removed). */
export async function pushBusyboxBuilder(repo: Repository, tag: string, spec: BuilderSpec): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-s2i-builder-'));
  try {
    return await pushBuiltImage(repo, await makeBuilderImage(spec, dir), tag);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
