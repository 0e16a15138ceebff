// src/sys/in-root.ts: resolution inside a root (openat2 RESOLVE_IN_ROOT and the checked walk must agree), and
// descriptor-based writes that replace an image's symlinks instead of following them out of the root. Every case
// plants canaries outside the root that must stay byte-identical.
import t from 'tap';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InRoot, UnsafeRootPathError, copyTreeInto, rootComponents, useCheckedWalk, chownTreeAt } from '../../src/sys/in-root.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-inroot-'));
t.teardown(() => {
  useCheckedWalk(false);
  rmSync(tmp, { recursive: true, force: true });
});

/** A root with the shapes hostile images use, and canaries outside it. */
function makeRoot(name: string): { root: string; outside: string; canary: string } {
  const base = path.join(tmp, name);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  const canary = path.join(outside, 'canary');
  writeFileSync(canary, 'canary\n');
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(outside, 'passwd'), 'host:x:0:0::/:/bin/sh\n');
  symlinkSync('usr/lib', path.join(root, 'lib')); // ordinary relative link
  symlinkSync('/usr/lib', path.join(root, 'abslib')); // ordinary absolute link
  symlinkSync(outside, path.join(root, 'out-abs')); // absolute host path: means <root><outside> in-root
  symlinkSync('../../../../../../../..' + outside, path.join(root, 'out-rel')); // .. past the root
  symlinkSync('/etc/passwd', path.join(root, 'pw')); // in-root: the image's passwd, not the host's
  symlinkSync(path.relative(path.join(root, 'etc'), canary), path.join(root, 'etc/host-canary')); // relative escape
  symlinkSync('loop2', path.join(root, 'loop1'));
  symlinkSync('loop1', path.join(root, 'loop2'));
  symlinkSync('/does/not/exist', path.join(root, 'dangling'));
  return { root, outside, canary };
}

for (const mode of ['openat2', 'checked walk'] as const) {
  t.test(`resolution (${mode})`, async (t) => {
    useCheckedWalk(mode === 'checked walk');
    t.teardown(() => useCheckedWalk(false));
    const { root, outside, canary } = makeRoot(`resolve-${mode.replace(' ', '-')}`);
    InRoot.with(root, (r) => {
      const host = (p: string) => {
        const fd = r.resolve(rootComponents(p));
        if (fd === undefined) return undefined;
        try {
          return InRoot.hostPathOf(fd);
        } finally {
          closeSync(fd);
        }
      };
      t.equal(host('/lib'), path.join(root, 'usr/lib'), 'relative link followed inside');
      t.equal(host('/abslib'), path.join(root, 'usr/lib'), 'absolute link restarts at the root');
      t.equal(host('/out-abs'), undefined, 'absolute host path is looked up inside the root (missing there)');
      t.equal(host('/out-rel'), undefined, '.. stops at the root');
      t.equal(r.readFile('/pw')?.toString(), 'root:x:0:0::/root:/bin/sh\n', 'reads the image file, not the host one');
      t.equal(r.readFile('/etc/host-canary'), undefined, 'a relative link past the root does not reach the host file');
      t.throws(() => r.resolve(rootComponents('/loop1')), UnsafeRootPathError, 'loops are refused');
      t.equal(host('/dangling'), undefined);
      t.equal(r.kind('/lib'), 'symlink');
      t.equal(r.kind('/etc/passwd'), 'file');
      t.equal(r.kind('/nope'), undefined);
    });
    t.equal(readFileSync(canary, 'utf8'), 'canary\n');
    t.same(readdirSync(outside).sort(), ['canary', 'passwd']);
  });

  t.test(`openDir: create, replace, empty (${mode})`, async (t) => {
    useCheckedWalk(mode === 'checked walk');
    t.teardown(() => useCheckedWalk(false));
    const { root, outside, canary } = makeRoot(`open-${mode.replace(' ', '-')}`);
    symlinkSync(outside, path.join(root, 'tmp-src'));
    mkdirSync(path.join(root, 'arts'));
    writeFileSync(path.join(root, 'arts/old'), 'x');
    InRoot.with(root, (r) => {
      // parents through links are followed in-root; missing ones created
      const a = r.openDir('/lib/x/y', { create: true });
      t.equal(InRoot.hostPathOf(a), path.join(root, 'usr/lib/x/y'));
      closeSync(a);
      // 'follow' of a link to a host path: resolved in-root, where it is missing → created inside the root
      // (securejoin's MkdirAll), never outside
      const o = r.openDir('/out-abs/made', { create: true });
      t.equal(InRoot.hostPathOf(o), path.join(root, outside, 'made'));
      closeSync(o);
      t.throws(() => r.openDir('/dangling'), { code: 'ENOENT' }, 'without create, a dangling link is missing');
      // 'replace': the image's link at the destination is replaced by a new directory
      const b = r.openDir('/tmp-src', { create: true, last: 'replace' });
      t.equal(InRoot.hostPathOf(b), path.join(root, 'tmp-src'));
      closeSync(b);
      t.ok(lstatSync(path.join(root, 'tmp-src')).isDirectory());
      // 'empty'
      const c = r.openDir('/arts', { create: true, last: 'empty' });
      closeSync(c);
      t.same(readdirSync(path.join(root, 'arts')), []);
      t.throws(() => r.openDir('/a/../b'), UnsafeRootPathError, '.. in a path given to openDir');
      t.throws(() => r.openDir('/etc/passwd/x', { create: true }), UnsafeRootPathError, 'a file as a parent');
    });
    t.equal(readFileSync(canary, 'utf8'), 'canary\n');
    t.same(readdirSync(outside).sort(), ['canary', 'passwd'], 'nothing created outside');
  });
}

t.test('copyTreeInto replaces the image links it meets, never writes through them', async (t) => {
  const { root, outside, canary } = makeRoot('copy');
  const dest = path.join(root, 'dest');
  mkdirSync(dest);
  symlinkSync(canary, path.join(dest, 'file')); // would overwrite the host canary
  symlinkSync(outside, path.join(dest, 'dir')); // would write into the host dir
  symlinkSync('../../outside/canary', path.join(dest, 'rel')); // relative to the host file
  const staging = path.join(tmp, 'staging');
  mkdirSync(path.join(staging, 'dir'), { recursive: true });
  writeFileSync(path.join(staging, 'file'), 'from source\n', { mode: 0o640 });
  writeFileSync(path.join(staging, 'rel'), 'rel\n');
  writeFileSync(path.join(staging, 'dir/inner'), 'inner\n');
  symlinkSync('file', path.join(staging, 'link'));
  InRoot.with(root, (r) => {
    const fd = r.openDir('/dest');
    try {
      copyTreeInto(staging, fd, { uid: 1234, gid: 0 });
      chownTreeAt(fd, { uid: 1234, gid: 0 });
    } finally {
      closeSync(fd);
    }
  });
  t.equal(readFileSync(canary, 'utf8'), 'canary\n', 'host file untouched');
  t.equal(statSync(canary).uid, process.getuid?.() ?? 0, 'host file owner untouched');
  t.same(readdirSync(outside).sort(), ['canary', 'passwd'], 'nothing written into the host dir');
  t.equal(readFileSync(path.join(dest, 'file'), 'utf8'), 'from source\n');
  t.equal(statSync(path.join(dest, 'file')).mode & 0o777, 0o640);
  t.ok(lstatSync(path.join(dest, 'dir')).isDirectory(), 'link replaced by a directory');
  t.equal(readFileSync(path.join(dest, 'dir/inner'), 'utf8'), 'inner\n');
  t.equal(readlinkSync(path.join(dest, 'link')), 'file');
  if (process.getuid?.() === 0) t.equal(lstatSync(path.join(dest, 'link')).uid, 1234, 'links owned, not their targets');
});

t.test('rootComponents refuses .. and NUL', async (t) => {
  t.same(rootComponents('/a//b/./c/'), ['a', 'b', 'c']);
  t.same(rootComponents('/'), []);
  t.throws(() => rootComponents('/a/../b'), UnsafeRootPathError);
  t.throws(() => rootComponents('/a\0b'), UnsafeRootPathError);
});
