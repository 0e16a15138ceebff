// Copying an image between any two transports, converting on the way (spec/format-rules.md): Docker v2s2 ⇄ OCI
// for manifests (config bytes kept, so the config digest stays), layers and lists ⇄ indexes. zstd layers become
// gzip when the target is Docker, and plain-tar layers become gzip when the target wants compressed layers. What
// changes is the pure plan of image/convert.ts; the rewrites are done here, in one streaming pass per layer
// (decompress → diffID digest → gzip → blob digest → temp file), the diffID checked against the config. The result
// is written by the one writer (write-image.ts): blobs the destination has are skipped (or mounted on the same
// registry), the manifest goes last, so a failed copy never leaves a tag that points at missing blobs.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { noProgress, type ProgressSink } from '../events.js';
import { compatibilityProblems, type CompatProfile } from '../image/compat.js';
import { convert, convertIndex, planConversion, planIndex } from '../image/convert.js';
import type { ImageLayer, ResolvedImage } from '../image/image.js';
import { isForeignLayerMediaType } from '../image/manifest.js';
import type { GzipBackend } from '../layer/compress.js';
import { sha256Digest } from '../oci/digest.js';
import { parseManifestDocument, type ParsedManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import type { Descriptor, ImageFormat, Platform } from '../oci/types.js';
import type { ImageDestination, ImageSource } from './types.js';
import { writeImage, type WriteBlob, type WriteOptions, type WriteStats } from './write-image.js';
import { recompressToGzip } from './recompress.js';
import { NestedIndexError, resolveEntry, resolveImage, resolveTop, type ResolvedTop } from './resolve-image.js';

export type ForeignLayerPolicy = 'skip-upload' | 'copy';

export interface CopyOptions {
  /** Output format. Default: the source's when the destination accepts it, else the destination's first. */
  format?: ImageFormat;
  /** Platform to pick from an index. Default: this host's. Ignored with `all`. */
  platform?: Platform;
  /** Copy every image of an index (converting list ⇄ index). Default false. */
  all?: boolean;
  /** Foreign / non-distributable layers: 'skip-upload' (default) keeps them out of the destination. */
  foreignLayers?: ForeignLayerPolicy;
  /** Check the result against an importer before pushing; default 'ocp4.6' when `format` is 'docker', else none. */
  check?: CompatProfile | false;
  /** gzip plain-tar layers. Default: when the target is Docker by request, or the source is a docker-archive (unless the destination is one). */
  compressPlainLayers?: boolean;
  /** For layers this copy compresses. Default level 6, the fastest backend (compress.ts defaultGzipBackend). */
  gzip?: { level?: number; backend?: GzipBackend };
  /** Parallel blob transfers. Default 4. */
  concurrency?: number;
  /** Where recompressed layers are staged. Default os.tmpdir(). */
  tmpDir?: string;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  /** The source's top, when the caller resolved it already (resolveTop), so the source is asked once. */
  top?: ResolvedTop;
}

export interface CopyResult {
  /** Digest of the manifest (or index) written. */
  digest: string;
  mediaType: string;
  bytes: Buffer;
  format: ImageFormat;
  /** Layers recompressed on the way (new blob digest, same diffID). */
  recompressed: number;
  /** What the writer did with each blob (uploaded, skipped, mounted) and the bytes it uploaded. */
  written: WriteStats;
}

interface PlannedBlob {
  desc: Descriptor;
  open: (offset: number) => Promise<Readable> | Readable;
  /** Same bytes as in the source (so a same-registry mount can work). */
  fromSource: boolean;
  skip: boolean;
}

interface PlannedImage {
  blobs: PlannedBlob[];
  bytes: Buffer;
  mediaType: string;
  digest: string;
  parsed: ParsedManifest;
  changed: boolean;
}

function unsupported(message: string): S2IError {
  return new S2IError('ERR_FORMAT_UNSUPPORTED', message);
}

class Copier {
  private readonly onProgress: ProgressSink;
  private recompressed = 0;
  private tmp: string | undefined;

  constructor(
    private readonly src: ImageSource,
    private readonly dst: ImageDestination,
    private readonly opts: CopyOptions,
  ) {
    this.onProgress = opts.onProgress ?? noProgress;
  }

  private notice(message: string, level: 'info' | 'warn' = 'info'): void {
    this.onProgress({ type: 'log', level, message });
  }

  private targetFormat(srcFormat: ImageFormat): ImageFormat {
    const f = this.opts.format ?? (this.dst.accepts.includes(srcFormat) ? srcFormat : this.dst.accepts[0]!);
    if (!this.dst.accepts.includes(f)) {
      const other = this.dst.accepts[0]!;
      throw unsupported(`${this.dst.name} holds ${this.dst.accepts.join('/')} images only; use --format ${other}${f === 'docker' ? ' or a docker:// or docker-archive: destination' : ''}`);
    }
    return f;
  }

  private async tmpFile(): Promise<string> {
    this.tmp ??= await fs.mkdtemp(path.join(this.opts.tmpDir ?? os.tmpdir(), 'oci-s2i-copy-'));
    return path.join(this.tmp, `layer-${this.recompressed++}`);
  }

  async cleanup(): Promise<void> {
    if (this.tmp) await fs.rm(this.tmp, { recursive: true, force: true });
  }

  /** One pass: source blob → decompress → diffID → gzip → digest → temp file (recompress.ts). The diffID must match the config. */
  private async recompress(source: ImageLayer, mediaType: string, i: number): Promise<PlannedBlob> {
    const { descriptor: layer, diffID } = source;
    const file = await this.tmpFile();
    const input = await source.open();
    const out = createWriteStream(file, { flags: 'wx' });
    const r = await recompressToGzip(input, layer, diffID, out, {
      ...(this.opts.gzip?.level !== undefined ? { level: this.opts.gzip.level } : {}),
      ...(this.opts.gzip?.backend ? { backend: this.opts.gzip.backend } : {}),
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      what: `layer ${i} (${layer.digest}) of ${this.src.name}`,
    });
    const desc: Descriptor = { mediaType, digest: r.digest, size: r.size };
    this.notice(`layer ${i}: recompressed ${layer.mediaType.replace(/^.*\./, '')} → gzip (${layer.digest.slice(7, 19)} → ${desc.digest.slice(7, 19)}, diffID unchanged)`);
    return { desc, open: (offset) => createReadStream(file, { start: offset }), fromSource: false, skip: false };
  }

  private sourceBlob(desc: Descriptor, original: ImageLayer, skip: boolean): PlannedBlob {
    return {
      desc,
      open: (offset) => original.open(offset),
      fromSource: true,
      skip,
    };
  }

  /** The pure plan (image/convert.ts), then the layers it lists recompressed; the config was fetched by the resolve. Pushes nothing. */
  async planImage(image: ResolvedImage, format: ImageFormat): Promise<PlannedImage> {
    const layerList = image.layers();
    const configBytes = image.config.bytes;
    const compressPlain =
      this.opts.compressPlainLayers ??
      (this.dst.transport !== 'docker-archive' && (this.src.transport === 'docker-archive' || this.opts.format === 'docker'));
    const foreignPolicy = this.opts.foreignLayers ?? 'skip-upload';
    const source = { bytes: image.manifest.bytes, mediaType: image.manifest.mediaType, format: image.manifest.format, manifest: image.manifest.manifest };
    const conversion = planConversion(source, format, { plainLayers: compressPlain, name: this.src.name });
    const blobs: PlannedBlob[] = [{ desc: conversion.config, open: (offset) => Readable.from([configBytes.subarray(offset)]), fromSource: true, skip: false }];
    const gzipped = new Map<number, Descriptor>();
    for (const step of conversion.layers) {
      const layer = layerList[step.index]!;
      if (step.rewrite === false) {
        blobs.push(this.sourceBlob(step.to, layer, isForeignLayerMediaType(step.from.mediaType) && foreignPolicy === 'skip-upload'));
        continue;
      }
      const b = await this.recompress(layer, step.mediaType, step.index);
      gzipped.set(step.index, b.desc);
      blobs.push(b);
    }
    for (const n of conversion.notices) this.notice(n);
    const out = convert(source, conversion, gzipped);
    const parsed: ParsedManifest = out.changed
      ? parseManifestDocument(out.bytes, out.mediaType)
      : { kind: 'manifest', format: image.manifest.format, mediaType: image.manifest.mediaType, manifest: image.manifest.manifest };
    return { blobs, bytes: out.bytes, mediaType: out.mediaType, digest: out.digest, parsed, changed: out.changed };
  }

  private check(plan: PlannedImage): void {
    const profile = this.opts.check ?? (this.opts.format === 'docker' ? 'ocp4.6' : false);
    if (!profile) return;
    const problems = compatibilityProblems(profile, plan.parsed);
    if (problems.length === 0) return;
    throw new S2IError(
      'ERR_IMAGE_INCOMPATIBLE',
      `the converted image would not import into ${profile}, so nothing was pushed: ${problems.map((p) => `${p.problem} (${p.fix})`).join('; ')}`,
    );
  }

  private writable(blobs: PlannedBlob[]): WriteBlob[] {
    return blobs.map((b) => ({
      descriptor: b.desc,
      open: b.open,
      mountable: b.fromSource && (this.src.mountable?.(b.desc.digest) ?? true),
      ...(b.skip ? { skip: `foreign layer ${b.desc.digest} not copied (--foreign-layers skip-upload)` } : {}),
    }));
  }

  private writeOptions(): WriteOptions {
    return {
      ...(this.src.registry ? { mountFrom: this.src.registry } : {}),
      concurrency: this.opts.concurrency ?? 4,
      onProgress: this.onProgress,
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    };
  }

  async run(): Promise<CopyResult> {
    const top = this.opts.top ?? (await resolveTop(this.src));
    const parsed = top.parsed;
    const format = this.targetFormat(parsed.format);
    if (parsed.kind === 'index' && this.opts.all) return this.copyIndex(top.bytes, parsed, format);
    const signal = this.opts.signal ? { signal: this.opts.signal } : {};
    const image = await resolveImage(this.src, { top, ...(this.opts.platform ? { platform: this.opts.platform } : {}), ...signal });
    if (image.index) {
      const { chosen } = image.index;
      this.notice(`picked ${formatPlatform(chosen.platform ?? this.opts.platform ?? hostPlatform())} (${chosen.digest}) from the ${parsed.mediaType === MediaType.dockerList ? 'manifest list' : 'index'}`, 'info');
    }
    const plan = await this.planImage(image, format);
    this.check(plan);
    const written = await writeImage(this.dst, { blobs: this.writable(plan.blobs), manifest: plan }, this.writeOptions());
    return { digest: written.digest, mediaType: plan.mediaType, bytes: plan.bytes, format, recompressed: plan.blobs.filter((b) => !b.fromSource).length, written };
  }

  private async copyIndex(bytes: Buffer, parsed: ParsedManifest & { kind: 'index' }, format: ImageFormat): Promise<CopyResult> {
    if (!this.dst.acceptsIndex) throw unsupported(`${this.dst.name} holds single images, not an index: copy one platform with --platform instead of --all`);
    const { entries, notices } = planIndex(parsed.index, format);
    for (const n of notices) this.notice(n);
    const plans: Array<{ entry: Descriptor; plan: PlannedImage }> = [];
    for (const entry of entries) {
      const child = await resolveEntry(this.src, entry, this.opts.signal ? { signal: this.opts.signal } : {});
      const plan = await this.planImage(child, format);
      this.check(plan);
      plans.push({ entry, plan });
    }
    if (format === 'docker' && (this.opts.check ?? 'ocp4.6')) {
      this.notice('a manifest list does not import into OpenShift 4.6; copy one platform with --platform for it', 'warn');
    }
    const out = convertIndex({ bytes, mediaType: parsed.mediaType, format: parsed.format, index: parsed.index }, format, plans.map(({ entry, plan }) => ({ entry, manifest: plan })));
    for (const n of out.notices) this.notice(n);
    const mediaType = out.mediaType;
    const written = await writeImage(
      this.dst,
      { blobs: plans.flatMap(({ plan }) => this.writable(plan.blobs)), children: plans.map(({ plan }) => plan), manifest: { bytes: out.bytes, mediaType, digest: sha256Digest(out.bytes) } },
      this.writeOptions(),
    );
    const recompressed = plans.reduce((n, p) => n + p.plan.blobs.filter((b) => !b.fromSource).length, 0);
    return { digest: written.digest, mediaType, bytes: out.bytes, format, recompressed, written };
  }
}

/** Copies the image at `src` to `dst` (see CopyOptions for the defaults); returns the written manifest's digest and bytes. */
export async function copyImage(src: ImageSource, dst: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  const c = new Copier(src, dst, opts);
  try {
    return await c.run();
  } catch (e) {
    // copy has always called an index inside an index a format it does not support.
    if (e instanceof NestedIndexError) throw unsupported(e.message);
    throw e;
  } finally {
    await c.cleanup();
  }
}
