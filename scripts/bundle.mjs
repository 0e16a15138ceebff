// Bundles the CLI (dist/src/cli/entry.js, the tsc output) into one script, dist/bundle/oci-s2i.cjs, which
// bin/oci-s2i.js runs (src/cli/launch.ts), and records V8's code cache for it (oci-s2i.cjs.cache).
// Each CLI start otherwise resolved, read and compiled ~100 modules through Node's ESM loader (~0.25 s of CPU
// here); one pre-compiled script takes ~0.06 s. dist/src stays what the tests import.
//
// CommonJS rather than an ES module because Node 20 has a code cache API only for scripts (vm.Script).
//
// `undici` becomes scripts/undici-lite.cjs, imported only through src/sys/http-client.ts; the build stops with
// one line when the installed undici is not the pinned version, when a file undici-lite.cjs requires or a name
// the facade exports is missing (undici-shim-check.mjs), when another module imports undici, or when undici's
// client-h2.js was not reached to be left out.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { checkFacadeNames, checkUndiciShim, UndiciShimError } from './undici-shim-check.mjs';
import { cjsScript } from './cjs-script.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist', 'bundle', 'oci-s2i.cjs');
const undiciLite = path.join(root, 'scripts', 'undici-lite.cjs');
// The one module of src/ that imports undici (tsc output): the only importer the bundle maps to undici-lite.
const facade = path.join(root, 'dist', 'src', 'sys', 'http-client.js');

/** Ends the build with one line naming what is wrong. */
function refuse(message) {
  console.error(`bundle: ${message}`);
  process.exit(1);
}

try {
  checkUndiciShim(root, undiciLite);
  checkFacadeNames(Object.keys(await import(pathToFileURL(facade).href)), undiciLite);
} catch (e) {
  if (e instanceof UndiciShimError) refuse(e.message);
  throw e;
}

// Set when esbuild resolves undici's client-h2.js: if undici stops requiring it by that name, HTTP/2 would be
// bundled and loaded at every start without anything failing, so the build does.
let h2Stubbed = false;
try {
  await build({
    entryPoints: [path.join(root, 'dist', 'src', 'cli', 'entry.js')],
    ...cjsScript,
    outfile,
    // A native addon: loaded from node_modules at run time.
    external: ['zstd-napi'],
    plugins: [
      {
        // undici's index loads fetch, WebSocket, caches… (scripts/undici-lite.cjs).
        name: 'undici-lite',
        setup(b) {
          b.onResolve({ filter: /^undici$/ }, (args) =>
            args.importer === facade
              ? { path: undiciLite }
              : { errors: [{ text: `${path.relative(root, args.importer)} imports undici: import it from src/sys/http-client.ts, the one module the bundle maps to undici-lite` }] },
          );
          // HTTP/2 is used only by an Agent made with allowH2, which oci-s2i never makes; undici's client-h2 would
          // load node:http2 at start-up (~20 ms).
          b.onResolve({ filter: /\/client-h2\.js$/ }, (args) => {
            if (!args.importer.includes(`${path.sep}undici${path.sep}`)) return undefined;
            h2Stubbed = true;
            return { path: 'client-h2', namespace: 'undici-no-h2' };
          });
          b.onLoad({ filter: /.*/, namespace: 'undici-no-h2' }, () => ({
            contents: "module.exports = async function connectH2 () { throw new Error('HTTP/2 is not built into the oci-s2i CLI bundle') }",
            loader: 'js',
          }));
        },
      },
    ],
    // Licence comments go to oci-s2i.cjs.LEGAL.txt (ASCII only: one non-ASCII character in one made V8 hold the
    // whole source as a two-byte string, and reading it took 10-20 ms instead of ~2).
    legalComments: 'external',
    sourcemap: 'linked',
  });
} catch (e) {
  // esbuild has printed its errors (an import of undici outside the facade is one); its stack adds nothing.
  if (Array.isArray(e?.errors) && e.errors.length > 0) process.exit(1);
  throw e;
}
// The worker thread an in-image build starts while assemble runs (src/pipeline/in-image-ahead.ts finds it beside
// the CLI bundle): its own small script, so the worker does not load the whole CLI.
try {
  await build({
    ...cjsScript,
    entryPoints: [path.join(root, 'dist', 'src', 'pipeline', 'in-image-ahead-worker.js')],
    outfile: path.join(root, 'dist', 'bundle', 'in-image-ahead.cjs'),
    external: ['zstd-napi', 'undici'],
    legalComments: 'none',
  });
} catch (e) {
  if (Array.isArray(e?.errors) && e.errors.length > 0) process.exit(1);
  throw e;
}
if (!h2Stubbed) {
  for (const f of [outfile, `${outfile}.map`, `${outfile}.LEGAL.txt`]) rmSync(f, { force: true });
  refuse(`undici no longer requires ./client-h2.js, so HTTP/2 was not left out of the bundle: update the undici-lite plugin in ${path.relative(root, fileURLToPath(import.meta.url))}`);
}
// The code cache: written by a run that loads every command (top-level help), so it holds the compiled
// top level of every module. Made by this Node: another Node version rejects it and compiles as usual.
const cache = `${outfile}.cache`;
rmSync(cache, { force: true });
execFileSync(process.execPath, [path.join(root, 'bin', 'oci-s2i.js'), '--help'], {
  env: { ...process.env, OCI_S2I_WRITE_CODE_CACHE: cache },
  stdio: 'ignore',
});
