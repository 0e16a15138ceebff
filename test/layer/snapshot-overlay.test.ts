// An in-image build's layer against a sandbox build's for the same change: the root is a real overlay mount
// (as a container's rootfs is), the change is made in it, and the snapshot layer of the merged tree is listed
// beside the overlay writer's layer of the upper dir. For these changes both must hold the same entries with
// the same types, modes, owners, sizes and mtimes (GNU tar's listing). Where they legitimately differ (a
// directory emptied and remade: overlayfs makes it opaque, the diff writes one whiteout per child; a new link:
// overlayfs copies up only the names it touched) the cases are left out.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots } from '../../src/layer/snapshot-diff.js';
import { writeSnapshotLayer } from '../../src/layer/snapshot-write.js';
import { writeLayerFile } from '../../src/layer/write.js';
import { makeRoot } from './snapshot-fixture.js';

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
  t.test(c.name, { skip: root ? false : 'needs root to mount overlayfs' }, async (t) => {
    const dir = path.join(tmp, `case-${n++}`);
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(dir, d)) as [string, string, string, string];
    for (const d of [lower, upper, work, merged]) fs.mkdirSync(d, { recursive: true });
    makeRoot(lower);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off`, merged]);
    let mounted = true;
    t.teardown(() => {
      if (mounted) execFileSync('umount', [merged]);
    });
    const before = await takeSnapshot(merged, { exclude: ['workspace', 'engine'] });
    c.change((s) => path.join(merged, s));
    const snapBlob = path.join(dir, 'snap.tar.gz');
    await writeSnapshotLayer(await diffSnapshots(before), snapBlob);
    execFileSync('umount', [merged]);
    mounted = false;
    const upperBlob = path.join(dir, 'upper.tar.gz');
    await writeLayerFile(upper, upperBlob);
    const list = (f: string): string => execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', f], { encoding: 'latin1' });
    const got = list(snapBlob);
    t.not(got, '', 'the layer is not empty');
    t.equal(got, list(upperBlob), 'same listing as the overlay upper dir');
  });
}
