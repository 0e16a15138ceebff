// An in-image build's SBOM work on the builder's own files, done while `assemble` runs: which of the files the
// snapshot saw are SBOM candidates below directories still in the image's layers, and what each gives the
// catalog, by a worker thread at the lowest CPU priority (in-image-ahead-worker.ts). A Go build keeps both cores
// busy only part of the time; the same work on the main thread made `assemble` slower by as much as it took
// (≈ 0.15 s for the Debian + Go builder of bench/README.md). After the diff, the files below directories
// `assemble` left untouched are those same files (layer/snapshot-lower.ts), so the SBOM takes what they gave.
import { Worker } from 'node:worker_threads';
import type { Snapshot } from '../layer/snapshot.js';
import type { LowerChosen } from '../layer/snapshot-lower.js';
import type { KnownFile } from '../sbom/layer-catalog.js';
import type { AheadJob, AheadResult } from './in-image-ahead-worker.js';

export interface Ahead {
  chosen: LowerChosen;
  found: Map<string, KnownFile>;
}

/** The worker's script: beside the CLI bundle (scripts/bundle.mjs builds both), or the tsc output. */
function workerScript(): URL {
  return import.meta.url.endsWith('.cjs') ? new URL('./in-image-ahead.cjs', import.meta.url) : new URL('./in-image-ahead-worker.js', import.meta.url);
}

/** A worker started by `startAhead`. */
export interface AheadRun {
  /** Its result if it has come, else undefined: the worker is stopped then (at the lowest priority it could still
   *  be waiting for a core), and the caller does the work itself. */
  take(): Ahead | undefined;
  /** Settles once the worker has ended, with or without a result (tests wait for it; a build never does). */
  settled: Promise<void>;
  /** What the worker wrote to stderr (its first 4 KiB): nothing, when it works. */
  stderr(): string;
}

/**
 * Starts the worker on `snap` (taken with SnapshotOptions.choose on an overlay root). No result (`take`) when it
 * cannot be had: no worker script, a failure, `signal`, or not finished when asked. The worker never keeps the
 * process alive.
 */
export function startAhead(snap: Snapshot, signal?: AbortSignal): AheadRun {
  let result: Ahead | undefined;
  const none: AheadRun = { take: () => undefined, settled: Promise.resolve(), stderr: () => '' };
  if (!snap.choosing || signal?.aborted) return none;
  let worker: Worker;
  try {
    // trackUnmanagedFds off: the catalog opens files through the native addon (openat), so Node's tracking took
    // every close for a stray one and emitted a warning with a stack trace for each (≈ 20 ms for the Go builder).
    worker = new Worker(workerScript(), { workerData: { snapshot: snap.data() } satisfies AheadJob, stdout: true, stderr: true, trackUnmanagedFds: false });
  } catch {
    return none;
  }
  worker.unref();
  let stderr = '';
  worker.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 4096) stderr = (stderr + s).slice(0, 4096);
  });
  const stop = (): void => void worker.terminate();
  signal?.addEventListener('abort', stop, { once: true });
  const settled = new Promise<void>((resolve) => {
    worker.once('message', (r: AheadResult) => {
      result = { chosen: { index: r.index, path: r.path }, found: new Map(r.found) };
    });
    // A failure is no result; 'exit' follows it.
    worker.on('error', () => {});
    worker.once('exit', () => {
      signal?.removeEventListener('abort', stop);
      resolve();
    });
  });
  return {
    take() {
      if (!result) stop();
      return result;
    },
    settled,
    stderr: () => stderr,
  };
}
