// An overlayfs upper dir made by the kernel (unshare + mount -t overlay, userxattr) becomes an OCI layer with
// `.wh.` whiteouts and an opaque marker, and none of overlayfs's own devices or xattrs.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeLayerFile, type WriteLayerOptions } from '../../src/layer/write.js';
import { native } from '../../src/sys/native.js';
import { listTar } from './write-fixture.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-overlay-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const [L, U, W, M] = ['L', 'U', 'W', 'M'].map((d) => path.join(tmp, d)) as [string, string, string, string];
for (const d of [L, U, W, M]) fs.mkdirSync(d);
fs.writeFileSync(path.join(L, 'a'), 'lower a');
fs.writeFileSync(path.join(L, 'keep'), 'kept');
fs.mkdirSync(path.join(L, 'd'));
fs.writeFileSync(path.join(L, 'd', 'old'), 'old');
fs.mkdirSync(path.join(L, 'e'));
fs.writeFileSync(path.join(L, 'e', 'gone'), 'x');
fs.writeFileSync(path.join(L, 'e', 'stays'), 'x');

let mounted = true;
try {
  execFileSync('unshare', ['-m', 'sh', '-ec', [
    `mount -t overlay overlay -o userxattr,lowerdir=${L},upperdir=${U},workdir=${W} ${M}`,
    `rm ${M}/a`, `rm -rf ${M}/d`, `mkdir ${M}/d`, `echo new > ${M}/d/y`, `rm ${M}/e/gone`, `echo z > ${M}/z`,
  ].join(' && ')], { stdio: 'pipe' });
} catch (e) {
  mounted = false;
  t.comment(`overlay mount unavailable: ${(e as Error).message}`);
}

async function entries(opts: WriteLayerOptions) {
  const file = path.join(tmp, `layer-${Math.random().toString(36).slice(2)}.tar`);
  const result = await writeLayerFile(U, file, { compression: 'none', ...opts });
  return { result, list: await listTar(fs.readFileSync(file)) };
}

t.test('overlay upper dir → OCI whiteouts', { skip: !mounted && 'needs overlayfs in a mount namespace' }, async (t) => {
  t.ok(fs.lstatSync(path.join(U, 'a')).isCharacterDevice(), 'the kernel made a whiteout device');
  t.equal(native().lgetxattr(path.join(U, 'd'), 'user.overlay.opaque')?.toString(), 'y', 'and an opaque dir');

  const { result, list } = await entries({ mtimeClamp: 1234 });
  const names = list.map((e) => e.name);
  t.same(names, ['.wh.a', 'd/', 'd/.wh..wh..opq', 'd/y', 'e/', 'e/.wh.gone', 'z'], 'whiteouts in place, marker first in its dir');
  t.equal(result.entries, names.length);
  t.notOk(list.some((e) => e.type === 'character-device'), 'no char device entries');
  t.notOk(list.some((e) => Object.keys(e.pax).some((k) => k.includes('overlay'))), 'no overlay xattrs');
  for (const w of list.filter((e) => e.name.includes('.wh.'))) {
    t.match(w, { type: 'file', size: 0, mode: 0, uid: 0, gid: 0, mtime: 1234 }, `${w.name} is an empty file with the clamp mtime`);
  }
  t.ok(list.every((e) => e.mtime <= 1234), 'every mtime clamped');
});

t.test('overlayWhiteouts: false keeps the raw upper dir', { skip: !mounted && 'needs overlayfs' }, async (t) => {
  const { list } = await entries({ overlayWhiteouts: false });
  const a = list.find((e) => e.name === 'a');
  t.match(a, { type: 'character-device' }, 'the device is written as is');
  t.notOk(list.some((e) => e.name.includes('.wh.')), 'no generated whiteouts');
  t.equal(list.find((e) => e.name === 'd/')?.pax['SCHILY.xattr.user.overlay.opaque'], 'y', 'xattrs not filtered');
});

t.test('overlay redirect/metacopy is refused with a clear error', async (t) => {
  const dir = path.join(tmp, 'redirect');
  fs.mkdirSync(path.join(dir, 'moved'), { recursive: true });
  native().lsetxattr(path.join(dir, 'moved'), 'user.overlay.redirect', Buffer.from('/orig'));
  await t.rejects(writeLayerFile(dir, path.join(tmp, 'r.tar'), { compression: 'none' }),
    { code: 'ERR_OVERLAY_UNSUPPORTED', message: /redirect_dir=off/ });
  // Not an upper dir: the xattr is just data.
  const { list } = await (async () => {
    const file = path.join(tmp, 'r2.tar');
    await writeLayerFile(dir, file, { compression: 'none', overlayWhiteouts: false });
    return { list: await listTar(fs.readFileSync(file)) };
  })();
  t.equal(list[0]?.pax['SCHILY.xattr.user.overlay.redirect'], '/orig');
});

t.test('a hand-made whiteout device and trusted.overlay.opaque are recognised too', async (t) => {
  const dir = path.join(tmp, 'manual');
  fs.mkdirSync(path.join(dir, 'opq'), { recursive: true });
  native().mknod(path.join(dir, 'wh'), 0o020000, 0, 0);
  native().mknod(path.join(dir, 'tty'), 0o020000 | 0o600, 5, 0);
  native().lsetxattr(path.join(dir, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
  native().lsetxattr(path.join(dir, 'opq'), 'user.keep', Buffer.from('1'));
  const { list } = await (async () => {
    const file = path.join(tmp, 'm.tar');
    await writeLayerFile(dir, file, { compression: 'none' });
    return { list: await listTar(fs.readFileSync(file)) };
  })();
  t.same(list.map((e) => e.name), ['opq/', 'opq/.wh..wh..opq', 'tty', '.wh.wh']);
  t.same(list[0]?.pax, { 'SCHILY.xattr.user.keep': '1' }, 'other xattrs kept, overlay ones dropped');
  t.match(list[2], { type: 'character-device' }, 'a real device (5,0) stays a device');
});
