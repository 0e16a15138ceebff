// In-image builds' layer: snapshot a real tree, change it, diff, write the layer; the changes are checked by
// kind and path, the blob is listed by GNU tar, and base + snapshot layer applied by src/layer/apply.ts into an
// empty directory give the changed tree (files, modes, owners, symlinks, hardlinks, xattrs).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots, type SnapshotDiff } from '../../src/layer/snapshot-diff.js';
import { writeSnapshotLayer, writeSnapshotLayerWhileDiffing } from '../../src/layer/snapshot-write.js';
import { native } from '../../src/sys/native.js';
import { applyLayers, makeRoot, mergedView, tarNames, tarOwners, visibleTree, writeBase } from './snapshot-fixture.js';
import { exitOf } from '../helpers/exit-code.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-snapshot-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

type Row = [kind: string, path: string];
interface Case {
  name: string;
  /** Made before the snapshot, after the base layer: entries with ctimes just before the snapshot's start. */
  prepare?: (p: (...s: string[]) => string) => void;
  change: (p: (...s: string[]) => string) => void;
  /** The changes, in layer order. */
  want: Row[];
}

const cases: Case[] = [
  { name: 'add a file', change: (p) => fs.writeFileSync(p('etc/new'), 'n'),
    want: [['changed', 'etc/'], ['added', 'etc/new']] },
  { name: 'content changed, same size, mtime restored (caught by ctime)', change: (p) => {
    const st = fs.statSync(p('etc/conf'));
    fs.writeFileSync(p('etc/conf'), 'CONF\n');
    fs.utimesSync(p('etc/conf'), st.atime, st.mtime);
    if (fs.statSync(p('etc/conf')).mtimeMs !== st.mtimeMs) throw new Error('mtime not restored');
  }, want: [['parent', 'etc/'], ['changed', 'etc/conf']] },
  { name: 'chmod only', change: (p) => fs.chmodSync(p('usr/bin/tool'), 0o700),
    want: [['parent', 'usr/'], ['parent', 'usr/bin/'], ['changed', 'usr/bin/tool']] },
  { name: 'chown only', change: (p) => fs.chownSync(p('opt/app/data/a'), 1001, 1002),
    want: [['parent', 'opt/'], ['parent', 'opt/app/'], ['parent', 'opt/app/data/'], ['changed', 'opt/app/data/a']] },
  { name: 'xattr set only', change: (p) => native().lsetxattr(p('etc/conf'), 'user.k', Buffer.from('v')),
    want: [['parent', 'etc/'], ['changed', 'etc/conf']] },
  { name: 'remove a file', change: (p) => fs.rmSync(p('etc/conf')),
    want: [['changed', 'etc/'], ['removed', 'etc/conf']] },
  { name: 'remove a directory tree: one whiteout', change: (p) => fs.rmSync(p('opt/app/data'), { recursive: true }),
    want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['removed', 'opt/app/data']] },
  { name: 'directory replaced by a file', change: (p) => {
    fs.rmSync(p('opt/app/data'), { recursive: true });
    fs.writeFileSync(p('opt/app/data'), 'now a file');
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/data']] },
  { name: 'file replaced by a directory', change: (p) => {
    fs.rmSync(p('etc/conf'));
    fs.mkdirSync(p('etc/conf'));
    fs.writeFileSync(p('etc/conf/x'), 'x');
  }, want: [['changed', 'etc/'], ['changed', 'etc/conf/'], ['added', 'etc/conf/x']] },
  { name: 'directory emptied and refilled', change: (p) => {
    fs.rmSync(p('opt/app/data'), { recursive: true });
    fs.mkdirSync(p('opt/app/data'));
    fs.writeFileSync(p('opt/app/data/b'), 'new b');
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/data/'], ['removed', 'opt/app/data/a'],
    ['changed', 'opt/app/data/b'], ['removed', 'opt/app/data/sub']] },
  { name: 'symlink retargeted', change: (p) => {
    fs.symlinkSync('libx.so.2', p('usr/lib/tmp-link'));
    fs.renameSync(p('usr/lib/tmp-link'), p('usr/lib/libx.so'));
  }, want: [['parent', 'usr/'], ['changed', 'usr/lib/'], ['changed', 'usr/lib/libx.so']] },
  { name: 'a hardlink added to a linked file', change: (p) => fs.linkSync(p('var/hl1'), p('var/hl3')),
    want: [['changed', 'var/'], ['changed', 'var/hl1'], ['changed', 'var/hl2'], ['added', 'var/hl3']] },
  { name: 'renamed file', change: (p) => fs.renameSync(p('etc/conf'), p('etc/conf2')),
    want: [['changed', 'etc/'], ['removed', 'etc/conf'], ['added', 'etc/conf2']] },
  { name: 'a new file in new nested directories: parents included', change: (p) => {
    fs.mkdirSync(p('opt/app/new/deep'), { recursive: true });
    fs.writeFileSync(p('opt/app/new/deep/f'), 'f');
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['added', 'opt/app/new/'], ['added', 'opt/app/new/deep/'], ['added', 'opt/app/new/deep/f']] },
  { name: 'excluded paths never in the layer', change: (p) => {
    fs.writeFileSync(p('workspace/src/new.c'), 'new');
    fs.writeFileSync(p('engine/bin/oci-s2i'), 'ENGINE');
    fs.rmSync(p('workspace/src/main.c'));
    fs.writeFileSync(p('dev/added'), 'dev');
  }, want: [] },
  { name: 'an unchanged tree', change: () => {}, want: [] },
  // The snapshot records names and types only: what follows is told by ctime (every change sets it) and by the
  // inodes of directories (a directory moved over another's name keeps its children's old ctimes).
  { name: 'a file replaced by renaming an older file (same size, same mtime) over it', change: (p) => fs.renameSync(p('usr/lib/libx.so.2'), p('usr/lib/libx.so.1')),
    want: [['parent', 'usr/'], ['changed', 'usr/lib/'], ['changed', 'usr/lib/libx.so.1'], ['removed', 'usr/lib/libx.so.2']] },
  { name: 'a hard link added to an old file that had one name', change: (p) => fs.linkSync(p('etc/conf'), p('usr/bin/conf-link')),
    want: [['parent', 'etc/'], ['changed', 'etc/conf'], ['parent', 'usr/'], ['changed', 'usr/bin/'], ['added', 'usr/bin/conf-link']] },
  { name: 'one name of a hard-linked file removed: the other is reported (its link count changed)', change: (p) => fs.rmSync(p('var/hl2')),
    want: [['changed', 'var/'], ['changed', 'var/hl1'], ['removed', 'var/hl2']] },
  { name: 'a file replaced by a symlink', change: (p) => {
    fs.rmSync(p('etc/conf'));
    fs.symlinkSync('/usr/bin/tool', p('etc/conf'));
  }, want: [['changed', 'etc/'], ['changed', 'etc/conf']] },
  { name: 'a directory renamed over an existing empty one: its old children are in the layer', prepare: (p) => {
    fs.mkdirSync(p('opt/app/empty'));
    fs.mkdirSync(p('opt/app/full/sub'), { recursive: true });
    fs.writeFileSync(p('opt/app/full/f'), 'f');
    fs.writeFileSync(p('opt/app/full/sub/g'), 'g');
  }, change: (p) => fs.renameSync(p('opt/app/full'), p('opt/app/empty')),
    want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/empty/'], ['added', 'opt/app/empty/f'], ['added', 'opt/app/empty/sub/'],
      ['added', 'opt/app/empty/sub/g'], ['removed', 'opt/app/full']] },
  { name: 'a directory emptied, then another with the same names (old ctimes) renamed over it: all its children reported', prepare: (p) => {
    fs.mkdirSync(p('opt/app/data2/sub'), { recursive: true });
    fs.writeFileSync(p('opt/app/data2/a'), 'A'); // same size as data/a
    fs.writeFileSync(p('opt/app/data2/b'), 'other b');
    fs.writeFileSync(p('opt/app/data2/sub/c'), 'CCC');
    for (const f of ['a', 'b', 'sub/c', 'sub']) fs.lutimesSync(p('opt/app/data2', f), 1_600_000_000, 1_600_000_000);
  }, change: (p) => {
    for (const f of ['a', 'b', 'sub/c']) fs.rmSync(p('opt/app/data', f));
    fs.rmdirSync(p('opt/app/data/sub'));
    fs.renameSync(p('opt/app/data2'), p('opt/app/data'));
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/data/'], ['changed', 'opt/app/data/a'], ['changed', 'opt/app/data/b'],
    ['changed', 'opt/app/data/sub/'], ['changed', 'opt/app/data/sub/c'], ['removed', 'opt/app/data2']] },
  { name: 'a directory tree removed and an older copy with the same names moved in its place', prepare: (p) => {
    fs.cpSync(p('opt/app/data'), p('var/old-data'), { recursive: true, preserveTimestamps: true });
    fs.writeFileSync(p('var/old-data/a'), 'X');
  }, change: (p) => {
    fs.rmSync(p('opt/app/data'), { recursive: true });
    fs.renameSync(p('var/old-data'), p('opt/app/data'));
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/data/'], ['changed', 'opt/app/data/a'], ['changed', 'opt/app/data/b'],
    ['changed', 'opt/app/data/sub/'], ['changed', 'opt/app/data/sub/c'], ['changed', 'var/'], ['removed', 'var/old-data']] },
  { name: 'a directory moved away and back (the same inode): only what changed in it', change: (p) => {
    fs.renameSync(p('opt/app/data'), p('var/moved'));
    fs.writeFileSync(p('var/moved/b'), 'BB');
    fs.renameSync(p('var/moved'), p('opt/app/data'));
  }, want: [['parent', 'opt/'], ['changed', 'opt/app/'], ['changed', 'opt/app/data/'], ['changed', 'opt/app/data/b'], ['changed', 'var/']] },
];

function rows(diff: SnapshotDiff): Row[] {
  return diff.changes.map((c) => [c.kind, c.node.rel.toString('latin1') + (c.node.st.type === 'dir' ? '/' : '')]);
}

/** The names the layer must hold for `want`, as GNU tar lists them. */
function layerNames(want: Row[]): string[] {
  return want.map(([kind, rel]) => (kind === 'removed' ? rel.replace(/([^/]+)$/, '.wh.$1') : rel));
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const dir = path.join(tmp, `case-${n++}`);
    const root = path.join(dir, 'root');
    fs.mkdirSync(root, { recursive: true });
    makeRoot(root);
    const base = path.join(dir, 'base.tar.gz');
    c.prepare?.((...s) => path.join(root, ...s));
    await writeBase(root, base);
    const before = await takeSnapshot(root, { exclude: ['/workspace', 'engine'] });
    c.change((...s) => path.join(root, ...s));
    const diff = await diffSnapshots(before);
    t.same(rows(diff), c.want, 'changes by kind and path, in layer order');

    const blob = path.join(dir, 'snap.tar.gz');
    const layer = await writeSnapshotLayer(diff, blob, { compression: 'gzip' });
    t.equal(layer.entries, c.want.length, 'one tar entry a change');
    const streamed = await writeSnapshotLayerWhileDiffing(before, path.join(dir, 'streamed.tar.gz'), {}, { compression: 'gzip' });
    t.same([streamed.layer.diffID, streamed.layer.digest, streamed.diff.counts, streamed.diff.changes], [layer.diffID, layer.digest, diff.counts, []], 'written while diffing: the same layer (the changes went to the writer)');
    t.same(tarNames(blob), layerNames(c.want), 'GNU tar lists the layer');

    const out = path.join(dir, 'applied');
    fs.mkdirSync(out);
    await applyLayers(out, [base, blob]);
    t.same(mergedView(out), visibleTree(root), 'base + snapshot layer applied = the tree after');
  });
}

t.test('written while diffing: a failed walk fails with its own error, a failed write stops the walk; no file either way', async (t) => {
  const root = path.join(tmp, `fail-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  fs.writeFileSync(path.join(root, 'etc/new'), 'n');
  const blob = path.join(tmp, `fail-${n++}.tar.gz`);
  const stopped = new AbortController();
  stopped.abort();
  await t.rejects(writeSnapshotLayerWhileDiffing(before, blob, { signal: stopped.signal }), { code: 'ERR_ABORTED' }, 'the walk\'s error, not the writer\'s');
  t.notOk(fs.existsSync(blob), 'no layer file');
  const nowhere = path.join(tmp, 'no-such-dir', 'layer.tar.gz');
  const e = await writeSnapshotLayerWhileDiffing(before, nowhere, {}).then(() => undefined, (err: unknown) => err as { code?: string });
  t.ok(e && e.code !== 'ERR_ABORTED', `the writer's error: ${(e as Error | undefined)?.message}`);
  t.notOk(fs.existsSync(nowhere), 'no layer file');
});

t.test('hardlinks are written as links to the first name in the layer', async (t) => {
  const root = path.join(tmp, `links-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  fs.linkSync(path.join(root, 'var/hl1'), path.join(root, 'var/hl3'));
  const blob = path.join(tmp, `links-${n++}.tar.gz`);
  await writeSnapshotLayer(await diffSnapshots(before), blob);
  const listing = execFileSync('tar', ['-tvzf', blob], { encoding: 'latin1' });
  t.match(listing, /^-.* var\/hl1$/m, 'first name: the file');
  t.match(listing, /^h.* var\/hl2 link to var\/hl1$/m);
  t.match(listing, /^h.* var\/hl3 link to var\/hl1$/m);
});

t.test('a mount point below the root is never crossed', { skip: process.getuid?.() !== 0 ? 'needs root to mount' : false }, async (t) => {
  const root = path.join(tmp, `mount-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(root, 'mnt')]);
  t.teardown(() => execFileSync('umount', [path.join(root, 'mnt')]));
  fs.writeFileSync(path.join(root, 'mnt/before'), 'x');
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  fs.writeFileSync(path.join(root, 'mnt/after'), 'y');
  fs.rmSync(path.join(root, 'mnt/before'));
  fs.writeFileSync(path.join(root, 'etc/new'), 'n');
  const diff = await diffSnapshots(before);
  t.same(rows(diff), [['changed', 'etc/'], ['added', 'etc/new']], 'only the change outside the mount');
});

t.test('a bad exclude path or root fails with a one-line error', async (t) => {
  await t.rejects(takeSnapshot(tmp, { exclude: ['../escape'] }), { code: 'ERR_SNAPSHOT_EXCLUDE', message: /inside the root/ });
  await t.rejects(takeSnapshot(tmp, { exclude: ['/'] }), { code: 'ERR_SNAPSHOT_EXCLUDE' });
  await t.rejects(takeSnapshot(path.join(tmp, 'missing')), { code: 'ERR_SNAPSHOT_ROOT', message: /give an existing directory/ });
});

t.test('owner remap: what the pod UID wrote is recorded as the builder USER, the rest keeps its owner', async (t) => {
  const root = path.join(tmp, `owner-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  const podUid = 1000680000; // OpenShift's random UID, gid 0
  const p = (s: string): string => path.join(root, s);
  fs.mkdirSync(p('opt/app/build'));
  fs.chownSync(p('opt/app/build'), podUid, 0);
  fs.writeFileSync(p('opt/app/build/out'), 'o');
  fs.chownSync(p('opt/app/build/out'), podUid, 0);
  fs.writeFileSync(p('opt/app/build/group5'), 'g');
  fs.chownSync(p('opt/app/build/group5'), podUid, 5);
  fs.writeFileSync(p('opt/app/build/root-owned'), 'r');
  fs.writeFileSync(p('opt/app/build/other'), 'x');
  fs.chownSync(p('opt/app/build/other'), 2000, 0);
  const blob = path.join(tmp, `owner-${n++}.tar.gz`);
  await writeSnapshotLayer(await diffSnapshots(before), blob, { owner: { fromUid: podUid, fromGid: 0, uid: 1001, gid: 1002 } });
  const owners = tarOwners(blob);
  t.equal(owners['opt/app/build/']?.split(' ')[1], '1001/1002', 'dir owned by the pod UID');
  t.equal(owners['opt/app/build/out']?.split(' ')[1], '1001/1002', 'file owned by the pod UID and gid 0');
  t.equal(owners['opt/app/build/group5']?.split(' ')[1], '1001/5', 'another group is kept');
  t.equal(owners['opt/app/build/root-owned']?.split(' ')[1], '0/0', 'root-owned kept');
  t.equal(owners['opt/app/build/other']?.split(' ')[1], '2000/0', 'another user kept');
  t.equal(owners['opt/app/']?.split(' ')[1], '0/0', 'parent dir kept');
});

t.test('a file written just before the snapshot and rewritten right after (same size, mtime restored) is seen', async (t) => {
  // Racily clean entries: on kernels without fine-grained ctime, both writes can fall in one timestamp tick; the
  // snapshot returns no sooner than a tick after its start (T0), so the second write's ctime is past T0.
  for (let i = 0; i < 5; i++) {
    const root = path.join(tmp, `racy-${n++}`);
    fs.mkdirSync(root);
    const f = path.join(root, 'f');
    fs.writeFileSync(f, 'one');
    const before = await takeSnapshot(root);
    const st = fs.statSync(f);
    fs.writeFileSync(f, 'two');
    fs.utimesSync(f, st.atime, st.mtime);
    t.same(rows(await diffSnapshots(before)), [['changed', 'f']], `round ${i}`);
  }
});

t.test('at T0: a file written just before the snapshot is not reported, one rewritten right after it is', async (t) => {
  // The snapshot records no ctime: an entry is unchanged when its ctime is before T0, the walk's start. Whatever
  // was written before has an earlier ctime; whatever changes once takeSnapshot has returned, a later one, even
  // within the same kernel tick as the first write.
  for (let i = 0; i < 5; i++) {
    const root = path.join(tmp, `t0-${n++}`);
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'untouched'), 'u');
    fs.writeFileSync(path.join(root, 'f'), 'one');
    const before = await takeSnapshot(root);
    fs.writeFileSync(path.join(root, 'f'), 'two');
    t.same(rows(await diffSnapshots(before)), [['changed', 'f']], `round ${i}`);
  }
});

t.test('a wall clock stepped back between the snapshot and the change: the change is still seen', async (t) => {
  // The snapshot is taken while Date.now() runs 5 s ahead (T0 is 5 s in the future), then the clock is "stepped
  // back": a change made now has a ctime before T0. The monotonic clock tells the step, and T0 moves back.
  const root = path.join(tmp, `clock-${n++}`);
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'f'), 'one');
  fs.writeFileSync(path.join(root, 'g'), 'g');
  const realNow = Date.now;
  Date.now = () => realNow() + 5000;
  let before;
  try {
    before = await takeSnapshot(root);
  } finally {
    Date.now = realNow;
  }
  fs.writeFileSync(path.join(root, 'f'), 'two');
  t.ok(fs.statSync(path.join(root, 'f')).ctimeMs < before.startedMs, 'the change has a ctime before T0');
  t.same(rows(await diffSnapshots(before)), [['changed', 'f']]);
});

t.test('a cancelled snapshot or diff is ERR_ABORTED (exit 130)', async (t) => {
  const root = path.join(tmp, `abort-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  await t.rejects(exitOf(takeSnapshot(root, { signal: AbortSignal.abort() })), { code: 'ERR_ABORTED', exitCode: 130 });
  const before = await takeSnapshot(root);
  await t.rejects(exitOf(diffSnapshots(before, { signal: AbortSignal.abort() })), { code: 'ERR_ABORTED', exitCode: 130 });
});

t.test('as a non-root user (a restricted pod): unreadable directories are recorded without children', { skip: process.getuid?.() !== 0 ? 'needs root to switch users' : false }, async (t) => {
  const root = path.join(tmp, `nonroot-${n++}`);
  fs.mkdirSync(root);
  fs.chmodSync(tmp, 0o755);
  makeRoot(root);
  fs.mkdirSync(path.join(root, 'root'), { mode: 0o700 }); // like /root in an image
  fs.writeFileSync(path.join(root, 'root/secret'), 's');
  fs.chmodSync(path.join(root, 'root'), 0o700);
  fs.chownSync(path.join(root, 'opt/app'), 65534, 65534);
  const dist = path.resolve(import.meta.dirname, '../../src/layer');
  const script = `
    const [root, dist] = JSON.parse(process.argv[1]);
    const { takeSnapshot } = await import(dist + '/snapshot.js');
    const { diffSnapshots } = await import(dist + '/snapshot-diff.js');
    const fs = await import('node:fs');
    const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
    fs.writeFileSync(root + '/opt/app/built', 'b');
    const diff = await diffSnapshots(before);
    console.log(JSON.stringify(diff.changes.map((c) => [c.kind, c.node.rel.toString()])));`;
  const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS',
    process.execPath, '--input-type=module', '-e', script, JSON.stringify([root, dist])], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout), [['parent', 'opt'], ['changed', 'opt/app'], ['added', 'opt/app/built']]);
});

t.test('xattrs are recorded, except the dropped ones (default: security.selinux)', async (t) => {
  const root = path.join(tmp, `xattr-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  const f = path.join(root, 'etc/new');
  fs.writeFileSync(f, 'n');
  native().lsetxattr(f, 'user.keep', Buffer.from('k'));
  native().lsetxattr(f, 'user.drop', Buffer.from('d'));
  const diff = await diffSnapshots(before);
  const xattrsOf = async (opts: { dropXattrs?: string[] }): Promise<string> => {
    const blob = path.join(tmp, `xattr-${n++}.tar.gz`);
    await writeSnapshotLayer(diff, blob, opts);
    return execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvzf', blob], { encoding: 'latin1' })
      .split('\n').filter((l) => l.includes('user.')).map((l) => l.trim()).join(',');
  };
  t.match(await xattrsOf({}), /user\.drop.*user\.keep|user\.keep.*user\.drop/, 'both user xattrs by default');
  const dropped = await xattrsOf({ dropXattrs: ['user.drop'] });
  t.match(dropped, /user\.keep/);
  t.notMatch(dropped, /user\.drop/, 'a dropped name is left out');
});

t.test('an xattr value changed alone is seen (by ctime), and reported entries and parents carry their xattrs', async (t) => {
  const root = path.join(tmp, `xattr-${n++}`);
  fs.mkdirSync(root);
  makeRoot(root);
  native().lsetxattr(path.join(root, 'etc/conf'), 'user.a', Buffer.from('old'));
  native().lsetxattr(path.join(root, 'opt/app'), 'user.dir', Buffer.from('d'));
  const before = await takeSnapshot(root, { exclude: ['workspace', 'engine'] });
  native().lsetxattr(path.join(root, 'etc/conf'), 'user.a', Buffer.from('new'));
  fs.writeFileSync(path.join(root, 'opt/app/data/a'), 'changed a');
  const diff = await diffSnapshots(before);
  t.same(rows(diff), [['parent', 'etc/'], ['changed', 'etc/conf'], ['parent', 'opt/'], ['parent', 'opt/app/'], ['parent', 'opt/app/data/'], ['changed', 'opt/app/data/a']]);
  const blob = path.join(tmp, `xattr-${n++}.tar.gz`);
  await writeSnapshotLayer(diff, blob);
  const listing = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvzf', blob], { encoding: 'latin1' });
  t.match(listing, /etc\/conf\n\s*x:\s*3 user\.a/, 'the changed file carries its xattr');
  t.match(listing, /opt\/app\/\n\s*x:\s*1 user\.dir/, 'the parent directory carries its xattr');
});

t.test('a wide and deep tree (listed ahead, many directories at once): the changes in walk order', async (t) => {
  const root = path.join(tmp, `wide-${n++}`);
  const p = (...s: string[]): string => path.join(root, ...s);
  for (let a = 0; a < 12; a++) {
    for (let b = 0; b < 6; b++) {
      fs.mkdirSync(p(`d${a}`, `s${b}`, 'deep'), { recursive: true });
      for (let f = 0; f < 3; f++) fs.writeFileSync(p(`d${a}`, `s${b}`, `f${f}`), `${a}${b}${f}`);
      fs.writeFileSync(p(`d${a}`, `s${b}`, 'deep', 'x'), 'x');
    }
  }
  const base = path.join(tmp, `wide-${n++}.tar.gz`);
  await writeBase(root, base);
  const before = await takeSnapshot(root);
  fs.writeFileSync(p('d1', 's5', 'deep', 'x'), 'y');
  fs.rmSync(p('d3', 's0', 'f1'));
  fs.chmodSync(p('d10', 's2'), 0o700);
  fs.writeFileSync(p('d11', 's5', 'f3'), 'new');
  const diff = await diffSnapshots(before);
  t.same(rows(diff), [
    ['parent', 'd1/'], ['parent', 'd1/s5/'], ['parent', 'd1/s5/deep/'], ['changed', 'd1/s5/deep/x'],
    ['parent', 'd10/'], ['changed', 'd10/s2/'],
    ['parent', 'd11/'], ['changed', 'd11/s5/'], ['added', 'd11/s5/f3'],
    ['parent', 'd3/'], ['changed', 'd3/s0/'], ['removed', 'd3/s0/f1'],
  ], 'changes by kind and path, siblings in name-byte order (d1 < d10 < d3)');
  const blob = path.join(tmp, `wide-${n++}.tar.gz`);
  await writeSnapshotLayer(diff, blob);
  const out = path.join(tmp, `wide-applied-${n++}`);
  fs.mkdirSync(out);
  await applyLayers(out, [base, blob]);
  t.same(mergedView(out), visibleTree(root), 'base + snapshot layer applied = the tree after');
});
