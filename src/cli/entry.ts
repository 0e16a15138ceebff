// Process entry point (dist/src/cli/entry.js, and of the CLI bundle). stdout/stderr are synchronous for files and
// pipes on Linux, so exiting right away loses nothing and no idle keep-alive socket can hold the process open.
// (No top-level await: the bundle is a CommonJS script, see scripts/bundle.mjs.)
import { dieWithLauncher } from '../sys/parent-death.js';
import { main } from './main.js';

// Already done by cli/launch.ts when the process started there; this covers a start at this file.
dieWithLauncher();
void main(process.argv.slice(2)).then((code) => process.exit(code));
