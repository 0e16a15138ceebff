// The standalone engine's first module (bundled by scripts/standalone.mjs into
// dist/standalone/dist/src/cli/launch.cjs, where launch.ts's relative paths find ../../bundle/oci-s2i.cjs).
// The Node of the standalone is started through its own dynamic loader (standalone/oci-s2i), so the kernel's
// /proc/self/exe, and with it process.execPath, is that loader: useless for the re-executions the engine makes
// (the root namespace in launch.ts, the user namespace in sandbox/namespace.ts, both `execPath execArgv argv`).
// bin/run-node starts this Node the same way, and takes the same arguments as a node binary.
import { fileURLToPath } from 'node:url';
import { launch } from '../dist/src/cli/launch.js';

process.execPath = fileURLToPath(new URL('../../../bin/run-node', import.meta.url));
// An error here is a bug: Node prints it and exits 1, as bin/oci-s2i.js does.
void launch(process.argv.slice(2));
