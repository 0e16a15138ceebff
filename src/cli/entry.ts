// Process entry point (bin/oci-s2i.js). stdout/stderr are synchronous for files and pipes on Linux, so exiting
// right away loses nothing and no idle keep-alive socket can hold the process open.
import { main } from './main.js';

process.exit(await main(process.argv.slice(2)));
