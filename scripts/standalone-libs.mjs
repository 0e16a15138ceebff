// What scripts/standalone.mjs copies into dist/standalone/lib: the shared libraries and the dynamic loader a
// file needs, read from ldd's output (a pure function: test/standalone/standalone-libs.test.ts).

export class LddError extends Error {
  name = 'LddError';
}

/**
 * ldd's answer for `file` as { libs: Map<soname, path>, loader }. glibc's ldd (and musl's) print one
 * `soname => path (0xADDR)` per library, the loader as a bare `path (0xADDR)`, and the vDSO as
 * `linux-vdso.so.1 (0xADDR)` (the kernel's: not copied). Throws LddError for a library ldd cannot find, for a
 * file without a loader (static), and for a line of no known shape: a directory missing a library would only
 * fail where it is run.
 */
export function parseLdd(text, file) {
  const libs = new Map();
  let loader;
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    let m;
    if ((m = /^(\S+) => not found$/.exec(line))) throw new LddError(`${file} needs ${m[1]}, which ldd cannot find`);
    if ((m = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line))) {
      // musl's ldd lists its loader (which is also its libc) this way too.
      if (m[1] !== m[2]) libs.set(m[1], m[2]);
      continue;
    }
    if ((m = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line))) {
      loader = m[1];
      continue;
    }
    if (/^[^\s/]+ \(0x[0-9a-f]+\)$/.test(line)) continue;
    if (/statically linked|not a dynamic executable/.test(line)) throw new LddError(`${file} is statically linked: no loader to start it with`);
    throw new LddError(`ldd ${file}: a line of unknown shape: ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (loader === undefined) throw new LddError(`ldd ${file} names no dynamic loader`);
  for (const [name, p] of libs) if (p === loader) libs.delete(name);
  return { libs, loader };
}
