// An in-image build's SBOM work on the builder's own files, done while `assemble` runs: which of the files the
// snapshot saw are SBOM candidates below directories still in the image's layers, and what each gives the
// catalog, by a worker thread at the lowest CPU priority (in-image-ahead-worker.ts). A Go build keeps both cores
// busy only part of the time; the same work on the main thread made `assemble` slower by as much as it took
// (≈ 0.15 s for the Debian + Go builder of bench/README.md). After the diff, the files below directories
// `assemble` left untouched are those same files (layer/snapshot-lower.ts), so the SBOM takes what they gave.
import { Worker } from 'node:worker_threads';
import type { Snapshot } from '../layer/snapshot.js';
import type { LowerChosen } from '../layer/snapshot-lower.js';
import type { FileFindings } from '../sbom/layer-catalog.js';
import type { AheadJob, AheadResult } from './in-image-ahead-worker.js';

export interface Ahead {
  chosen: LowerChosen;
  found: Map<string, FileFindings>;
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
  /** Settles once the worker has given its result or ended (tests wait for it; a build never does). */
  settled: Promise<void>;
}

/**
 * Starts the worker on `snap` (taken with SnapshotOptions.choose on an overlay root). No result (`take`) when it
 * cannot be had: no worker script, a failure, `signal`, or not finished when asked. The worker never keeps the
 * process alive.
 */
export function startAhead(snap: Snapshot, signal?: AbortSignal): AheadRun {
  let result: Ahead | undefined;
  const none: AheadRun = { take: () => undefined, settled: Promise.resolve() };
  if (!snap.choosing || signal?.aborted) return none;
  let worker: Worker;
  try {
    worker = new Worker(workerScript(), { workerData: { snapshot: snap.data() } satisfies AheadJob, stdout: true, stderr: true });
  } catch {
    return none;
  }
  worker.unref();
  const stop = (): void => void worker.terminate();
  signal?.addEventListener('abort', stop, { once: true });
  const settled = new Promise<void>((resolve) => {
    worker.once('message', (r: AheadResult) => {
      result = { chosen: { index: r.index, path: r.path }, found: new Map(r.found) };
      resolve();
    });
    worker.once('error', () => resolve());
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
  };
}
