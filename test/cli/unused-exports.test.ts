// Nothing in src/ is exported for nobody: an export that no module of src/, test/, bench/ or scripts/ uses, and
// that its own module does not use either, is dead code and fails this test (test/helpers/unused-exports.ts
// says what counts as a use). Exports only their own module uses (mostly the option and result shapes of
// exported functions, and constants named in them) are the public shapes of what is imported: counted in a
// comment, not failed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { findUnusedExports } from '../helpers/unused-exports.js';
import { projectRoot } from '../helpers/cli.js';

/**
 * Entry points: exports that something outside the parsed tree uses, by file and name. Each entry says who.
 * Command modules need no entry: src/cli/command-table.ts's `(await import(M)).name` is read as a use. The
 * scripts run by path (src/cli/entry.ts, the bundle's entry; src/cli/gen-reference.ts; src/demo/main.ts;
 * bench/main.ts, whose exports are not checked as it is outside src/) export nothing and need none either.
 */
const entryPoints: { file: string; name: string; why: string }[] = [
  // The CLI entry: bin/oci-s2i.js imports it from dist/src/cli/launch.js (bin/ is not parsed).
  { file: 'src/cli/launch.ts', name: 'launch', why: 'bin/oci-s2i.js' },
];

t.test('no export in src/ is dead code', async (t) => {
  const started = Date.now();
  const found = findUnusedExports(projectRoot);
  const key = (x: { file: string; name: string }) => `${x.file}#${x.name}`;
  const allowed = new Set(entryPoints.map(key));
  const dead = found.filter((x) => !x.local && !allowed.has(key(x))).map((x) => `${x.file}:${x.line} ${x.name}`);
  t.same(dead, [], 'exports nothing uses (delete them, or add an entry point with who uses it)');
  t.comment(`${found.filter((x) => x.local).length} exports are used only inside their own module`);
  // An allow-list entry that is used after all is stale: it would hide the next dead export of that name.
  const stale = entryPoints.filter((e) => !found.some((x) => key(x) === key(e))).map(key);
  t.same(stale, [], 'entry points that something in the tree now imports (remove them from the list)');
  // Not a timed assertion (a loaded CI machine would fail it): the time is reported; what once made it slow (a walk
  // into bench/.data) is pinned by the dot-dir test below.
  t.comment(`the scan took ${Date.now() - started} ms`);
});

t.test('the scan sees the uses it claims to', async (t) => {
  const found = findUnusedExports(projectRoot);
  const names = new Set(found.map((x) => `${x.file}#${x.name}`));
  // (await import('./commands/build.js')).buildCommand in command-table.ts
  t.notOk(names.has('src/cli/commands/build.ts#buildCommand'), 'a lazy command module export is used');
  // `await import(${url})` inside a child process's code string (test/cli/stall-guard.test.ts)
  t.notOk(names.has('src/cli/main.ts#main'), 'main() is used');
  // a re-export counts as a use of the original
  t.notOk(names.has('src/registry/blob-upload.ts#WHOLE_UPLOAD_MAX'), 'a re-exported name is used');
  // and it does report: the CLI entry is found unused inside the tree, which is why it is on the list
  t.ok(names.has('src/cli/launch.ts#launch'), 'the CLI entry is reported without its allow-list entry');
});

t.test('the scan reads no dot dir (bench/.data holds thousands of generated .js files)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-unused-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'src'));
  mkdirSync(path.join(dir, 'bench', '.data'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'a.ts'), 'export const dead = 1;\n');
  // A use hidden in a dot dir must not count: if it did, the scan walked there.
  writeFileSync(path.join(dir, 'bench', '.data', 'b.ts'), "import { dead } from '../../src/a.js';\nconsole.log(dead);\n");
  t.same(findUnusedExports(dir).map((x) => x.name), ['dead'], 'the use in bench/.data is not seen');
});
