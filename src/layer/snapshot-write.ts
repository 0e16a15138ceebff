// The layer of a snapshot diff (snapshot-diff.ts): its changes written by the same writer as an overlay upper
// dir's (write.ts: tar → diffID digest → compressor → blob digest → file, in one pass), in the diff's order,
// with the same header rules; removed entries become `.wh.NAME` whiteouts.
//
// Owners: in a pod that runs as a random UID (OpenShift's restricted SCC: uid 1000680000, gid 0), what
// `assemble` wrote belongs to that UID, which means nothing in the image. With `owner`, entries owned by the
// process's uid are recorded as the builder's USER, as a sandbox build (which runs assemble as that USER)
// would have recorded them; everything else keeps its owner.
import { Readable } from 'node:stream';
import type { WalkNode } from './walk.js';
import { diffSnapshots, type DiffOptions, type SnapshotChange, type SnapshotDiff } from './snapshot-diff.js';
import type { Snapshot } from './snapshot.js';
import { writeLayerFile, type LayerResult, type WriteLayerOptions } from './write.js';

export interface OwnerRemap {
  /** The owner that is remapped: the process's uid (`process.getuid()`). Never 0: files of the image owned by
   *  root would be remapped too (a root process can run assemble as the USER instead). */
  fromUid: number;
  /** The group that is remapped on those entries: the process's gid (0 on OpenShift). */
  fromGid: number;
  /** Recorded instead: the builder's USER. */
  uid: number;
  gid: number;
}

export interface SnapshotLayerOptions extends Omit<WriteLayerOptions, 'nodes' | 'exclude' | 'overlayWhiteouts'> {
  owner?: OwnerRemap;
  /** Default `security.selinux`: the label the pod's files carry on an SELinux host (OpenShift) is the
   *  container's, not the image's (moby and containers/storage record only `security.capability`). */
  dropXattrs?: readonly string[];
}

const DROPPED_XATTRS = ['security.selinux'];

/** Writes `diff` as a layer blob to `file` (atomically, as `writeLayerFile`). */
export async function writeSnapshotLayer(diff: SnapshotDiff, file: string, opts: SnapshotLayerOptions = {}): Promise<LayerResult> {
  const { owner, ...rest } = opts;
  return writeLayerFile(diff.root, file, { dropXattrs: DROPPED_XATTRS, ...rest, overlayWhiteouts: false, nodes: diff.changes.map((c) => remapped(c.node, owner)) });
}

/**
 * The diff of the tree against `before` and its layer at once: the writer takes each change as the walk finds it,
 * so the walk (directory listings on the pool) and the tar, its digests and compression (other pool threads) run
 * side by side instead of one after the other. The same layer as `writeSnapshotLayer(await diffSnapshots(…))`.
 * A failed walk fails with its own error (and the writer leaves no file); a failed write stops the walk.
 */
export async function writeSnapshotLayerWhileDiffing(
  before: Snapshot,
  file: string,
  diffOpts: Omit<DiffOptions, 'onChange'>,
  opts: SnapshotLayerOptions = {},
): Promise<{ diff: SnapshotDiff; layer: LayerResult }> {
  const { owner, ...rest } = opts;
  const stop = new AbortController();
  const signal = diffOpts.signal ? AbortSignal.any([diffOpts.signal, stop.signal]) : stop.signal;
  /** Which side failed first: the other one's failure follows from it. */
  let first: 'diff' | 'write' | undefined;
  // An object-mode stream as the queue between the two: the walk pushes, the tar writer iterates it.
  const queue = new Readable({ objectMode: true, highWaterMark: 1024, read() {} });
  // A walk that fails before the writer iterates destroys the queue with its error: the iteration throws it then.
  queue.on('error', () => undefined);
  const diffing = diffSnapshots(before, { ...diffOpts, signal, onChange: (c: SnapshotChange) => void queue.push(remapped(c.node, owner)) }).then(
    (diff) => {
      queue.push(null);
      return diff;
    },
    (e: unknown) => {
      first ??= 'diff';
      queue.destroy(e as Error);
      throw e;
    },
  );
  const root = diffOpts.afterRoot ?? before.root;
  const writing = writeLayerFile(root, file, { dropXattrs: DROPPED_XATTRS, ...rest, overlayWhiteouts: false, nodes: queue as AsyncIterable<WalkNode> }).catch((e: unknown) => {
    first ??= 'write';
    stop.abort(e);
    throw e;
  });
  const [d, w] = await Promise.allSettled([diffing, writing]);
  if (d.status === 'rejected' && (first === 'diff' || w.status === 'fulfilled')) throw d.reason;
  if (w.status === 'rejected') throw w.reason;
  return { diff: (d as PromiseFulfilledResult<SnapshotDiff>).value, layer: (w as PromiseFulfilledResult<LayerResult>).value };
}

/** `node`, recorded as the builder's USER when `owner` says its owner is the pod's. */
function remapped(node: WalkNode, owner: OwnerRemap | undefined): WalkNode {
  if (!owner || node.whiteout === true || node.st.uid !== owner.fromUid) return node;
  return { ...node, st: { ...node.st, uid: owner.uid, gid: node.st.gid === owner.fromGid ? owner.gid : node.st.gid } };
}
