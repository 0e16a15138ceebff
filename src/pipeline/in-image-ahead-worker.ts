// The worker thread of in-image-ahead.ts: from the snapshot taken before `assemble`, the SBOM's candidate files
// whose directories were still in the image's layers (layer/snapshot-lower.ts `lowerChosenFiles`), and what each
// gives the catalog (sbom/layer-catalog.ts `catalogFilesAhead`), at the lowest CPU priority. Linux keeps a nice
// value per thread: setpriority(2) here leaves the build's other threads and its children as they are.
import { setPriority } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Snapshot, type SnapshotData } from '../layer/snapshot.js';
import { lowerChosenFiles } from '../layer/snapshot-lower.js';
import { catalogCandidate, catalogFilesAhead, type KnownFile } from '../sbom/layer-catalog.js';

/** What in-image-ahead.ts hands over and gets back. */
export interface AheadJob {
  snapshot: SnapshotData;
}
export interface AheadResult {
  index: Int32Array;
  path: string[];
  found: Array<[string, KnownFile]>;
}

async function run(port: MessagePort): Promise<void> {
  try {
    setPriority(19);
  } catch {
    // A nice value that cannot be set leaves this thread as it is.
  }
  const { snapshot } = workerData as AheadJob;
  const snap = Snapshot.of(snapshot, catalogCandidate);
  const chosen = lowerChosenFiles(snap);
  const found = await catalogFilesAhead(snap.root, chosen.path, snap.exclude);
  port.postMessage({ index: chosen.index, path: chosen.path, found: [...found] } satisfies AheadResult);
}

// (No top-level await: the CLI bundle's copy of this file is a CommonJS script.) A failure is an unhandled
// rejection, which ends the worker with an 'error' event: the build takes it for no result.
if (parentPort) void run(parentPort);
