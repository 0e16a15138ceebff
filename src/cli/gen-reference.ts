// Prints spec/cli.md.
import { loadCommands } from './command-table.js';
import { cliReference } from './reference.js';

process.stdout.write(cliReference(await loadCommands()));
