// The undici shim of the CLI bundle (issue 11): src/ takes undici only through src/sys/http-client.ts, every
// name that facade exports is in scripts/undici-lite.cjs, and the bundle is refused, with one line, when the
// installed undici is not the pinned version or lacks a file undici-lite.cjs requires (crafted package trees).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as facade from '../../src/sys/http-client.js';
import { projectRoot } from '../helpers/cli.js';

interface ShimCheck {
  UndiciShimError: new (message: string) => Error;
  requiredUndiciPaths(source: string): string[];
  checkUndiciShim(root: string, lite?: string): { version: string; paths: string[] };
  checkFacadeNames(names: string[], lite: string): void;
}

const scripts = path.join(projectRoot, 'scripts');
const lite = path.join(scripts, 'undici-lite.cjs');
const check = (await import(pathToFileURL(path.join(scripts, 'undici-shim-check.mjs')).href)) as ShimCheck;
const pinned = (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.undici!;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-undici-shim-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** A package tree at a fresh directory: package.json pinning `pin`, undici `installed` with the files `files`
 *  (paths as undici-lite requires them), and a copy of undici-lite.cjs. */
function packageTree(name: string, pin: string, installed: string, files: string[]): string {
  const root = path.join(tmp, name);
  mkdirSync(path.join(root, 'scripts'), { recursive: true });
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name, type: 'module', dependencies: { undici: pin } }));
  const undici = path.join(root, 'node_modules', 'undici');
  mkdirSync(undici, { recursive: true });
  writeFileSync(path.join(undici, 'package.json'), JSON.stringify({ name: 'undici', version: installed, main: 'index.js' }));
  for (const f of files) {
    const file = path.join(undici, `${f.slice('undici/'.length)}.js`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'module.exports = {}\n');
  }
  copyFileSync(lite, path.join(root, 'scripts', 'undici-lite.cjs'));
  return root;
}

/** The .ts files under `dir`, recursively. */
function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

t.test('every src/ import of undici goes through src/sys/http-client.ts', async (t) => {
  const src = path.join(projectRoot, 'src');
  const importsUndici = /\bfrom\s*['"]undici(?:\/[^'"]*)?['"]|\b(?:require|import)\(\s*['"]undici(?:\/[^'"]*)?['"]|^\s*import\s*['"]undici/m;
  const files = tsFiles(src);
  t.ok(files.length > 50, `${files.length} source files read`);
  const importers = files.filter((f) => importsUndici.test(readFileSync(f, 'utf8'))).map((f) => path.relative(src, f));
  t.same(importers, ['sys/http-client.ts']);
});

t.test('every name the facade exports is in undici-lite.cjs, of the same kind', async (t) => {
  const names = Object.keys(facade);
  t.same(names.sort(), ['Agent', 'buildConnector', 'interceptors', 'request']);
  const liteExports = createRequire(lite)(lite) as Record<string, unknown>;
  for (const n of names) t.equal(typeof liteExports[n], typeof (facade as Record<string, unknown>)[n], n);
  // The one interceptor src/ uses (s2i/scripts.ts: scripts downloads follow redirects).
  t.equal(typeof (liteExports.interceptors as Record<string, unknown>).redirect, 'function');
  t.doesNotThrow(() => check.checkFacadeNames(names, lite));
  t.throws(() => check.checkFacadeNames([...names, 'fetch'], lite), { name: 'UndiciShimError', message: /exports fetch, which undici-lite\.cjs does not/ });
});

t.test('the bundle check passes on this checkout', async (t) => {
  const r = check.checkUndiciShim(projectRoot);
  t.equal(r.version, pinned);
  t.same(r.paths, check.requiredUndiciPaths(readFileSync(lite, 'utf8')));
  t.ok(r.paths.includes('undici/lib/dispatcher/agent'), r.paths.join(' '));
});

t.test('the bundle check refuses another undici version, a range pin, and a missing internal file', async (t) => {
  const paths = check.requiredUndiciPaths(readFileSync(lite, 'utf8'));
  t.ok(paths.length >= 5, paths.join(' '));

  const good = packageTree('good', '7.16.0', '7.16.0', paths);
  t.same(check.checkUndiciShim(good), { version: '7.16.0', paths });

  const drift = packageTree('drift', '7.16.0', '7.15.0', paths);
  t.throws(() => check.checkUndiciShim(drift), {
    name: 'UndiciShimError',
    message: /^undici 7\.15\.0 is installed \(.*node_modules\/undici\), but package\.json pins 7\.16\.0: run npm ci/,
  });

  const range = packageTree('range', '^7.16.0', '7.16.0', paths);
  t.throws(() => check.checkUndiciShim(range), { name: 'UndiciShimError', message: /must pin undici to one exact version \(x\.y\.z\), not "\^7\.16\.0"/ });

  const gone = 'undici/lib/global';
  t.ok(paths.includes(gone));
  const moved = packageTree('moved', '7.16.0', '7.16.0', paths.filter((p) => p !== gone));
  t.throws(() => check.checkUndiciShim(moved), {
    name: 'UndiciShimError',
    message: `undici 7.16.0 has no ${gone}, which scripts/undici-lite.cjs requires: its internal layout changed; update scripts/undici-lite.cjs`,
  });
});

t.test('scripts/bundle.mjs stops with one line when undici is not the pinned version', async (t) => {
  // This checkout's scripts and node_modules under a package.json that pins another version: the real
  // bundle script must refuse before bundling anything.
  const root = path.join(tmp, 'bundle');
  mkdirSync(path.join(root, 'scripts'), { recursive: true });
  for (const f of ['bundle.mjs', 'cjs-script.mjs', 'undici-shim-check.mjs', 'undici-lite.cjs']) copyFileSync(path.join(scripts, f), path.join(root, 'scripts', f));
  symlinkSync(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'x', type: 'module', dependencies: { undici: '7.0.1' } }));
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle.mjs')], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, new RegExp(`^bundle: undici ${pinned.replace(/\./g, '\\.')} is installed \\(.*\\), but package\\.json pins 7\\.0\\.1: run npm ci[^\\n]*\\n$`));
  t.same(readdirSync(root).sort(), ['node_modules', 'package.json', 'scripts'], 'no dist/ made');
});
