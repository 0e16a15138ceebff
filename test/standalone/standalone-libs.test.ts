// parseLdd (scripts/standalone-libs.mjs): what scripts/standalone.mjs copies into dist/standalone/lib, from
// ldd's output. Real outputs (glibc's for this Node and an addon, musl's), then each bad shape, refused with
// one line rather than a directory that fails only where it is run.
import t from 'tap';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../helpers/cli.js';

interface Libs {
  parseLdd(text: string, file: string): { libs: Map<string, string>; loader: string };
  LddError: new (message: string) => Error;
}
const { parseLdd, LddError } = (await import(pathToFileURL(path.join(projectRoot, 'scripts', 'standalone-libs.mjs')).href)) as Libs;

const glibcNode = `\tlinux-vdso.so.1 (0x00007ffc5b1f2000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f0a1a276000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0a1a000000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a19d3e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1a28e000)
`;
const glibcArm = `\tlinux-vdso.so.1 (0x0000ffff9a1f0000)
\tlibc.so.6 => /lib/aarch64-linux-gnu/libc.so.6 (0x0000ffff99f70000)
\t/lib/ld-linux-aarch64.so.1 (0x0000ffff9a1b3000)
`;
const musl = `\t/lib/ld-musl-x86_64.so.1 (0x7f3c1c9a4000)
\tlibstdc++.so.6 => /usr/lib/libstdc++.so.6 (0x7f3c1c600000)
\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f3c1c9a4000)
`;

t.test('the shapes ldd prints', async (t) => {
  const node = parseLdd(glibcNode, 'node');
  t.equal(node.loader, '/lib64/ld-linux-x86-64.so.2');
  t.same([...node.libs], [
    ['libdl.so.2', '/lib/x86_64-linux-gnu/libdl.so.2'],
    ['libstdc++.so.6', '/lib/x86_64-linux-gnu/libstdc++.so.6'],
    ['libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6'],
  ], 'by soname, the vDSO left out');
  t.equal(parseLdd(glibcArm, 'node').loader, '/lib/ld-linux-aarch64.so.1', 'the loader is named by ldd, not assumed');
  const m = parseLdd(musl, 'node');
  t.equal(m.loader, '/lib/ld-musl-x86_64.so.1');
  t.same([...m.libs.keys()], ['libstdc++.so.6'], "musl's libc is its loader: copied once, as the loader");
});

t.test('bad input is one line', async (t) => {
  const bad: Array<[string, RegExp]> = [
    [`${glibcNode}\tlibdeflate.so.0 => not found\n`, /^deflate\.node needs libdeflate\.so\.0, which ldd cannot find$/],
    ['\tstatically linked\n', /is statically linked/],
    ['\tnot a dynamic executable\n', /is statically linked/],
    ['\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a19d3e000)\n', /names no dynamic loader/],
    ['', /names no dynamic loader/],
    [`${glibcNode}\tlibx.so => relative/libx.so (0x1)\n`, /a line of unknown shape/],
    [`${glibcNode}${'x'.repeat(10_000)}\n`, /^ldd deflate\.node: a line of unknown shape: "x{200}"$/],
  ];
  for (const [text, message] of bad) {
    let caught: unknown;
    try {
      parseLdd(text, 'deflate.node');
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof LddError, String(caught));
    t.match((caught as Error).message, message);
  }
});
