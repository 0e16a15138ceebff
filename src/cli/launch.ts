// The CLI's first module (bin/oci-s2i.js). It finds what holds the CLI — the one-file bundle
// dist/bundle/oci-s2i.cjs (scripts/bundle.mjs) with its V8 code cache, or, without a current bundle, the tsc
// output dist/src/cli/entry.js — and, for a root caller of a command that runs in the private mount namespace,
// starts the CLI straight under `unshare` without loading it here: for a root build this module is all the
// outer process loads. Everything else (rootless user namespaces, --help, errors) is main.ts's.
import { readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CAP_SYS_ADMIN, hasCapability } from '../sandbox/caps.js';
import { NAMESPACE_ENV, ROOT_UNSHARE_ARGS, runUnshared } from '../sandbox/unshare.js';
import { relocateExtraCa } from '../sys/extra-ca-env.js';
import { dieWithLauncher } from '../sys/parent-death.js';
import { withPoolSize } from '../sys/pool-size.js';
// The command table only (no command module: those load lazily, in the CLI this launcher starts).
import { namespaceCommands, runsWithoutNamespace } from './command-table.js';
import { hideSecretArgs, maskProcessTitle } from './secret-args.js';

const launcherFile = fileURLToPath(import.meta.url);
export const bundleFile = fileURLToPath(new URL('../../bundle/oci-s2i.cjs', import.meta.url));
const distEntry = fileURLToPath(new URL('./entry.js', import.meta.url));

function mtimeMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Whether to run the bundle: it exists and is at least as new as the tsc output (a `tsc` run after the last
 * bundle leaves it stale; then the tsc output is what is current). OCI_S2I_NO_BUNDLE=1 forces the tsc output.
 */
export function useBundle(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OCI_S2I_NO_BUNDLE === '1') return false;
  const bundle = mtimeMs(bundleFile);
  if (bundle === undefined) return false;
  const dist = mtimeMs(distEntry);
  return dist === undefined || bundle >= dist;
}

/** Whether this call can go straight into the namespace: root with CAP_SYS_ADMIN (else a user namespace: main.ts),
 *  a namespace command, not already inside, no help asked. */
export function entersNamespaceDirectly(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): boolean {
  const [name, ...rest] = argv;
  return uid === 0 && hasCapability(CAP_SYS_ADMIN) && env[NAMESPACE_ENV] === undefined && name !== undefined && namespaceCommands.has(name) && !rest.some((a) => a === '--help' || a === '-h') && !runsWithoutNamespace(argv);
}

/**
 * Runs the bundle as a CommonJS script compiled with its code cache (`<bundle>.cache`): V8 then skips parsing
 * and compiling what the cache holds. A cache from another Node/V8 is rejected by V8 and the script compiles as
 * usual. OCI_S2I_WRITE_CODE_CACHE=FILE writes the cache when the process exits (scripts/bundle.mjs).
 */
function runBundle(file: string): void {
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    /* no cache: compile */
  }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapper, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const out = process.env.OCI_S2I_WRITE_CODE_CACHE;
  if (out) {
    process.once('exit', () => {
      writeFileSync(`${out}.tmp`, script.createCachedData());
      renameSync(`${out}.tmp`, out);
    });
  }
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(file), mod, file, path.dirname(file));
}

/** Runs the CLI with `argv` (the arguments after the script); the CLI exits the process. */
export async function launch(argv: string[]): Promise<void> {
  // An engine started by a launcher dies with it (kill -9 included): armed before anything else runs.
  dieWithLauncher();
  // This process waits for the whole build when it starts the namespaced one: its title shows no secret either.
  maskProcessTitle(argv);
  // undici parses HTTP with llhttp compiled to WebAssembly. V8 recompiles its hot functions with TurboFan on
  // background threads, and process.exit waits for those jobs: measured 0.1-0.3 s per build here, for a parser
  // that only reads headers and chunk framing (bodies pass through). The baseline compiler alone is plenty.
  v8.setFlagsFromString('--liftoff-only');
  const bundle = useBundle();
  if (entersNamespaceDirectly(argv)) {
    // The namespaced process starts at this launcher again (it goes on to the bundle or the tsc output). `--`:
    // Node 20 reads --env-file anywhere in its argv, after the script too; our arguments must not reach it.
    const hidden = hideSecretArgs(argv);
    const run = runUnshared(ROOT_UNSHARE_ARGS, [process.execPath, ...process.execArgv, '--', launcherEntry(), ...hidden.argv], {
      env: withPoolSize(relocateExtraCa({ ...process.env, ...hidden.env, [NAMESPACE_ENV]: 'root' })),
    });
    let code: number | undefined;
    try {
      code = await run.exited;
    } catch {
      // `unshare` could not start: the full CLI below tries again and reports it the usual way.
    } finally {
      run.dispose();
    }
    if (code !== undefined) process.exit(code);
  }
  if (bundle) runBundle(bundleFile);
  else await import(pathToFileURL(distEntry).href);
}

/** The script the namespaced process runs: the one this process was started with (bin/oci-s2i.js). */
function launcherEntry(): string {
  return process.argv[1] ?? path.join(path.dirname(launcherFile), '..', '..', '..', 'bin', 'oci-s2i.js');
}
