// Makes dist/standalone/: the engine as one directory that runs wherever it is copied or mounted (read-only
// too), with no Node, npm or libc of the system's: issue 15's "one artifact that can be dropped into any
// builder". Layout (standalone/README.md):
//
//   oci-s2i                  the command (standalone/oci-s2i, a POSIX sh script)
//   bin/node                 this Node (the real file behind process.execPath)
//   bin/run-node             that Node as a command, for the engine's own re-executions (standalone/run-node)
//   lib/                     the dynamic loader and every shared library of Node and the addons, by soname
//   package.json             name and version: native.ts's packageRoot(), `oci-s2i version`, and in-image's
//                            "engine's own directory" (pipeline/in-image.ts), which is then all of this
//   dist/src/cli/launch.cjs  the launcher (standalone/launch.mjs bundled), where launch.ts finds ../../bundle
//   dist/bundle/             the CLI bundle (scripts/bundle.mjs) with a V8 code cache made by this Node, and the
//                            script of the worker an in-image build starts (in-image-ahead.cjs)
//   build/*.node             the native addons, where native.ts looks for them
//   node_modules/zstd-napi/  the one addon the bundle requires by package name
//
// Below the top, the paths are the package's own (the checkout's), so every module finds its files as it does
// there.
// Run after scripts/bundle.mjs (scripts/build.sh). Copies only, from this machine: nothing is downloaded. Made in
// a temporary directory and renamed into place, so a run that fails leaves the previous directory whole.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LddError, parseLdd } from './standalone-libs.mjs';
import { cjsScript } from './cjs-script.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'standalone');
const tmp = `${out}.tmp`;

/** Ends the build with one line naming what is wrong. */
function refuse(message) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`standalone: ${message}`);
  process.exit(1);
}

// The real file: process.execPath may be a symlink (e.g. /usr/local/bin/node -> a version manager's copy), and
// the addons were built against the Node that runs this script.
const node = realpathSync(process.execPath);
const bundleDir = path.join(root, 'dist', 'bundle');
const addons = ['native.node', 'deflate.node'].map((n) => path.join(root, 'build', n)).filter((f) => existsSync(f));
if (!addons.some((f) => f.endsWith('native.node'))) refuse('build/native.node is missing: run scripts/build-native.sh first');
if (!existsSync(path.join(bundleDir, 'oci-s2i.cjs'))) refuse('dist/bundle/oci-s2i.cjs is missing: run scripts/bundle.mjs first');
const zstdDir = path.dirname(createRequire(path.join(root, 'package.json')).resolve('zstd-napi/package.json'));
const zstdAddon = path.join(zstdDir, 'build', 'Release', 'binding.node');
if (!existsSync(zstdAddon)) refuse(`${path.relative(root, zstdAddon)} is missing: run npm ci`);

/** ldd's answer for `file` (scripts/standalone-libs.mjs). */
function sharedLibraries(file) {
  let text;
  try {
    text = execFileSync('ldd', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    refuse(`ldd ${file} failed (a static Node is not supported): ${String(e.stdout || e.stderr || e.message).trim()}`);
  }
  try {
    return parseLdd(text, file);
  } catch (e) {
    if (e instanceof LddError) refuse(e.message);
    throw e;
  }
}

const { libs, loader } = sharedLibraries(node);
for (const f of [...addons, zstdAddon]) {
  const r = sharedLibraries(f);
  if (r.loader !== loader) refuse(`${f} wants the loader ${r.loader}, Node ${loader}`);
  for (const [name, p] of r.libs) libs.set(name, p);
}
const loaderName = path.basename(loader);

/** Copies `from` (through its symlinks) to `to` with `mode`. */
function put(from, to, mode = 0o644) {
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(realpathSync(from), to);
  chmodSync(to, mode);
}

/** A template of standalone/ with the loader's name filled in. */
function script(name) {
  const to = path.join(tmp, name === 'oci-s2i' ? name : path.join('bin', name));
  mkdirSync(path.dirname(to), { recursive: true });
  writeFileSync(to, readFileSync(path.join(root, 'standalone', name), 'utf8').replaceAll('@LOADER@', loaderName), { mode: 0o755 });
}

rmSync(tmp, { recursive: true, force: true });
put(node, path.join(tmp, 'bin', 'node'), 0o755);
put(loader, path.join(tmp, 'lib', loaderName), 0o755);
for (const [name, p] of libs) put(p, path.join(tmp, 'lib', name));
script('oci-s2i');
script('run-node');

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
writeFileSync(path.join(tmp, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, private: true }, null, 2)}\n`);
for (const f of addons) put(f, path.join(tmp, 'build', path.basename(f)), 0o755);
// The source map stays out (2.6 MB, read only with --enable-source-maps); the licence comments stay in.
for (const f of ['oci-s2i.cjs', 'oci-s2i.cjs.LEGAL.txt', 'in-image-ahead.cjs']) put(path.join(bundleDir, f), path.join(tmp, 'dist', 'bundle', f));
const zstdOut = path.join(tmp, 'node_modules', 'zstd-napi');
for (const f of ['package.json', 'binding.js', 'LICENSE', 'NOTICE']) put(path.join(zstdDir, f), path.join(zstdOut, f));
put(zstdAddon, path.join(zstdOut, 'build', 'Release', 'binding.node'), 0o755);

// The launcher: launch.ts and the few modules it imports, as one script with the CLI bundle's conventions
// (scripts/bundle.mjs): import.meta.url becomes the script's own URL, so launch.ts's `../../bundle/oci-s2i.cjs`
// and native.ts's search for package.json work from dist/src/cli/.
await build({
  ...cjsScript,
  entryPoints: [path.join(root, 'standalone', 'launch.mjs')],
  outfile: path.join(tmp, 'dist', 'src', 'cli', 'launch.cjs'),
  // Only zstd-napi is in node_modules here: anything else the launcher imports must be bundled.
  external: ['zstd-napi'],
  legalComments: 'none',
  plugins: [
    {
      // The command modules the table loads lazily (command-table.ts): the launcher never loads one, the CLI
      // bundle holds them all. Bundled, they would be parsed at every start for nothing.
      name: 'no-commands',
      setup(b) {
        b.onResolve({ filter: /^\.\/commands\// }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
      },
    },
  ],
});

// Started once where it was made (the loader, the libraries, the launcher and the bundle all load), so that a
// directory that cannot start never replaces one that can.
try {
  execFileSync(path.join(tmp, 'oci-s2i'), ['version'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
} catch (e) {
  refuse(`the directory made in ${path.relative(root, tmp)} does not start: ${String(e.stderr || e.message).trim()}`);
}
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);

// The code cache, made by the standalone itself (the Node, flags and path that will read it), the way
// bundle.mjs makes dist/bundle's: a run that loads every command. Made in place: V8 keeps the script's path in
// the cache, and stack traces (--debug) name it, so it is this directory's, not the temporary one's.
execFileSync(path.join(out, 'oci-s2i'), ['--help'], {
  env: { ...process.env, OCI_S2I_WRITE_CODE_CACHE: path.join(out, 'dist', 'bundle', 'oci-s2i.cjs.cache') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
