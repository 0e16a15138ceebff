// Hostile layers: every case must leave everything outside root untouched; refusals name the entry and layer.
// Legitimate look-alikes (absolute /etc/localtime symlink, deep ../ symlinks, in-layer hardlinks) must keep working.
import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { applyLayer } from '../../src/layer/apply.js';
import { native } from '../../src/sys/native.js';
import { makeSandbox, makeTar, recordedAndRecomputed, tarStreamOf, sha256, type Sandbox, type TarEntry } from './apply-helpers.js';

const layerDigest = `sha256:${'ab'.repeat(32)}`;

interface Case {
  name: string;
  entries: (sb: Sandbox) => TarEntry[];
  /** Expected error code and the entry name the message must contain; absent = must succeed. */
  refuse?: { code: string; entry: string };
  limits?: { maxBytes?: number; maxEntries?: number };
  check?: (sb: Sandbox, tt: Test, warnings: string[]) => Promise<unknown>;
}


const rel = (sb: Sandbox): string => sb.sentinel.slice(1); // the sentinel's path, as seen from inside root

async function isFile(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => null))?.isFile() ?? false;
}

const cases: Case[] = [
  { name: 'dot-dot name', entries: () => [{ name: '../escape', data: 'x' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: '../escape' } },
  { name: 'dot-dot in the middle', entries: () => [{ name: 'a/../../escape', data: 'x' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: 'a/../../escape' } },
  { name: 'dot-dot into sentinel', entries: () => [{ name: '../sentinel/file', data: 'pwned' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: '../sentinel/file' } },
  {
    name: 'absolute name is clamped into root',
    entries: () => [{ name: '/abs-file', data: 'x' }],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, 'abs-file'))),
  },
  {
    name: 'absolute name of the sentinel is clamped',
    entries: (sb) => [{ name: `${sb.sentinel}/file`, data: 'pwned' }],
    check: async (sb, tt) => tt.equal(await fs.readFile(path.join(sb.root, rel(sb), 'file'), 'utf8'), 'pwned'),
  },
  {
    name: 'symlink to /etc then write link/passwd',
    entries: () => [
      { name: 'link', type: 'symlink', linkname: '/etc' },
      { name: 'link/passwd', data: 'root::0:0::/:/bin/sh\n' },
    ],
    check: async (sb, tt) => {
      tt.equal(await fs.readlink(path.join(sb.root, 'link')), '/etc', 'the symlink itself is kept verbatim');
      tt.equal(await fs.readFile(path.join(sb.root, 'etc/passwd'), 'utf8'), 'root::0:0::/:/bin/sh\n', 'written in-root');
    },
  },
  {
    name: 'etc symlink to /etc is a loop in-root',
    entries: () => [
      { name: 'etc', type: 'symlink', linkname: '/etc' },
      { name: 'etc/passwd', data: 'root::0:0::/:/bin/sh\n' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'etc/passwd' },
  },
  {
    name: 'absolute symlink to the sentinel then write through it',
    entries: (sb) => [
      { name: 'evil', type: 'symlink', linkname: sb.sentinel },
      { name: 'evil/file', data: 'pwned' },
      { name: 'evil/new', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.equal(await fs.readFile(path.join(sb.root, rel(sb), 'file'), 'utf8'), 'pwned'),
  },
  {
    name: 'relative ../../.. symlink then write through it',
    entries: () => [
      { name: 'a/b/up', type: 'symlink', linkname: '../../../../../..' },
      { name: 'a/b/up/escaped', data: 'x' },
    ],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, 'escaped')), 'clamped at root'),
  },
  {
    name: 'relative symlink to ../sentinel then write through it',
    entries: () => [
      { name: 's', type: 'symlink', linkname: '../sentinel' },
      { name: 's/file', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, 'sentinel', 'file'))),
  },
  {
    name: 'chain of relative symlinks escaping',
    entries: () => [
      { name: 'c', type: 'symlink', linkname: '../../sentinel' },
      { name: 'b', type: 'symlink', linkname: 'c' },
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'a/file', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, 'sentinel', 'file'))),
  },
  {
    name: 'chain through an absolute symlink',
    entries: (sb) => [
      { name: 'x/y', type: 'symlink', linkname: '../../../..' + sb.sentinel },
      { name: 'a', type: 'symlink', linkname: '/x/y' },
      { name: 'a/file', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, rel(sb), 'file'))),
  },
  {
    name: 'symlink loop is refused',
    entries: () => [
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
      { name: 'a/file', data: 'x' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'a/file' },
  },
  {
    name: 'symlink replaced by a directory',
    entries: (sb) => [
      { name: 'd', type: 'symlink', linkname: sb.sentinel },
      { name: 'd', type: 'directory' },
      { name: 'd/file', data: 'inside' },
    ],
    check: async (sb, tt) => {
      tt.ok((await fs.lstat(path.join(sb.root, 'd'))).isDirectory());
      tt.equal(await fs.readFile(path.join(sb.root, 'd', 'file'), 'utf8'), 'inside');
    },
  },
  {
    name: 'directory replaced by a symlink, then written through',
    entries: (sb) => [
      { name: 'd', type: 'directory' },
      { name: 'd/x', data: 'x' },
      { name: 'd', type: 'symlink', linkname: sb.sentinel },
      { name: 'd/file', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.ok(await isFile(path.join(sb.root, rel(sb), 'file'))),
  },
  {
    name: 'file over a symlink replaces the symlink, never writes through it',
    entries: (sb) => [
      { name: 'f', type: 'symlink', linkname: path.join(sb.sentinel, 'file') },
      { name: 'f', data: 'pwned' },
    ],
    check: async (sb, tt) => tt.equal(await fs.readFile(path.join(sb.root, 'f'), 'utf8'), 'pwned'),
  },
  { name: 'hardlink to /etc/passwd', entries: () => [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' } },
  { name: 'hardlink with dot-dot', entries: () => [{ name: 'h', type: 'link', linkname: '../sentinel/file' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' } },
  {
    name: 'hardlink through a symlink to /etc',
    entries: () => [
      { name: 'l', type: 'symlink', linkname: '/etc' },
      { name: 'h', type: 'link', linkname: 'l/passwd' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  {
    name: 'hardlink through a symlink even when it stays inside',
    entries: () => [
      { name: 'real/f', data: 'x' },
      { name: 'l', type: 'symlink', linkname: 'real' },
      { name: 'h', type: 'link', linkname: 'l/f' },
    ],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  {
    name: 'hardlink to the sentinel by absolute path',
    entries: (sb) => [{ name: 'h', type: 'link', linkname: path.join(sb.sentinel, 'file') }],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: 'h' },
  },
  { name: 'bare .wh. is refused', entries: () => [{ name: '.wh.' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: '.wh.' } },
  { name: 'bare .wh. in a dir is refused', entries: () => [{ name: 'd/.wh.' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: 'd/.wh.' } },
  { name: 'whiteout of ..', entries: () => [{ name: 'd/.wh...' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: 'd/.wh...' } },
  { name: 'whiteout with a dot-dot path', entries: () => [{ name: '../.wh.sentinel' }], refuse: { code: 'ERR_UNSAFE_PATH', entry: '../.wh.sentinel' } },
  {
    name: 'whiteout through a symlink stays inside',
    entries: (sb) => [
      { name: 'l', type: 'symlink', linkname: sb.sentinel },
      { name: 'l/.wh.file' },
    ],
    check: async (sb, tt) => {
      const st = await fs.lstat(path.join(sb.root, rel(sb), 'file'));
      tt.ok(st.isCharacterDevice() && st.rdev === 0, 'whiteout placed in-root');
    },
  },
  {
    name: 'opaque marker through a symlink stays inside',
    entries: (sb) => [
      { name: 'l', type: 'symlink', linkname: sb.sentinel },
      { name: 'l/.wh..wh..opq' },
    ],
    check: async (sb, tt) => {
      tt.equal(native().lgetxattr(sb.sentinel, 'user.overlay.opaque'), null);
      tt.equal(native().lgetxattr(path.join(sb.root, rel(sb)), 'user.overlay.opaque')?.toString(), 'y');
    },
  },
  {
    name: 'opaque dir marker',
    entries: () => [{ name: 'd', type: 'directory' }, { name: 'd/.wh..wh..opq' }, { name: 'd/keep', data: 'k' }],
    check: async (sb, tt) => {
      tt.equal(native().lgetxattr(path.join(sb.root, 'd'), 'user.overlay.opaque')?.toString(), 'y');
      tt.ok(await isFile(path.join(sb.root, 'd', 'keep')));
      tt.notOk(await fs.lstat(path.join(sb.root, 'd', '.wh..wh..opq')).catch(() => null), 'marker not written as a file');
    },
  },
  {
    name: 'forged overlay xattr is ignored',
    entries: () => [{ name: 'd', type: 'directory', pax: { 'SCHILY.xattr.user.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.redirect': '/x' } }],
    check: async (sb, tt, warnings) => {
      tt.equal(native().lgetxattr(path.join(sb.root, 'd'), 'user.overlay.opaque'), null);
      tt.match(warnings.join('\n'), /ignored 2 overlay extended attributes/);
    },
  },
  {
    name: 'device node named with dot-dot',
    entries: () => [{ name: '../null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
    refuse: { code: 'ERR_UNSAFE_PATH', entry: '../null' },
  },
  {
    name: 'device node through a symlink lands inside',
    entries: (sb) => [
      { name: 'l', type: 'symlink', linkname: sb.sentinel },
      { name: 'l/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o600 },
    ],
    check: async (sb, tt, warnings) => {
      const st = await fs.lstat(path.join(sb.root, rel(sb), 'sda')).catch(() => null);
      if (st) tt.ok(st.isBlockDevice());
      else tt.match(warnings.join('\n'), /skipped 1 device nodes/);
    },
  },
  {
    name: 'entry-count bomb with a small limit',
    entries: () => Array.from({ length: 300 }, (_, i) => ({ name: `f${i}` })),
    limits: { maxEntries: 100 },
    refuse: { code: 'ERR_LAYER_TOO_LARGE', entry: '100 entries' },
  },
  {
    name: 'size bomb with a small limit',
    entries: () => [{ name: 'small', data: 'x'.repeat(500) }, { name: 'big', data: Buffer.alloc(600) }],
    limits: { maxBytes: 1000 },
    refuse: { code: 'ERR_LAYER_TOO_LARGE', entry: 'big' },
  },
  {
    name: 'legit: absolute /etc/localtime symlink',
    entries: () => [
      { name: 'usr/share/zoneinfo/UTC', data: 'TZif2' },
      { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
    ],
    check: async (sb, tt) => tt.equal(await fs.readlink(path.join(sb.root, 'etc/localtime')), '/usr/share/zoneinfo/UTC'),
  },
  {
    name: 'legit: deep ../../../usr/lib symlink that stays inside, and entries under it',
    entries: () => [
      { name: 'usr/lib/', type: 'directory' },
      { name: 'opt/app/lib/x/sys', type: 'symlink', linkname: '../../../../../usr/lib' },
      { name: 'opt/app/lib/x/sys/libfoo.so', data: 'elf' },
    ],
    check: async (sb, tt) => {
      tt.equal(await fs.readlink(path.join(sb.root, 'opt/app/lib/x/sys')), '../../../../../usr/lib');
      tt.equal(await fs.readFile(path.join(sb.root, 'usr/lib/libfoo.so'), 'utf8'), 'elf');
    },
  },
  {
    name: 'legit: hardlinks within a layer',
    entries: () => [
      { name: 'bin/busybox', data: 'bb', mode: 0o755 },
      { name: 'bin/sh', type: 'link', linkname: 'bin/busybox' },
      { name: 'usr/bin/ls', type: 'link', linkname: '/bin/busybox' },
    ],
    check: async (sb, tt) => {
      const a = await fs.stat(path.join(sb.root, 'bin/busybox'));
      tt.equal((await fs.stat(path.join(sb.root, 'bin/sh'))).ino, a.ino);
      tt.equal((await fs.stat(path.join(sb.root, 'usr/bin/ls'))).ino, a.ino);
      tt.equal(a.nlink, 3);
    },
  },
  {
    name: 'whiteout after an entry of the same layer: later wins',
    entries: () => [{ name: 'd/f', data: 'x' }, { name: 'd/.wh.f' }, { name: 'g', data: 'y' }, { name: '.wh.g' }, { name: 'g', data: 'z' }],
    check: async (sb, tt) => {
      tt.ok((await fs.lstat(path.join(sb.root, 'd/f'))).isCharacterDevice());
      tt.equal(await fs.readFile(path.join(sb.root, 'g'), 'utf8'), 'z');
    },
  },
];

const passwdBefore = sha256(await fs.readFile('/etc/passwd'));

for (const c of cases) {
  t.test(c.name, async (tt) => {
    const sb = await makeSandbox(tt);
    const before = await sb.snapshot();
    const warnings: string[] = [];
    const tar = await makeTar(c.entries(sb));
    const run = applyLayer(tarStreamOf(tar), sb.root, { layerDigest, onWarning: (m) => warnings.push(m), ...(c.limits ? { limits: c.limits } : {}) });
    if (c.refuse) {
      const err = (await run.then(
        () => null,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | null;
      tt.equal(err?.code, c.refuse.code, `refused with ${c.refuse.code}`);
      tt.match(err?.message ?? '', c.refuse.entry, 'error names the entry');
      if (c.refuse.code === 'ERR_UNSAFE_PATH') tt.match(err?.message ?? '', layerDigest, 'error names the layer');
    } else {
      const res = await run;
      tt.equal(res.diffID, sha256(tar));
      await c.check?.(sb, tt, warnings);
      const { recorded, recomputed } = await recordedAndRecomputed(sb.root, res);
      tt.equal(recorded.digest, recomputed.digest, 'tree digest from the recorded content hashes = recomputed from scratch');
      tt.equal(recorded.filesRead, 0, 'every file had a recorded content hash');
    }
    tt.equal(await sb.snapshot(), before, 'nothing outside root changed');
    tt.equal(sha256(await fs.readFile('/etc/passwd')), passwdBefore, '/etc/passwd untouched');
  });
}
