// An in-image build's layer against a sandbox build's for the same change: the root is a real overlay mount
// (as a container's rootfs is), the change is made in it, and the snapshot layer of the merged tree is listed
// beside the overlay writer's layer of the upper dir. For these changes both must hold the same entries with
// the same types, modes, owners, sizes and mtimes (GNU tar's listing). Where they legitimately differ (a
// directory emptied and remade: overlayfs makes it opaque, the diff writes one whiteout per child; a new link:
// overlayfs copies up only the names it touched) the cases are left out.
//
// Each case runs twice: with the upper dir made after the image's tree, as a container's is (the walk after the
// change then skips the directories still in the lower layer: snapshot-lower.ts), and made before it (lower
// directories newer than the upper layer: none can be told lower-only, every one is walked).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots, type SnapshotDiff } from '../../src/layer/snapshot-diff.js';
import { makeRoot, mountOverlay, snapshotAndUpperListings } from './snapshot-fixture.js';

const root = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-snapshot-ovl-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

const cases: Array<{ name: string; change: (p: (s: string) => string) => void }> = [
  { name: 'add a file', change: (p) => fs.writeFileSync(p('etc/new'), 'n') },
  { name: 'rewrite a file', change: (p) => fs.writeFileSync(p('etc/conf'), 'other content') },
  { name: 'chmod', change: (p) => fs.chmodSync(p('usr/bin/tool'), 0o700) },
  { name: 'chown', change: (p) => fs.chownSync(p('opt/app/data/a'), 1001, 1002) },
  { name: 'remove a file', change: (p) => fs.rmSync(p('etc/conf')) },
  { name: 'remove a directory tree', change: (p) => fs.rmSync(p('opt/app/data'), { recursive: true }) },
  { name: 'directory replaced by a file', change: (p) => {
    fs.rmSync(p('opt/app/data'), { recursive: true });
    fs.writeFileSync(p('opt/app/data'), 'file');
  } },
  { name: 'symlink retargeted', change: (p) => {
    fs.rmSync(p('usr/lib/libx.so'));
    fs.symlinkSync('libx.so.2', p('usr/lib/libx.so'));
  } },
  { name: 'rename', change: (p) => fs.renameSync(p('etc/conf'), p('etc/conf2')) },
  { name: 'new nested directories', change: (p) => {
    fs.mkdirSync(p('opt/app/new/deep'), { recursive: true });
    fs.writeFileSync(p('opt/app/new/deep/f'), 'f');
    fs.chownSync(p('opt/app/new'), 1001, 0);
  } },
];

for (const c of cases) {
  for (const upperLast of [true, false]) {
    t.test(`${c.name}, upper dir made ${upperLast ? 'after' : 'before'} the image's tree`, { skip: root ? false : 'needs root to mount overlayfs' }, async (t) => {
      const dir = path.join(tmp, `case-${n++}`);
      const ovl = await mountOverlay(t, dir, makeRoot, { upperFirst: !upperLast, options: 'redirect_dir=off,metacopy=off' });
      const merged = ovl.merged;
      const before = await takeSnapshot(merged, { exclude: ['workspace', 'engine'] });
      const full = await takeSnapshot(merged, { exclude: ['workspace', 'engine'], skipLower: false });
      c.change((s) => path.join(merged, s));
      const diff = await diffSnapshots(before);
      const walked = await diffSnapshots(full);
      t.same(summary(diff), summary(walked), 'the same changes as a walk of every directory');
      if (upperLast) t.ok(diff.untouched > 0, `${diff.untouched} lower-only directories not walked`);
      else t.equal(diff.untouched, 0, 'no directory is taken for lower-only when the upper layer is older');
      const [got, upper] = await snapshotAndUpperListings(diff, dir, ovl);
      t.not(got, '', 'the layer is not empty');
      t.equal(got, upper, 'same listing as the overlay upper dir');
    });
  }
}

function summary(d: SnapshotDiff): string[] {
  return d.changes.map((c) => `${c.kind} ${c.node.rel.toString()} ${c.node.st.type} ${c.node.st.mode.toString(8)} ${c.node.st.uid}:${c.node.st.gid} ${c.node.st.size}`);
}
