// Later entries that remove or replace what earlier entries of the same layer made. The applier remembers the
// directories it resolved (entry path → host dir) and creates without looking first (O_EXCL, EEXIST → replace):
// each case here goes wrong if a remembered resolution outlives the directory or symlink it went through (a
// write lands in a removed dir, in a stale symlink's old target, or a hard link goes through a new symlink).
import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { applyLayer, type ApplyResult } from '../../src/layer/apply.js';
import { native } from '../../src/sys/native.js';
import { makeSandbox, makeTar, recordedAndRecomputed, tarStreamOf, type Sandbox, type TarEntry } from './apply-helpers.js';

const layerDigest = `sha256:${'ef'.repeat(32)}`;

interface Case {
  name: string;
  entries: (sb: Sandbox) => TarEntry[];
  /** Expected error code and the entry the message names; absent = must succeed. */
  refuse?: { code: string; entry: string };
  check?: (root: string, tt: Test) => Promise<unknown>;
}

const kind = async (p: string): Promise<string> => {
  const st = await fs.lstat(p).catch(() => null);
  if (!st) return 'none';
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'chardev' : 'other';
};
const read = (p: string): Promise<string> => fs.readFile(p, 'utf8');

const cases: Case[] = [
  {
    name: 'dir replaced by a symlink, then a file written under it lands in the link target',
    entries: () => [
      { name: 'e/', type: 'directory' },
      { name: 'd/', type: 'directory' },
      { name: 'd/x', data: 'old' },
      { name: 'd', type: 'symlink', linkname: 'e' },
      { name: 'd/y', data: 'via link' },
    ],
    check: async (root, tt) => {
      tt.equal(await kind(path.join(root, 'd')), 'symlink');
      tt.equal(await read(path.join(root, 'e/y')), 'via link');
      tt.equal(await kind(path.join(root, 'e/x')), 'none', 'the old dir content went with it');
    },
  },
  {
    name: 'deep dirs replaced by a symlink high up: remembered deeper dirs are not used',
    entries: () => [
      { name: 'a/b/c/f', data: 'f' },
      { name: 'a/b', type: 'symlink', linkname: '/z' },
      { name: 'a/b/c/g', data: 'g' },
    ],
    check: async (root, tt) => {
      tt.equal(await read(path.join(root, 'z/c/g')), 'g', 'resolved through the new symlink, in-root');
      tt.equal(await kind(path.join(root, 'z/c/f')), 'none');
      tt.equal(await kind(path.join(root, 'a/b')), 'symlink');
    },
  },
  {
    name: 'symlink replaced by a directory: later entries go into the new dir, not the old target',
    entries: () => [
      { name: 't/', type: 'directory' },
      { name: 'l', type: 'symlink', linkname: 't' },
      { name: 'l/f', data: 'through link' },
      { name: 'l/', type: 'directory' },
      { name: 'l/g', data: 'in dir' },
    ],
    check: async (root, tt) => {
      tt.equal(await kind(path.join(root, 'l')), 'dir');
      tt.equal(await read(path.join(root, 'l/g')), 'in dir');
      tt.equal(await read(path.join(root, 't/f')), 'through link');
      tt.equal(await kind(path.join(root, 't/g')), 'none', 'nothing written through the replaced symlink');
    },
  },
  {
    name: 'symlink re-pointed: later entries follow the new target',
    entries: () => [
      { name: 't1/', type: 'directory' },
      { name: 't2/', type: 'directory' },
      { name: 'p', type: 'symlink', linkname: 't1' },
      { name: 'p/f', data: '1' },
      { name: 'p', type: 'symlink', linkname: 't2' },
      { name: 'p/g', data: '2' },
    ],
    check: async (root, tt) => {
      tt.equal(await read(path.join(root, 't1/f')), '1');
      tt.equal(await read(path.join(root, 't2/g')), '2');
      tt.equal(await kind(path.join(root, 't1/g')), 'none');
    },
  },
  {
    name: 'whiteout of a remembered dir, then the dir again: a new, opaque, empty dir',
    entries: () => [
      { name: 'd/sub/f1', data: '1' },
      { name: '.wh.d' },
      { name: 'd/', type: 'directory' },
      { name: 'd/sub/f2', data: '2' },
    ],
    check: async (root, tt) => {
      tt.equal(native().lgetxattr(path.join(root, 'd'), 'user.overlay.opaque')?.toString(), 'y');
      tt.equal(await read(path.join(root, 'd/sub/f2')), '2');
      tt.equal(await kind(path.join(root, 'd/sub/f1')), 'none');
    },
  },
  {
    name: 'whiteout of a remembered dir, then an entry under it: refused, not written into the old dir',
    entries: () => [{ name: 'd/f', data: '1' }, { name: '.wh.d' }, { name: 'd/g', data: '2' }],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'd/g' },
  },
  {
    name: 'dir replaced by a file, then an entry under it: refused',
    entries: () => [{ name: 'd/', type: 'directory' }, { name: 'd/f', data: '1' }, { name: 'd', data: 'now a file' }, { name: 'd/g', data: '2' }],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'd/g' },
  },
  {
    name: 'hard link to a file in a dir that a symlink replaced: refused (it would go through the symlink)',
    entries: () => [
      { name: 'e/f', data: 'e' },
      { name: 'd/f', data: 'd' },
      { name: 'd', type: 'symlink', linkname: 'e' },
      { name: 'h', type: 'link', linkname: 'd/f' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  {
    name: 'hard link to a file in a dir that a symlink to outside replaced: refused',
    entries: (sb) => [
      { name: 'd/file', data: 'd' },
      { name: 'd', type: 'symlink', linkname: sb.sentinel },
      { name: 'h', type: 'link', linkname: 'd/file' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  {
    name: 'hard link to a file in a dir that was removed and made again: refused (the file is gone)',
    entries: () => [{ name: 'd/f', data: 'd' }, { name: 'd', data: 'file' }, { name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd/f' }],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  {
    name: 'hard link to a file in a dir given twice: the dir is kept, the link works',
    entries: () => [{ name: 'd/', type: 'directory' }, { name: 'd/f', data: 'd' }, { name: 'd/', type: 'directory', mode: 0o700 }, { name: 'h', type: 'link', linkname: 'd/f' }],
    check: async (root, tt) => {
      tt.equal((await fs.stat(path.join(root, 'h'))).ino, (await fs.stat(path.join(root, 'd/f'))).ino);
      tt.equal((await fs.stat(path.join(root, 'd'))).mode & 0o7777, 0o700, "the later entry's mode");
    },
  },
  {
    name: 'hard link, then its source replaced: the link keeps the old content, the name gets the new',
    entries: () => [{ name: 'f', data: 'old' }, { name: 'h', type: 'link', linkname: 'f' }, { name: 'f', data: 'new content' }, { name: 'h2', type: 'link', linkname: 'f' }],
    check: async (root, tt) => {
      tt.equal(await read(path.join(root, 'h')), 'old');
      tt.equal(await read(path.join(root, 'f')), 'new content');
      tt.equal((await fs.stat(path.join(root, 'h2'))).ino, (await fs.stat(path.join(root, 'f'))).ino);
    },
  },
  {
    name: 'hard link replaces an existing entry of its own name',
    entries: () => [{ name: 'a', data: 'a' }, { name: 'b/', type: 'directory' }, { name: 'b/x', data: 'x' }, { name: 'b', type: 'link', linkname: 'a' }],
    check: async (root, tt) => {
      tt.equal(await read(path.join(root, 'b')), 'a');
      tt.equal((await fs.stat(path.join(root, 'b'))).nlink, 2);
    },
  },
  {
    name: 'file replaced by a dir, then children',
    entries: () => [{ name: 'x', data: 'file' }, { name: 'x/', type: 'directory' }, { name: 'x/y', data: 'child' }],
    check: async (root, tt) => tt.equal(await read(path.join(root, 'x/y')), 'child'),
  },
  {
    name: 'every type over every type',
    entries: () => {
      const types: TarEntry[] = [
        { name: 'n', data: 'file' },
        { name: 'n/', type: 'directory' },
        { name: 'n', type: 'symlink', linkname: 'somewhere' },
        { name: 'n', type: 'link', linkname: 'src' },
        { name: 'n', type: 'fifo' },
        { name: '.wh.n' },
      ];
      const out: TarEntry[] = [{ name: 'src', data: 'src' }];
      for (const a of types) {
        for (const b of types) {
          out.push(a);
          if (a.type === 'directory') out.push({ name: 'n/inner', data: 'i' });
          out.push(b);
        }
      }
      return out;
    },
    check: async (root, tt) => tt.equal(await kind(path.join(root, 'n')), 'chardev', 'the last entry wins'),
  },
  {
    name: 'a whiteout replaced by a file, then by a whiteout again',
    entries: () => [{ name: '.wh.w' }, { name: 'w', data: 'back' }, { name: '.wh.w' }],
    check: async (root, tt) => tt.equal(await kind(path.join(root, 'w')), 'chardev'),
  },
];

for (const c of cases) {
  t.test(c.name, async (tt) => {
    const sb = await makeSandbox(tt);
    const before = await sb.snapshot();
    let res: ApplyResult | undefined;
    let err: { code?: string; message?: string } | undefined;
    try {
      res = await applyLayer(tarStreamOf(await makeTar(c.entries(sb))), sb.root, { layerDigest });
    } catch (e) {
      err = e as typeof err;
    }
    if (c.refuse) {
      tt.equal(err?.code, c.refuse.code, `refused with ${c.refuse.code}`);
      tt.match(err?.message ?? '', c.refuse.entry, 'error names the entry');
    } else {
      tt.equal(err, undefined, 'applied');
      await c.check?.(sb.root, tt);
      const { recorded, recomputed } = await recordedAndRecomputed(sb.root, res!);
      tt.equal(recorded.digest, recomputed.digest, 'tree digest from recorded content hashes = recomputed');
    }
    tt.equal(await sb.snapshot(), before, 'nothing outside root changed');
  });
}
