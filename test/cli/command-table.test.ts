// Issue 11: the command list was kept in four places (main.ts's lazy map, each command module's namespace flag,
// launch.ts's namespaceCommands, bin/oci-s2i's `case`). Now src/cli/command-table.ts is the one list; every
// place that lists commands is generated from it or, where it cannot import it (the shell launcher), held to it
// here.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandEntries, findCommand, namespaceCommands, runsWithoutNamespace } from '../../src/cli/command-table.js';
import { projectRoot, runCli } from '../helpers/cli.js';

const names = commandEntries.map((e) => e.name);
const distCli = path.join(projectRoot, 'dist', 'src', 'cli');

t.test('every command in the table loads a command module of that name, and every command module is in the table', async (t) => {
  t.equal(new Set(names).size, names.length, 'no name twice');
  for (const e of commandEntries) {
    t.match(e.name, /^[a-z][a-z-]*$/, `${e.name}: a name the shell case list can hold`);
    const cmd = await e.load();
    t.equal(cmd.name, e.name, `${e.name}: the module's name`);
    t.equal(findCommand(e.name), e);
  }
  t.equal(findCommand('nonsense'), undefined);
  const modules = readdirSync(path.join(distCli, 'commands')).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
  t.same(modules.sort(), [...names].sort(), 'src/cli/commands/*.ts: one module per command of the table');
});

t.test('completion lists exactly the table, in its order', async (t) => {
  const bash = await runCli(['completion', 'bash']);
  t.equal(bash.code, 0, bash.stderr);
  t.same(/compgen -W "([^"$]*)"/.exec(bash.stdout)?.[1]?.split(' '), names, 'bash: the command words');
  t.same([...bash.stdout.matchAll(/^ {4}([a-z-]+)\) opts=/gm)].map((m) => m[1]), names, 'bash: a flag list per command');
  const zsh = await runCli(['completion', 'zsh']);
  t.equal(zsh.code, 0, zsh.stderr);
  t.same(/^ {4}compadd (.*)$/m.exec(zsh.stdout)?.[1]?.split(' '), names, 'zsh: the command words');
  t.same([...zsh.stdout.matchAll(/^ {4}([a-z-]+)\) _arguments/gm)].map((m) => m[1]), names, 'zsh: a flag list per command');
});

t.test('the top-level help lists exactly the table, in its order', async (t) => {
  const help = await runCli(['--help']);
  t.equal(help.code, 0, help.stderr);
  const block = help.stdout.split('Commands:\n')[1]?.split('\n\n')[0] ?? '';
  t.same(block.split('\n').map((l) => l.trim().split(/\s+/)[0]), names);
});

/** The alternatives of bin/oci-s2i's `case "$1" in` (the commands it execs under unshare for root). */
function shellNamespaceList(script: string): string[] | undefined {
  const m = /^case "\$1" in\n {2}([^\n)]*)\)\n/m.exec(script);
  return m?.[1]?.split('|');
}

t.test("bin/oci-s2i's namespace case list is exactly the table's", async (t) => {
  const script = readFileSync(path.join(projectRoot, 'bin', 'oci-s2i'), 'utf8');
  t.equal(script.match(/^case "\$1" in$/gm)?.length, 1, 'one case on the command name');
  t.same(shellNamespaceList(script), [...namespaceCommands], 'same commands, in table order');
  t.same([...namespaceCommands], commandEntries.filter((e) => e.namespace).map((e) => e.name));
  // The check itself: a list that differs by one command is caught, and so is a pattern that is not a plain list.
  t.notSame(shellNamespaceList(script.replace('|rebuild)', ')')), [...namespaceCommands]);
  t.notSame(shellNamespaceList(script.replace('|rebuild)', '|rebuild|copy)')), [...namespaceCommands]);
  t.equal(shellNamespaceList(script.replace('case "$1" in', 'case "$2" in')), undefined);
});

t.test('as root, bin/oci-s2i execs under unshare exactly the namespace commands of the table', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-command-table-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  // Stand-ins that only say which one ran: `unshare` first on PATH, and the node the script runs.
  writeFileSync(path.join(tmp, 'unshare'), '#!/bin/sh\necho unshare\n');
  writeFileSync(path.join(tmp, 'node'), '#!/bin/sh\necho node\n');
  chmodSync(path.join(tmp, 'unshare'), 0o755);
  chmodSync(path.join(tmp, 'node'), 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${tmp}:${process.env.PATH}`, OCI_S2I_NODE: path.join(tmp, 'node') };
  delete env.OCI_S2I_NAMESPACE;
  for (const e of commandEntries) {
    const r = spawnSync(path.join(projectRoot, 'bin', 'oci-s2i'), [e.name, 'ARG'], { env, encoding: 'utf8' });
    t.equal(r.stdout.trim(), e.namespace ? 'unshare' : 'node', e.name);
  }
  // An in-image build runs in no namespace: the shell's argument patterns and runsWithoutNamespace agree.
  for (const argv of [
    ['build', '--isolation', 'in-image', 'S', 'B', 'T'],
    ['build', 'S', 'B', 'T', '--isolation=in-image'],
    ['build', 'S', 'B', 'T', '--isolation', 'sandbox'],
    ['build', 'S', 'B', 'T', '--isolation', 'auto'],
  ]) {
    const r = spawnSync(path.join(projectRoot, 'bin', 'oci-s2i'), argv, { env, encoding: 'utf8' });
    t.equal(r.stdout.trim(), runsWithoutNamespace(argv) ? 'node' : 'unshare', argv.join(' '));
  }
  t.ok(runsWithoutNamespace(['build', '--isolation', 'in-image']) && !runsWithoutNamespace(['run', '--isolation', 'in-image']), 'only build has it');
});

t.test('spec/cli.md is what gen-reference prints, and marks the namespace commands of the table', async (t) => {
  const spec = readFileSync(path.join(projectRoot, 'spec', 'cli.md'), 'utf8');
  const r = spawnSync(process.execPath, [path.join(distCli, 'gen-reference.js')], { cwd: projectRoot, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, spec, 'regenerate with: node dist/src/cli/gen-reference.js > spec/cli.md');
  const table = spec.split('\n## Commands\n')[1]?.split('\n## ')[0] ?? '';
  const rows = [...table.matchAll(/^\| `([a-z-]+)[^`]*`( ¹)? \|/gm)];
  t.same(rows.map((m) => m[1]), names, 'one row per command, in table order');
  t.same(rows.filter((m) => m[2]).map((m) => m[1]), [...namespaceCommands], '¹ on the namespace commands');
});

/** The relative modules `file` imports at run time (tsc output: type-only imports are gone), transitively. */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)\b[^;'"]*?from\s*'([^']+)'|^import\s*'([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
  for (const s of specs) {
    if (!s.startsWith('.')) continue;
    const dep = path.resolve(path.dirname(file), s);
    if (seen.has(dep)) continue;
    seen.add(dep);
    staticImports(dep, seen);
  }
  return seen;
}

t.test('the launcher loads the table and no command module; the table loads nothing', async (t) => {
  const table = path.join(distCli, 'command-table.js');
  t.same([...staticImports(table)], [], 'command-table.js has no run-time import (the command modules are import()ed)');
  const launcher = [...staticImports(path.join(distCli, 'launch.js'))];
  t.ok(launcher.includes(table), 'launch.js imports the table');
  t.same(
    launcher.filter((f) => f.startsWith(path.join(distCli, 'commands') + path.sep) || ['main.js', 'entry.js', 'command.js'].includes(path.relative(distCli, f))),
    [],
    'launch.js reaches no command module, nor main.js',
  );
  // The walk itself finds imports: main.js reaches the table and the error module.
  const main = [...staticImports(path.join(distCli, 'main.js'))];
  t.ok(main.includes(table) && main.includes(path.join(projectRoot, 'dist', 'src', 'errors.js')));
});
