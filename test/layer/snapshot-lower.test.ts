// snapshot-lower.ts: which roots count as a kernel overlay's, and on a real overlay mount (as root), the walk
// after a change that skips the directories still in the lower layer against a walk of every directory: the
// same changes, the same files listed for the SBOM (those below skipped directories chosen by the snapshot, put
// in place by withLowerFiles), and the same layer as the overlay's upper dir.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots, type SnapshotDiff } from '../../src/layer/snapshot-diff.js';
import { isOverlayRoot, overlayUpperBirthMs, withLowerFiles } from '../../src/layer/snapshot-lower.js';
import { mountOverlay, snapshotAndUpperListings } from './snapshot-fixture.js';
import { native } from '../../src/sys/native.js';
import type { Test } from 'tap';

const isRoot = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-snapshot-lower-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const line = (id: number, root: string, mp: string, fstype: string): string =>
  `${id} 1 0:${id} ${root} ${mp} rw,relatime shared:1 - ${fstype} ${fstype} rw,lowerdir=/l,upperdir=/u,workdir=/w`;

t.test('isOverlayRoot reads the last mount at the root from mountinfo', async (t) => {
  t.ok(isOverlayRoot('/', line(80, '/', '/', 'overlay')), 'a container root');
  t.notOk(isOverlayRoot('/', line(80, '/', '/', 'fuse.fuse-overlayfs')), 'fuse-overlayfs: its ctimes are its own');
  t.notOk(isOverlayRoot('/', line(80, '/sub', '/', 'overlay')), 'a bind mount of a directory inside an overlay');
  t.notOk(isOverlayRoot('/', [line(80, '/', '/', 'overlay'), line(81, '/', '/', 'tmpfs')].join('\n')), 'a later mount over it wins');
  t.ok(isOverlayRoot('/', [line(80, '/', '/', 'ext4'), line(81, '/', '/', 'overlay')].join('\n')), 'the last of two');
  t.notOk(isOverlayRoot('/', line(80, '/', '/proc', 'overlay')), 'a mount elsewhere');
  t.ok(isOverlayRoot('/a b', line(80, '/', '/a\\040b', 'overlay')), 'octal escapes in the mount point');
  t.notOk(isOverlayRoot('/', ''), 'no mountinfo');
  t.notOk(isOverlayRoot('/', '80 1 0:80 / / rw overlay overlay rw'), 'no separator');
  t.equal(overlayUpperBirthMs(tmp, line(80, '/', tmp, 'ext4')), -Infinity, 'not an overlay: nothing is lower-only');
});

/** A tree of directories `d0..d3`, each with `e0..e3`, each with a plain file, an executable and a lock file. */
function makeTree(root: string): void {
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const d = path.join(root, `d${i}`, `e${j}`);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'plain'), 'text');
      fs.writeFileSync(path.join(d, 'tool'), Buffer.alloc(100, 1), { mode: 0o755 });
      fs.writeFileSync(path.join(d, 'package-lock.json'), '{}');
    }
  }
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc', 'hosts'), 'h');
}

const choose = (name: string, mode: number, size: number): boolean => name === 'package-lock.json' || ((mode & 0o111) !== 0 && size >= 64);
const summary = (d: SnapshotDiff): string[] =>
  d.changes.map((c) => `${c.kind} ${c.node.rel.toString()} ${c.node.st.type} ${c.node.st.mode.toString(8)} ${c.node.st.uid}:${c.node.st.gid} ${c.node.st.size}`);

let n = 0;
/** Mounts a fresh overlay of `makeTree` (upper made after it, as a container's), runs `early` (before the
 *  snapshot: what a runtime copies up), snapshots, runs `change` while the lower files are listed, and compares;
 *  `asUpper`: the layer must list as the upper dir does (not with `early` changes, which the upper holds too). */
async function check(t: Test, early: (p: (s: string) => string) => void, change: (p: (s: string) => string) => void, untouched: number, asUpper: boolean): Promise<void> {
  const dir = path.join(tmp, `case-${n++}`);
  const ovl = await mountOverlay(t, dir, makeTree);
  const merged = ovl.merged;
  const p = (s: string): string => path.join(merged, s);
  early(p);
  const before = await takeSnapshot(merged, { choose });
  const full = await takeSnapshot(merged, { skipLower: false, choose });
  t.equal(full.choosing, false, 'nothing chosen where nothing is lower-only: the diff lists every file itself');
  t.ok(before.lowerBefore > -Infinity, 'the mount is taken for an overlay root');
  change(p);
  const diff = await diffSnapshots(before, { listFiles: choose, lowerFilesLater: true });
  const walked = await diffSnapshots(full, { listFiles: choose });
  t.same(summary(diff), summary(walked), 'the same changes as a walk of every directory');
  t.equal(diff.lowerDirs.length, diff.untouched, 'each directory not walked has its place in the file list');
  t.same(withLowerFiles(diff, before), walked.files, 'the same files for the SBOM, in the same order');
  t.equal(diff.untouched, untouched, 'directories not walked');
  t.equal(walked.untouched, 0);
  // Without the listing of lower files, a diff that lists files walks everything.
  t.equal((await diffSnapshots(before, { listFiles: choose })).untouched, 0, 'listFiles without lowerFilesLater walks every directory');
  if (!asUpper) return;
  const [got, upper] = await snapshotAndUpperListings(diff, dir, ovl);
  t.equal(got, upper, 'same listing as the overlay upper dir');
}

const none = (): void => undefined;
const cases: Array<{ name: string; early?: (p: (s: string) => string) => void; change: (p: (s: string) => string) => void; untouched: number; asUpper?: boolean }> = [
  { name: 'a file rewritten two levels down', change: (p) => fs.writeFileSync(p('d1/e2/plain'), 'new text'), untouched: 7 },
  { name: 'chmod deep', change: (p) => fs.chmodSync(p('d2/e0/tool'), 0o700), untouched: 7 },
  { name: 'an xattr set deep', change: (p) => native().lsetxattr(p('d3/e3/plain'), 'user.k', Buffer.from('v')), untouched: 7 },
  { name: 'utimes back to an old date', change: (p) => fs.utimesSync(p('d0/e1/plain'), 1_000_000, 1_000_000), untouched: 7 },
  { name: 'a file removed deep', change: (p) => fs.rmSync(p('d0/e0/package-lock.json')), untouched: 7 },
  { name: 'a new executable deep', change: (p) => fs.writeFileSync(p('d3/e1/new-tool'), Buffer.alloc(80, 2), { mode: 0o755 }), untouched: 7 },
  { name: 'a hard link made in another directory', change: (p) => fs.linkSync(p('d1/e1/tool'), p('d2/e2/tool-link')), untouched: 9 },
  { name: 'a subtree copied and the original removed (mv across layers)', change: (p) => {
    execFileSync('cp', ['-a', p('d2/e3'), p('d2/moved')]);
    fs.rmSync(p('d2/e3'), { recursive: true });
  }, untouched: 7 },
  { name: 'a directory emptied and made again', change: (p) => {
    fs.rmSync(p('d1'), { recursive: true });
    fs.mkdirSync(p('d1'));
    fs.writeFileSync(p('d1/plain'), 'x');
  }, untouched: 4, asUpper: false }, // overlayfs makes it opaque; the diff writes a whiteout per child
  { name: 'a directory copied up before the snapshot, a file in it rewritten after', early: (p) => fs.writeFileSync(p('d0/e0/plain'), 'runtime'), change: (p) => fs.writeFileSync(p('d0/e0/plain'), 'assemble'), untouched: 7 },
  { name: 'a copied-up directory, a lower-only one below it changed', early: (p) => fs.writeFileSync(p('d3/new'), 'runtime'), change: (p) => fs.chmodSync(p('d3/e2/plain'), 0o600), untouched: 7 },
  { name: 'nothing changed', change: none, untouched: 5 },
];

for (const c of cases) {
  t.test(c.name, { skip: isRoot ? false : 'needs root to mount overlayfs' }, (t) => check(t, c.early ?? none, c.change, c.untouched, c.asUpper ?? !c.early));
}
