// Prints spec/cli.md.
import { commands } from './main.js';
import { cliReference } from './reference.js';

process.stdout.write(cliReference(commands));
