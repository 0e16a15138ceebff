// The listing a snapshot's walk before `assemble` takes (native/sys.c scanTreeAsync through snapshot-scan.ts
// scanTree): every entry below a root in one call, listed by several threads. It must give the entries a walk of
// scanDir listings directory by directory gives, in the same order (depth first, siblings sorted by name bytes),
// each directory followed by exactly its subtree; in names mode each entry's type is the one lstat gives (the diff
// compares it with the full record after) and directories carry lstat's inode and device (replaced directories,
// mount points); sockets and excluded paths are left out with their subtrees; the root's own failure rejects.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { native } from '../../src/sys/native.js';
import { rec, scanTree } from '../../src/layer/snapshot-scan.js';
import { excludeTree } from '../../src/layer/snapshot-exclude.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-snapshot-tree-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFSOCK = 0o140000;

interface Entry { path: string; mode: number; ino: number; dev: number; ctimeMs: number; subtree: number }

/** The records of a scanTree listing, with their paths (from the subtree sizes) and the fields compared. */
function parseTree(b: Buffer): Entry[] {
  const out: Entry[] = [];
  let off = 0;
  const take = (prefix: string, count: number): void => {
    for (let k = 0; k < count; k++) {
      if (off >= b.length) throw new Error(`the listing ends inside ${prefix || 'the root'}`);
      const p = `${prefix}${rec.name(b, off).toString('latin1')}`;
      const e = { path: p, mode: rec.mode(b, off), ino: rec.ino(b, off), dev: rec.dev(b, off), ctimeMs: rec.ctimeMs(b, off), subtree: rec.subtree(b, off) };
      out.push(e);
      off = rec.next(b, off);
      if (e.subtree > 0) {
        take(`${p}/`, e.subtree);
        k += e.subtree;
      }
    }
  };
  while (off < b.length) take('', 1);
  return out;
}

/** The same tree walked directory by directory with scanDir (every entry lstat'ed), left out as scanTree leaves
 *  out: sockets, excluded paths, directories on another device. */
function reference(root: string, excluded: string[], names: boolean): Entry[] {
  const rootDev = fs.lstatSync(root).dev;
  const out: Entry[] = [];
  const walk = (abs: string, prefix: string): number => {
    const b = native().scanDir(Buffer.from(abs), false);
    let count = 0;
    for (let off = 0; off < b.length; off = rec.next(b, off)) {
      const name = rec.name(b, off).toString('latin1');
      const mode = rec.mode(b, off);
      const dir = (mode & S_IFMT) === S_IFDIR;
      if ((mode & S_IFMT) === S_IFSOCK || excluded.includes(`${prefix}${name}`) || (dir && rec.dev(b, off) !== rootDev)) continue;
      const e: Entry = names && !dir
        ? { path: `${prefix}${name}`, mode: mode & S_IFMT, ino: 0, dev: 0, ctimeMs: 0, subtree: 0 }
        : { path: `${prefix}${name}`, mode, ino: rec.ino(b, off), dev: rec.dev(b, off), ctimeMs: rec.ctimeMs(b, off), subtree: 0 };
      out.push(e);
      count++;
      if (dir) {
        e.subtree = walk(path.join(abs, Buffer.from(name, 'latin1').toString('latin1')), `${prefix}${name}/`);
        count += e.subtree;
      }
    }
    return count;
  };
  walk(root, '');
  return out;
}

const tree = (root: string, names: boolean, excluded: string[] = [], signal?: AbortSignal): Promise<Buffer> =>
  scanTree(Buffer.from(root), { names, rootDev: fs.lstatSync(root).dev, exclude: excludeTree(root, excluded, ''), signal });

t.test('names mode: types from d_type equal lstat; directories carry inode and device; sockets are left out', async (t) => {
  const dir = path.join(tmp, 'kinds');
  fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'file'), 'f');
  fs.writeFileSync(path.join(dir, 'sub', 'deeper', 'leaf'), 'l');
  fs.symlinkSync('file', path.join(dir, 'link'));
  fs.symlinkSync('/nowhere', path.join(dir, 'dangling'));
  fs.symlinkSync('.', path.join(dir, 'sub', 'loop'));
  fs.linkSync(path.join(dir, 'file'), path.join(dir, 'hard'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff, 0x20, 0x6e])]), 'a name that is not UTF-8');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'sub', 'sock'), resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  if (process.getuid?.() === 0) native().mknod(path.join(dir, 'chr'), 0o020644, 1, 3);

  const got = parseTree(await tree(dir, true));
  t.same(got, reference(dir, [], true), 'the entries, order and subtrees of a walk of scanDir listings');
  t.notOk(got.some((e) => e.path === 'sub/sock'), 'the socket is left out');
  t.ok(got.some((e) => e.path === 'sub/loop'), 'a symlink to a directory is an entry, never followed');
  t.equal(got.find((e) => e.path === 'sub')!.subtree, 3, 'sub holds deeper, deeper/leaf and loop, nothing else');
  for (const e of got) {
    const st = fs.lstatSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(e.path, 'latin1')]));
    t.equal(e.mode & S_IFMT, st.mode & S_IFMT, `${e.path}: the type lstat gives`);
    if (st.isDirectory()) {
      t.equal(e.ino, st.ino, `${e.path}: the inode`);
      t.equal(e.dev, st.dev, `${e.path}: the device`);
      t.equal(e.mode, st.mode, `${e.path}: the whole mode (lstat'ed)`);
    } else {
      t.equal(e.mode & ~S_IFMT, 0, `${e.path}: no permission bits (not stat'ed)`);
      t.equal(e.ino, 0, `${e.path}: no inode (not stat'ed)`);
    }
  }
});

t.test('a wide and deep tree: the same listing in both modes and with 1 to 16 threads', async (t) => {
  const root = path.join(tmp, 'wide');
  for (let a = 0; a < 12; a++) {
    for (let b = 0; b < 12; b++) {
      const d = path.join(root, `a${a}`, `b${b}`);
      fs.mkdirSync(d, { recursive: true });
      for (let f = 0; f < (a * b) % 7; f++) fs.writeFileSync(path.join(d, `f${f}`), `${a}.${b}.${f}`, { mode: f % 2 ? 0o755 : 0o644 });
    }
    if (a % 3 === 0) fs.mkdirSync(path.join(root, `a${a}`, 'empty'));
  }
  // deeper than a recursion of a few frames would bear lightly, and a path of some length
  let deep = path.join(root, 'deep');
  for (let i = 0; i < 200; i++) deep = path.join(deep, `d${i % 10}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'bottom'), 'b');
  for (const names of [true, false]) {
    const want = reference(root, [], names);
    const first = await native().scanTreeAsync(Buffer.from(root), names, fs.lstatSync(root).dev, Buffer.alloc(0), 1);
    t.same(parseTree(first), want, `${names ? 'names' : 'stat'} mode, 1 thread: ${want.length} entries as scanDir walks them`);
    for (const threads of [2, 4, 16]) {
      const b = await native().scanTreeAsync(Buffer.from(root), names, fs.lstatSync(root).dev, Buffer.alloc(0), threads);
      t.ok(b.equals(first), `${names ? 'names' : 'stat'} mode, ${threads} threads: the very same bytes`);
    }
  }
  const stat = parseTree(await tree(root, false));
  t.equal(stat.find((e) => e.path === 'a2/b2/f1')!.mode, 0o100755, 'stat mode: every entry lstat\'ed (the file mode)');
});

t.test('excluded paths are left out with their subtrees, at any depth; a path on the way is kept', async (t) => {
  const root = path.join(tmp, 'excl');
  for (const d of ['keep/sub', 'workspace/src', 'opt/engine/lib', 'opt/other', 'x/y/z']) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const f of ['keep/sub/f', 'workspace/src/main.go', 'opt/engine/lib/a', 'opt/other/b', 'x/y/z/c', 'x/y/file', 'top']) fs.writeFileSync(path.join(root, f), f);
  const excluded = ['workspace', 'opt/engine', 'x/y/file', 'not/there'];
  const got = parseTree(await tree(root, true, excluded));
  t.same(got, reference(root, excluded, true), 'as scanDir walks it leaving the same paths out');
  const paths = got.map((e) => e.path);
  for (const gone of ['workspace', 'workspace/src', 'opt/engine', 'opt/engine/lib/a', 'x/y/file']) t.notOk(paths.includes(gone), `${gone} left out`);
  for (const kept of ['opt', 'opt/other/b', 'x/y', 'x/y/z/c', 'keep/sub/f', 'top']) t.ok(paths.includes(kept), `${kept} kept`);
  t.equal(got.find((e) => e.path === 'opt')!.subtree, 2, 'opt holds other and other/b alone');
});

t.test('the root: missing, a file or not a buffer fails; an empty one lists nothing; a stop before the walk ends it', async (t) => {
  fs.mkdirSync(path.join(tmp, 'empty'));
  t.equal((await tree(path.join(tmp, 'empty'), true)).length, 0);
  await t.rejects(native().scanTreeAsync(Buffer.from(path.join(tmp, 'missing')), true, 0, Buffer.alloc(0), 2), { code: 'ENOENT' });
  fs.writeFileSync(path.join(tmp, 'plain'), 'p');
  await t.rejects(native().scanTreeAsync(Buffer.from(path.join(tmp, 'plain')), true, 0, Buffer.alloc(0), 2), { code: 'ENOTDIR' });
  t.throws(() => (native().scanTreeAsync as unknown as (x: string) => unknown)('not a buffer'), /Buffer/);
  const stop = Buffer.alloc(4);
  stop.writeInt32LE(1);
  await t.rejects(native().scanTreeAsync(Buffer.from(path.join(tmp, 'wide')), true, fs.lstatSync(tmp).dev, Buffer.alloc(0), 2, stop), { code: 'ECANCELED' });
  const ac = new AbortController();
  ac.abort();
  await t.rejects(tree(path.join(tmp, 'wide'), true, [], ac.signal), { name: 'AbortError' });
});

t.test('as a non-root user: a directory it cannot list is recorded without children', { skip: process.getuid?.() !== 0 ? 'needs root to switch users' : false }, async (t) => {
  const root = path.join(tmp, 'private');
  fs.mkdirSync(path.join(root, 'closed', 'inner'), { recursive: true });
  fs.mkdirSync(path.join(root, 'open'));
  fs.writeFileSync(path.join(root, 'open', 'f'), 'f');
  fs.chmodSync(path.join(root, 'closed'), 0o700);
  fs.chmodSync(tmp, 0o755);
  const script = `import { native } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../src/sys/native.js'))};
const b = await native().scanTreeAsync(Buffer.from(${JSON.stringify(root)}), true, ${fs.lstatSync(root).dev}, Buffer.alloc(0), 2);
const out = []; for (let off = 0; off < b.length; off = off + 88 + ((b.readUInt32LE(off) + 7) & ~7)) out.push(b.toString('latin1', off + 88, off + 88 + b.readUInt32LE(off)) + ':' + b.readUInt32LE(off + 68));
console.log(out.join(' '));`;
  const got = execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
  t.equal(got, 'closed:0 open:1 f:0', 'closed has no children, open has its file');
});
