// spec/cli.md is the CLI reference the code is held to: it must equal what the command definitions generate.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { commandEntries, loadCommands, namespaceCommands } from '../../src/cli/command-table.js';
import { cliReference } from '../../src/cli/reference.js';
import { ExitCode } from '../../src/errors.js';
import { projectRoot, runCli } from '../helpers/cli.js';

const commands = await loadCommands();

t.test('the lazy command table agrees with the command definitions', async (t) => {
  t.same(commandEntries.map((e) => e.name), commands.map((c) => c.name));
  // Where a command runs is the table's alone (the command modules used to say it too).
  for (const [i, e] of commandEntries.entries()) {
    t.equal(e.namespace, namespaceCommands.has(commands[i]!.name), e.name);
    t.notOk('needsNamespace' in commands[i]!, `${e.name}: no second namespace flag in the command module`);
  }
});

t.test('spec/cli.md matches the command definitions', async (t) => {
  const spec = readFileSync(path.join(projectRoot, 'spec', 'cli.md'), 'utf8');
  t.equal(spec, cliReference(commands), 'regenerate with: node dist/src/cli/gen-reference.js > spec/cli.md');
});

t.test('every exit code is documented', async (t) => {
  const spec = cliReference(commands);
  for (const code of new Set(Object.values(ExitCode))) t.match(spec, new RegExp(`\\n\\| ${code} \\|`));
});

t.test('help and usage errors', async (t) => {
  const top = await runCli(['--help']);
  t.equal(top.code, 0);
  for (const c of commands) t.match(top.stdout, c.name);
  const none = await runCli([]);
  t.equal(none.code, ExitCode.usage);
  const unknown = await runCli(['frobnicate']);
  t.equal(unknown.code, ExitCode.usage);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  t.equal(unknown.stderr.trim().split('\n').length, 1);
  const help = await runCli(['build', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--format docker\|oci/);
  const version = await runCli(['version', '--json']);
  t.equal(version.code, 0);
  t.match(JSON.parse(version.stdout), { version: /^\d+\.\d+\.\d+/ });
});
