// Prints spec/cli.md.
import { loadCommands } from './main.js';
import { cliReference } from './reference.js';

process.stdout.write(cliReference(await loadCommands()));
