// The listing a snapshot's walk before `assemble` takes (native/sys.c scanNamesAsync): the records of scanDir
// from readdir alone. Each entry's type must be the one lstat gives (the diff compares it with the full record
// after), directories must carry lstat's inode and device (replaced directories, mount points), the order is
// scanDir's, and a directory that cannot be listed fails as scanDir does.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { native } from '../../src/sys/native.js';
import { rec } from '../../src/layer/snapshot-scan.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-snapshot-names-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const S_IFMT = 0o170000;

t.test('types from d_type equal lstat; directories carry inode and device; the order is scanDir\'s', async (t) => {
  const dir = path.join(tmp, 'kinds');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'file'), 'f');
  fs.symlinkSync('file', path.join(dir, 'link'));
  fs.symlinkSync('/nowhere', path.join(dir, 'dangling'));
  fs.linkSync(path.join(dir, 'file'), path.join(dir, 'hard'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff, 0x20, 0x6e])]), 'a name that is not UTF-8');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  if (process.getuid?.() === 0) native().mknod(path.join(dir, 'chr'), 0o020644, 1, 3);

  const names = await native().scanNamesAsync(Buffer.from(dir));
  const full = native().scanDir(Buffer.from(dir), false);
  const list = (b: Buffer): Array<{ name: string; off: number }> => {
    const out: Array<{ name: string; off: number }> = [];
    for (let off = 0; off < b.length; off = rec.next(b, off)) out.push({ name: rec.name(b, off).toString('latin1'), off });
    return out;
  };
  const got = list(names);
  t.same(got.map((e) => e.name), list(full).map((e) => e.name), 'the same names in the same order as scanDir');
  t.ok(got.length >= 8, `${got.length} entries`);
  for (const { name, off } of got) {
    const st = fs.lstatSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name, 'latin1')]));
    t.equal(rec.mode(names, off) & S_IFMT, st.mode & S_IFMT, `${name}: the type lstat gives`);
    if (st.isDirectory()) {
      t.equal(rec.ino(names, off), st.ino, `${name}: the inode`);
      t.equal(rec.dev(names, off), st.dev, `${name}: the device`);
      t.equal(rec.mode(names, off), st.mode, `${name}: the whole mode (lstat'ed)`);
    } else {
      t.equal(rec.mode(names, off) & ~S_IFMT, 0, `${name}: no permission bits (not stat'ed)`);
      t.equal(rec.ino(names, off), 0, `${name}: no inode (not stat'ed)`);
      t.equal(rec.ctimeMs(names, off), 0, `${name}: no ctime (not stat'ed)`);
    }
  }
});

t.test('an empty directory lists nothing; a missing one or a file fails as scanDir does', async (t) => {
  fs.mkdirSync(path.join(tmp, 'empty'));
  t.equal((await native().scanNamesAsync(Buffer.from(path.join(tmp, 'empty')))).length, 0);
  await t.rejects(native().scanNamesAsync(Buffer.from(path.join(tmp, 'missing'))), { code: 'ENOENT' });
  fs.writeFileSync(path.join(tmp, 'plain'), 'p');
  await t.rejects(native().scanNamesAsync(Buffer.from(path.join(tmp, 'plain'))), { code: 'ENOTDIR' });
  t.throws(() => (native().scanNamesAsync as unknown as (x: string) => unknown)('not a buffer'), /Buffer/);
});
