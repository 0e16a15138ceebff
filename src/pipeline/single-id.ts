// The single-ID user namespace (rootless without a /etc/subuid range, namespace.ts 'userns-single'): one ID
// exists, 0, which is the caller on the host. chown to the builder's USER (1001) is EINVAL there, and runc cannot
// switch to it. So assemble runs as 0 (the one mapped ID) and the new layer records what the build created as the
// USER, as a build with a range (where assemble runs as the USER) would have recorded it. What only changed (a
// file of a lower layer, copied up) keeps the owner it shows, which in this namespace is already 0 or the
// overflow ID: its real owner was lost when the layer was unpacked (the unpack warns about it).
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SnapshotDiff } from '../layer/snapshot-diff.js';
import { walk, type WalkNode } from '../layer/walk.js';
import { isWhiteoutDevice } from '../layer/walk-overlay.js';
import type { ResolvedUser } from '../s2i/user.js';

/** The one ID assemble can run as, and the owner the layer records for what the build created. */
export interface SingleIdUser {
  runAs: ResolvedUser;
  recordAs: { uid: number; gid: number };
}

/** In a single-ID namespace, a USER other than 0:0 runs as 0:0 and is recorded as itself; otherwise undefined. */
export function singleIdUser(user: ResolvedUser, singleId: boolean): SingleIdUser | undefined {
  if (!singleId || (user.uid === 0 && user.gid === 0)) return undefined;
  return { runAs: { uid: 0, gid: 0 }, recordAs: { uid: user.uid, gid: user.gid } };
}

/** The one warning line of a single-ID build. */
export function singleIdWarning(s: SingleIdUser): string {
  const host = hostIdOfRoot();
  return (
    `single-ID user namespace: assemble runs as uid 0 (${host === undefined ? 'your uid' : `your uid ${host}`}, the only ID mapped) instead of the builder's USER ` +
    `${s.recordAs.uid}:${s.recordAs.gid}; the files it creates are recorded as ${s.recordAs.uid}:${s.recordAs.gid} in the layer`
  );
}

/** The host uid this namespace's 0 is (/proc/self/uid_map: `0 HOST 1`). */
function hostIdOfRoot(): number | undefined {
  try {
    const [inside, outside] = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return inside === '0' && outside !== undefined ? Number(outside) : undefined;
  } catch {
    return undefined;
  }
}

function existsIn(lowers: readonly string[], rel: Buffer): boolean {
  const r = rel.toString('utf8');
  for (const l of lowers) {
    try {
      lstatSync(path.join(l, r));
      return true;
    } catch {
      /* not in this layer */
    }
  }
  return false;
}

/** The overlay upper dir's nodes, entries no lower dir has (the build created them) recorded as `owner`. */
export function* upperNodesOwnedBy(upper: string, lowers: readonly string[], owner: { uid: number; gid: number }): Generator<WalkNode> {
  for (const node of walk(upper)) {
    if (isWhiteoutDevice(node) || existsIn(lowers, node.rel)) yield node;
    else yield { ...node, st: { ...node.st, uid: owner.uid, gid: owner.gid } };
  }
}

/** The snapshot diff with its added entries recorded as `owner`. */
export function diffOwnedBy(diff: SnapshotDiff, owner: { uid: number; gid: number }): SnapshotDiff {
  return {
    ...diff,
    changes: diff.changes.map((c) => (c.kind === 'added' ? { ...c, node: { ...c.node, st: { ...c.node.st, uid: owner.uid, gid: owner.gid } } } : c)),
  };
}
