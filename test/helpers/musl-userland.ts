// A musl userland for builder images (what Alpine is, made from Debian's packages since only Debian's mirror is
// reachable): busybox compiled against musl by scripts/musl-busybox.sh (build/musl/busybox, dynamically linked,
// interpreter /lib/ld-musl-x86_64.so.1) and musl's loader, which is also its libc, from Debian's `musl` package.
// As in Alpine, /lib/ld-musl-x86_64.so.1 is the file and /lib/libc.musl-x86_64.so.1 a link to it; busybox's
// NEEDED `libc.so` is the loader itself (musl's loader answers for libc by name). Nothing of glibc.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { OtherBusybox } from '../../src/demo/busybox-image.js';
import { projectRoot } from './cli.js';

/** Where musl's loader is, on this machine (Debian's `musl` package) and in the image. */
export const muslLoader = '/lib/ld-musl-x86_64.so.1';
const muslBusyboxPath = path.join(projectRoot, 'build', 'musl', 'busybox');

/** The musl busybox for makeBuilderImage({ busybox }), or why it cannot be made here (a one-line fix). */
export function muslBusybox(): OtherBusybox | string {
  if (process.arch !== 'x64') return `the musl userland is made for x86-64 only (this is ${process.arch})`;
  if (!existsSync(muslLoader)) return `${muslLoader} is missing: apt-get install -y musl (scripts/setup.sh test does)`;
  if (!existsSync(muslBusyboxPath)) return `${path.relative(projectRoot, muslBusyboxPath)} is missing: bash scripts/musl-busybox.sh (scripts/setup.sh test runs it)`;
  return {
    binary: muslBusyboxPath,
    files: [
      { name: 'lib/', type: 'directory' },
      { name: 'lib/ld-musl-x86_64.so.1', source: realpathSync(muslLoader), mode: 0o755 },
      { name: 'lib/libc.musl-x86_64.so.1', type: 'symlink', linkname: 'ld-musl-x86_64.so.1' },
    ],
  };
}
