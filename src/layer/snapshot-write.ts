// The layer of a snapshot diff (snapshot-diff.ts): its changes written by the same writer as an overlay upper
// dir's (write.ts: tar → diffID digest → compressor → blob digest → file, in one pass), in the diff's order,
// with the same header rules; removed entries become `.wh.NAME` whiteouts.
//
// Owners: in a pod that runs as a random UID (OpenShift's restricted SCC: uid 1000680000, gid 0), what
// `assemble` wrote belongs to that UID, which means nothing in the image. With `owner`, entries owned by the
// process's uid are recorded as the builder's USER, as a sandbox build (which runs assemble as that USER)
// would have recorded them; everything else keeps its owner.
import type { WalkNode } from './walk.js';
import type { SnapshotDiff } from './snapshot-diff.js';
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
  return writeLayerFile(diff.root, file, { dropXattrs: DROPPED_XATTRS, ...rest, overlayWhiteouts: false, nodes: nodes(diff, owner) });
}

function* nodes(diff: SnapshotDiff, owner: OwnerRemap | undefined): Generator<WalkNode> {
  for (const { node } of diff.changes) {
    if (!owner || node.whiteout === true || node.st.uid !== owner.fromUid) yield node;
    else yield { ...node, st: { ...node.st, uid: owner.uid, gid: node.st.gid === owner.fromGid ? owner.gid : node.st.gid } };
  }
}
