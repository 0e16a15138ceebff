// The run: sources planned into images (sources.ts), each given its destination name (names.ts), then at most
// `jobs` images at once, each: its top read; skipped unread when the destination has that very manifest under
// its name (a run after a cut redoes only what is missing); else copied by copyImage (transport/copy.ts: every
// platform of an index as it is, or one platform; the one writer skips the blobs the destination has and writes
// the tag last); then what refers to it (companions.ts). One image failing does not stop the others unless
// `keepGoing` is false; an interrupt stops all of them, and the target puts back what no finished image needs.
import { S2IError } from '../errors.js';
import { noProgress, type ProgressSink } from '../events.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { selectPlatform } from '../oci/platform.js';
import type { ImageFormat, Platform } from '../oci/types.js';
import { mapLimit } from '../registry/parallel.js';
import { copyImage } from '../transport/copy.js';
import { resolveTop, type ResolvedTop } from '../transport/resolve-image.js';
import type { ImageSource } from '../transport/types.js';
import { copyCompanions } from './companions.js';
import { destinationName, formatDestination, type NamingOptions, type SyncDestination } from './names.js';
import { SyncPlanner, type ClientSettings, type PlannedImage, type SyncSource } from './sources.js';
import { checkDestination, openTarget, type SyncTarget } from './targets.js';

export interface SyncRequest {
  sources: SyncSource[];
  destination: SyncDestination;
  /** How to reach a registry destination. */
  destinationSettings: ClientSettings;
  naming?: NamingOptions;
}

export interface SyncOptions {
  /** The one platform to copy from an index. Default: every platform, the index as it is. */
  platform?: Platform;
  /** Convert to this manifest format (copy's --format). Default: keep the source's (and its digests). */
  format?: ImageFormat;
  /** Copy signatures, attestations and other referrers with each image. Default true. */
  referrers?: boolean;
  /** Go on with the other images after one fails. Default true. */
  keepGoing?: boolean;
  /** Images at once. Default 2. */
  jobs?: number;
  /** Blobs at once per image. Default 4. */
  blobJobs?: number;
  /** Plan only: list what would be copied where. */
  dryRun?: boolean;
  /** Where archives are unpacked and packed. Default os.tmpdir(). */
  tmpDir?: string;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /**
   * Asked of each image once its top is read, before anything is written for it (the signature policy, which
   * cli/ applies); a throw fails that image.
   */
  checkSource?: (source: { name: Reference; src: ImageSource; manifestDigest: string }) => Promise<void>;
  /** Told when an image starts and when it is done (or planned, with dryRun). */
  onImage?: (e: ImageEvent) => void;
}

export type ImageStatus = 'copied' | 'skipped' | 'failed' | 'planned';

export interface ImageResult {
  source: string;
  /** Where it went (a location string); '' when the source gave no image. */
  destination: string;
  status: ImageStatus;
  /** The digest of what is under the destination name now. */
  digest?: string;
  blobs: { uploaded: number; present: number; mounted: number };
  /** Bytes uploaded for the image and its companions. */
  bytesSent: number;
  /** Referrers and cosign tags written with it. */
  companions: number;
  error?: unknown;
  ms: number;
}

export type ImageEvent = { phase: 'start'; index: number; total: number; source: string; destination: string } | ({ phase: 'end'; index: number; total: number } & ImageResult);

export interface SyncSummary {
  /** Problems with the sources first (a repository that could not be listed), then the images in the order they ended. */
  images: ImageResult[];
  copied: number;
  skipped: number;
  failed: number;
  bytesSent: number;
  ms: number;
}

/** The digest the destination gets under the name: the top's, or the chosen platform's. Undefined: a conversion decides. */
function expectedDigest(top: ResolvedTop, opts: SyncOptions): string | undefined {
  if (opts.format !== undefined) return undefined;
  if (top.parsed.kind === 'manifest' || opts.platform === undefined) return top.descriptor.digest;
  return selectPlatform(top.parsed.index, opts.platform).digest;
}

function emptyResult(source: string, destination: string): ImageResult {
  return { source, destination, status: 'failed', blobs: { uploaded: 0, present: 0, mounted: 0 }, bytesSent: 0, companions: 0, ms: 0 };
}

class SyncRun {
  private readonly onProgress: ProgressSink;

  constructor(
    private readonly request: SyncRequest,
    private readonly opts: SyncOptions,
    private readonly target: SyncTarget,
    private readonly signal: AbortSignal,
  ) {
    this.onProgress = opts.onProgress ?? noProgress;
  }

  private notice(message: string): void {
    this.onProgress({ type: 'log', level: 'info', message });
  }

  async image(img: PlannedImage, at: Reference): Promise<ImageResult> {
    const started = Date.now();
    const r = emptyResult(img.source, formatDestination(this.request.destination, at));
    const signal = { signal: this.signal };
    let src: ImageSource | undefined;
    try {
      src = await img.repository.open(img.name);
      const top = await resolveTop(src);
      await this.opts.checkSource?.({ name: img.name, src, manifestDigest: top.descriptor.digest });
      const expected = expectedDigest(top, this.opts);
      const now = expected === undefined ? undefined : await this.target.current(at);
      if (now !== undefined && now.descriptor.digest === expected) {
        r.status = 'skipped';
        r.digest = expected;
      } else {
        const dst = await this.target.open(at);
        try {
          const copied = await copyImage(src, dst, {
            top,
            ...(this.opts.platform ? { platform: this.opts.platform } : { all: true }),
            ...(this.opts.format ? { format: this.opts.format } : {}),
            concurrency: this.opts.blobJobs ?? 4,
            onProgress: this.onProgress,
            ...signal,
          });
          r.status = 'copied';
          r.digest = copied.digest;
          r.blobs = { uploaded: copied.written.uploaded.length, present: copied.written.skipped.length, mounted: copied.written.mounted.length };
          r.bytesSent = copied.written.uploadedBytes;
        } finally {
          await dst.close();
        }
      }
      if (this.opts.referrers ?? true) await this.companions(img, top, r);
    } catch (e) {
      r.status = 'failed';
      r.error = e;
    } finally {
      await src?.close().catch(() => undefined);
      r.ms = Date.now() - started;
    }
    return r;
  }

  /** Signatures and referrers name digests: they go along only with an image whose digests were kept. */
  private async companions(img: PlannedImage, top: ResolvedTop, r: ImageResult): Promise<void> {
    const kept = r.digest !== undefined && r.digest === (expectedDigest(top, { ...this.opts, format: undefined }) ?? '');
    if (!kept) {
      this.notice(`${img.source}: signatures and referrers not copied: the copy has a new digest (${r.digest})`);
      return;
    }
    const children = top.parsed.kind === 'index' && this.opts.platform === undefined ? top.parsed.index.manifests.map((d) => d.digest) : [];
    const { destination, naming } = this.request;
    const at = (tag: string) => destinationName({ registry: img.name.registry, repository: img.name.repository, tag }, destination, naming ?? {}, true);
    const c = await copyCompanions(img.repository, img.name, [r.digest!, ...children], {
      target: this.target,
      at,
      concurrency: this.opts.blobJobs ?? 4,
      signal: this.signal,
      onProgress: this.onProgress,
    });
    r.companions = c.copied;
    r.bytesSent += c.uploadedBytes;
  }
}

/** The destination name of every image; two images for one name is a usage error (before anything is copied). */
function place(images: readonly PlannedImage[], request: SyncRequest): Array<{ img: PlannedImage; at: Reference }> {
  const byName = new Map<string, PlannedImage>();
  return images.map((img) => {
    const at = destinationName(img.name, request.destination, request.naming);
    const key = formatReference(at);
    const other = byName.get(key);
    if (other) {
      throw new S2IError('ERR_USAGE', `${other.source} and ${img.source} would both be written to ${formatDestination(request.destination, at)}; sync them with --scoped to keep their registries apart`, { step: 'usage' });
    }
    byName.set(key, img);
    return { img, at };
  });
}

function summary(images: ImageResult[], started: number): SyncSummary {
  const count = (s: ImageStatus) => images.filter((i) => i.status === s).length;
  return {
    images,
    copied: count('copied'),
    skipped: count('skipped'),
    failed: count('failed'),
    bytesSent: images.reduce((n, i) => n + i.bytesSent, 0),
    ms: Date.now() - started,
  };
}

/**
 * Syncs the images `request` names to its destination (see the top of this file). Resolves with what happened to
 * each; rejects when interrupted (ERR_INTERRUPTED), with the first failure when `keepGoing` is false, and with a
 * usage error (exit 64) for a destination that cannot be one or two images bound for one name.
 */
export async function syncImages(request: SyncRequest, opts: SyncOptions = {}): Promise<SyncSummary> {
  const started = Date.now();
  const keepGoing = opts.keepGoing ?? true;
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const planner = new SyncPlanner({ onProgress: opts.onProgress ?? noProgress, signal, ...(opts.tmpDir ? { tmpDir: opts.tmpDir } : {}) });
  const results: ImageResult[] = [];
  let firstFailure: { error: unknown } | undefined;
  const interrupted = (): S2IError => {
    const s = summary(results, started);
    return new S2IError('ERR_INTERRUPTED', `sync interrupted (${s.copied} copied, ${s.skipped} up to date, ${s.failed} failed before the interrupt); run it again to go on where it stopped`);
  };
  try {
    await checkDestination(request.destination);
    const plan = await planner.plan(request.sources).catch((e: unknown) => Promise.reject(opts.signal?.aborted ? interrupted() : e));
    for (const p of plan.problems) {
      if (!keepGoing) throw p.error;
      results.push({ ...emptyResult(p.source, ''), error: p.error });
    }
    const placed = place(plan.images, request);
    const total = placed.length;
    if (opts.dryRun) {
      placed.forEach(({ img, at }, index) => {
        const r: ImageResult = { ...emptyResult(img.source, formatDestination(request.destination, at)), status: 'planned' };
        results.push(r);
        opts.onImage?.({ phase: 'end', index, total, ...r });
      });
      return summary(results, started);
    }
    const target = await openTarget(request.destination, planner.client(request.destinationSettings), opts.tmpDir);
    const run = new SyncRun(request, opts, target, signal);
    let complete = false;
    try {
      await mapLimit(
        placed,
        opts.jobs ?? 2,
        async ({ img, at }, index) => {
          opts.onImage?.({ phase: 'start', index, total, source: img.source, destination: formatDestination(request.destination, at) });
          const r = await run.image(img, at);
          if (signal.aborted && r.status === 'failed') return; // stopped by the interrupt or by another image's failure
          results.push(r);
          opts.onImage?.({ phase: 'end', index, total, ...r });
          if (r.status === 'failed' && !keepGoing) {
            // The images still running stop on a reason of their own: were it this error, whatever step they were in
            // (a pull, say) would tag it on the way out and change the exit code this run ends with.
            firstFailure ??= { error: r.error };
            stop.abort(new S2IError('ERR_INTERRUPTED', `stopped: ${r.source} failed and --keep-going=false ends the run`));
            throw r.error;
          }
        },
        { signal },
      );
      signal.throwIfAborted(); // the last images may have ended by the interrupt, leaving nothing to start
      complete = true;
    } finally {
      await target.close(complete && !signal.aborted);
    }
    return summary(results, started);
  } catch (e) {
    if (opts.signal?.aborted) throw interrupted();
    throw firstFailure ? firstFailure.error : e;
  } finally {
    await planner.close();
  }
}
