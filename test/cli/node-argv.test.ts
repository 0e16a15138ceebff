// Node 20 reads `--env-file FILE` anywhere in its argv, after the script too: it exits 9 when FILE is missing and
// otherwise loads FILE, NODE_OPTIONS included, into the process. Every way oci-s2i starts Node (bin/oci-s2i, the
// launcher going straight under `unshare`, the rootless re-exec) puts `--` before the script, so an argument
// of ours never reaches Node's option parser: our CLI answers it.
import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, projectRoot, runCli } from '../helpers/cli.js';
import { canCreateUsers, cliFor, ensureUser } from '../helpers/users.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-node-argv-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const missing = path.join(tmp, 'missing.env');
// Were Node to load this file, NODE_OPTIONS would make it die in its first allocation (not exit 64).
const hostile = path.join(tmp, 'hostile.env');
writeFileSync(hostile, 'NODE_OPTIONS=--max-old-space-size=1\nOCI_S2I_LEAKED=yes\n', { mode: 0o644 });

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.OCI_S2I_NAMESPACE;
  return e;
}

function ours(t: Test, r: { status: number | null; stderr: string }, what: string): void {
  t.equal(r.status, 64, `${what}: our usage error, not Node's`);
  t.match(r.stderr, /unknown flag --env-file for \S+: use -E\/--environment-file FILE/, `${what}: our one line`);
  t.notMatch(r.stderr, /node: .*not found|Fatal javascript OOM/, `${what}: Node never read it`);
}

t.test('bin/oci-s2i: --env-file after the command is ours (missing file, and a file setting NODE_OPTIONS)', async (t) => {
  const sh = path.join(projectRoot, 'bin', 'oci-s2i');
  for (const file of [missing, hostile]) {
    ours(t, spawnSync(sh, ['version', '--env-file', file], { env: env(), encoding: 'utf8' }), `version --env-file ${path.basename(file)}`);
    ours(t, spawnSync(sh, ['version', `--env-file=${file}`], { env: env(), encoding: 'utf8' }), `version --env-file=${path.basename(file)}`);
  }
});

t.test('a namespace command: bin/oci-s2i under unshare, and the Node launcher going straight under unshare', { skip: process.getuid?.() !== 0 && 'root only: the unshare paths' }, async (t) => {
  const sh = path.join(projectRoot, 'bin', 'oci-s2i');
  const args = ['build', tmp, 'busybox', 'x', '--env-file', hostile];
  ours(t, spawnSync(sh, args, { env: env(), encoding: 'utf8' }), 'bin/oci-s2i build');
  // bin/oci-s2i.js (launch.ts entersNamespaceDirectly → runUnshared): the re-started Node gets `--` too.
  ours(t, spawnSync(process.execPath, ['--', cliPath, ...args], { env: env(), encoding: 'utf8' }), 'node bin/oci-s2i.js build');
});

t.test('the rootless re-exec into a user namespace', { skip: !canCreateUsers() && 'needs root to make a test user' }, async (t) => {
  const user = ensureUser('ocis2iargv', { subIds: false });
  const r = await runCli(['build', tmp, 'busybox', 'x', '--env-file', hostile], { user, cli: cliFor(user) });
  ours(t, { status: r.code, stderr: r.stderr }, 'rootless build');
});
