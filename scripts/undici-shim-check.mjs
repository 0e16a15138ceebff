// What scripts/bundle.mjs checks before it puts scripts/undici-lite.cjs in undici's place. undici-lite.cjs
// requires files under undici's lib/, which are no public API and move between versions, and it exports only
// the names src/sys/http-client.ts takes from undici. So the bundle is made only from the exact undici version
// package.json pins, with every file undici-lite.cjs requires present, and with every name of the facade in
// undici-lite's exports; anything else fails the build with one line saying what to do, instead of a CLI that
// breaks at its first HTTP request. A module of its own so test/cli/undici-shim.test.ts can run it on crafted
// package trees.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export class UndiciShimError extends Error {
  name = 'UndiciShimError';
}

/** The `undici/…` paths a CommonJS source requires, in order of appearance. */
export function requiredUndiciPaths(source) {
  return [...source.matchAll(/\brequire\(\s*['"](undici\/[^'"]+)['"]\s*\)/g)].map((m) => m[1]);
}

/**
 * Checks the undici installed for the package at `root` against `lite` (default root/scripts/undici-lite.cjs):
 * package.json pins one exact version, that version is the one installed, and every `undici/…` path `lite`
 * requires resolves from `lite`'s directory as esbuild resolves it. Throws UndiciShimError; returns the version
 * and the paths checked.
 */
export function checkUndiciShim(root, lite = path.join(root, 'scripts', 'undici-lite.cjs')) {
  const liteName = path.relative(root, lite);
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const pinned = pkg.dependencies?.undici;
  if (typeof pinned !== 'string' || !/^\d+\.\d+\.\d+$/.test(pinned)) {
    throw new UndiciShimError(`package.json must pin undici to one exact version (x.y.z), not ${JSON.stringify(pinned ?? null)}: ${liteName} uses undici's internal files`);
  }
  const req = createRequire(lite);
  let manifest;
  try {
    manifest = req.resolve('undici/package.json');
  } catch {
    throw new UndiciShimError(`undici is not installed for ${root} (package.json pins ${pinned}): run npm ci`);
  }
  const installed = JSON.parse(readFileSync(manifest, 'utf8')).version;
  if (installed !== pinned) {
    throw new UndiciShimError(
      `undici ${installed} is installed (${path.dirname(manifest)}), but package.json pins ${pinned}: run npm ci, or check ${liteName} against undici ${installed} before changing the pin`,
    );
  }
  const paths = requiredUndiciPaths(readFileSync(lite, 'utf8'));
  const missing = paths.filter((p) => {
    try {
      req.resolve(p);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new UndiciShimError(`undici ${installed} has no ${missing.join(', ')}, which ${liteName} requires: its internal layout changed; update ${liteName}`);
  }
  return { version: installed, paths };
}

/** Throws UndiciShimError when a name the facade exports is not an export of `lite` (loaded, so undici must be there). */
export function checkFacadeNames(facadeNames, lite) {
  const exported = createRequire(lite)(lite);
  const absent = facadeNames.filter((n) => !(n in exported));
  if (absent.length > 0) {
    throw new UndiciShimError(`src/sys/http-client.ts exports ${absent.join(', ')}, which ${path.basename(lite)} does not: add ${absent.length > 1 ? 'them' : 'it'} there too`);
  }
}
