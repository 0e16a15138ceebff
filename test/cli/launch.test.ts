// The launcher (bin/oci-s2i.js → src/cli/launch.ts): which calls go straight under `unshare` without loading
// the CLI, what that command line is, that its exit code comes back, and that the bundle and the tsc output
// behave alike.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandEntries, namespaceCommands } from '../../src/cli/command-table.js';
import { entersNamespaceDirectly, useBundle, bundleFile } from '../../src/cli/launch.js';
import { cliPath, projectRoot, runCli } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-launch-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** This environment as a caller outside the namespace has it. */
function outsideEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OCI_S2I_NAMESPACE;
  return env;
}

t.test('the launcher and the command table agree on which commands run in the namespace', async (t) => {
  t.same([...namespaceCommands].sort(), commandEntries.filter((e) => e.namespace).map((e) => e.name).sort());
  for (const e of commandEntries) t.equal(entersNamespaceDirectly([e.name], {}, 0), e.namespace, `root \`${e.name}\``);
  t.equal(entersNamespaceDirectly(['build', 'S', 'B', 'T', '--isolation', 'in-image'], {}, 0), false, 'root `build --isolation in-image`: no namespace');
  t.equal(entersNamespaceDirectly(['build', 'S', 'B', 'T', '--isolation', 'sandbox'], {}, 0), true, 'root `build --isolation sandbox`');
});

t.test('only root calls of namespace commands, outside the namespace and without --help, go straight in', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, number, boolean]> = [
    [['build', 'src', 'b', 't'], {}, 0, true],
    [['build-image', '-t', 'x', '.'], {}, 0, true],
    [['build', 'src', 'b', 't'], {}, 1000, false],
    [['build', 'src', 'b', 't'], { OCI_S2I_NAMESPACE: 'root' }, 0, false],
    [['build', '--help'], {}, 0, false],
    [['build', '-h'], {}, 0, false],
    [['copy', 'a', 'b'], {}, 0, false],
    [['version'], {}, 0, false],
    [[], {}, 0, false],
  ];
  for (const [argv, env, uid, want] of cases) t.equal(entersNamespaceDirectly(argv, env, uid), want, `${argv.join(' ') || '(none)'} uid ${uid} ${JSON.stringify(env)}`);
});

t.test('as root, `build` runs `unshare -m --propagation private -- node <launcher> build …` and exits with its code', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  // A stand-in for util-linux unshare, first on PATH: records what it was given and exits 7.
  const bin = path.join(tmp, 'bin');
  const out = path.join(tmp, 'unshare.out');
  spawnSync('mkdir', ['-p', bin]);
  writeFileSync(path.join(bin, 'unshare'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${out}\necho "ns=$OCI_S2I_NAMESPACE" >> ${out}\nexit 7\n`);
  chmodSync(path.join(bin, 'unshare'), 0o755);
  const r = spawnSync(process.execPath, [cliPath, 'build', 'SRC', 'BUILDER', 'TAG', '--root', tmp], {
    cwd: projectRoot,
    env: { ...outsideEnv(), PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  t.equal(r.status, 7, r.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.same(lines.slice(0, 4), ['-m', '--propagation', 'private', '--']);
  t.equal(lines[4], process.execPath);
  t.same(lines.slice(-8, -1), [cliPath, 'build', 'SRC', 'BUILDER', 'TAG', '--root', tmp]);
  t.equal(lines.at(-1), 'ns=root');
});

t.test('without `unshare` the CLI reports it the usual way', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const r = spawnSync(process.execPath, [cliPath, 'build', 'SRC', 'BUILDER', 'TAG', '--root', tmp], {
    cwd: projectRoot,
    env: { ...outsideEnv(), PATH: path.join(tmp, 'empty-path') },
    encoding: 'utf8',
  });
  t.not(r.status, 0);
  t.match(r.stderr, /cannot start `unshare` \(util-linux\)/);
});

t.test('the bundle is current after a build, and it behaves like the tsc output', async (t) => {
  t.ok(useBundle({}), `${bundleFile} exists and is not older than dist/src`);
  t.notOk(useBundle({ OCI_S2I_NO_BUNDLE: '1' }));
  for (const args of [['version', '--json'], ['build', '--help'], ['nonsense']]) {
    const bundled = await runCli(args);
    const plain = await runCli(args, { env: { OCI_S2I_NO_BUNDLE: '1' } });
    t.equal(bundled.code, plain.code, args.join(' '));
    t.equal(bundled.stdout, plain.stdout, args.join(' '));
    t.equal(bundled.stderr, plain.stderr, args.join(' '));
  }
});

t.test('bin/oci-s2i (the command on PATH): root namespace commands are exec\'d under unshare with no Node in between', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const shCli = path.join(projectRoot, 'bin', 'oci-s2i');
  const bin = path.join(tmp, 'shbin');
  const out = path.join(tmp, 'sh-unshare.out');
  spawnSync('mkdir', ['-p', bin]);
  // Records its arguments, the namespace mode and its own pid's parent command: exec means the parent of this
  // stand-in is whatever started bin/oci-s2i (here: this test's Node), not a launcher process in between.
  writeFileSync(path.join(bin, 'unshare'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${out}\necho "ns=$OCI_S2I_NAMESPACE" >> ${out}\necho "ppid=$PPID" >> ${out}\nexit 9\n`);
  chmodSync(path.join(bin, 'unshare'), 0o755);
  const env = { ...outsideEnv(), PATH: `${bin}:${process.env.PATH}` };
  const r = spawnSync(shCli, ['build', 'SRC', 'BUILDER', 'TAG', '--root', tmp], { cwd: projectRoot, env, encoding: 'utf8' });
  t.equal(r.status, 9, r.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.same(lines.slice(0, 5), ['-m', '--propagation', 'private', '--', 'node']);
  // `--` before the script: Node 20 reads --env-file anywhere in its argv (test/cli/node-argv.test.ts).
  t.same(lines.slice(5, 13), ['--', cliPath, 'build', 'SRC', 'BUILDER', 'TAG', '--root', tmp]);
  t.equal(lines[13], 'ns=root');
  t.equal(lines[14], `ppid=${process.pid}`, 'unshare replaced the shell: no process in between');

  rmSync(out, { force: true });
  for (const args of [['build', '--help'], ['version'], ['copy', '--help']]) {
    const x = spawnSync(shCli, args, { cwd: projectRoot, env, encoding: 'utf8' });
    t.equal(x.status, 0, `${args.join(' ')}: ${x.stderr}`);
    t.notOk(readFileSync(out, { flag: 'a+' }).length, `${args.join(' ')} does not go under unshare`);
  }
  const inside = spawnSync(shCli, ['build', '--help'], { cwd: projectRoot, env: { ...env, OCI_S2I_NAMESPACE: 'root' }, encoding: 'utf8' });
  t.equal(inside.status, 0, 'already inside: runs directly');
  // A PATH with what the script needs but no unshare.
  const bare = path.join(tmp, 'bare');
  spawnSync('mkdir', ['-p', bare]);
  for (const tool of ['readlink', 'id', 'nproc']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bare, tool));
  symlinkSync(process.execPath, path.join(bare, 'node'));
  const noUnshare = spawnSync(shCli, ['build', 'SRC', 'BUILDER', 'TAG', '--root', tmp], { cwd: projectRoot, env: { ...outsideEnv(), PATH: bare }, encoding: 'utf8' });
  t.match(noUnshare.stderr, /cannot start `unshare` \(util-linux\)/, 'no unshare: the Node launcher explains');

  // Called through a symlink (npm's bin links): the launcher next to the real script runs.
  const link = path.join(tmp, 'oci-s2i-link');
  symlinkSync(shCli, link);
  const stub = path.join(tmp, 'node-stub-ns');
  writeFileSync(stub, '#!/bin/sh\necho "ns=${OCI_S2I_NAMESPACE:-none} $1 $2"\n');
  chmodSync(stub, 0o755);
  const viaLink = spawnSync(link, ['version'], { env: { ...outsideEnv(), OCI_S2I_NODE: stub }, encoding: 'utf8' });
  t.equal(viaLink.stdout.trim(), `ns=none -- ${cliPath}`);
  // Not root (the user id is read from /proc/self/status): no unshare here, the Node launcher decides.
  const setpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).stdout.trim();
  const open = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-launch-open-'));
  t.teardown(() => rmSync(open, { recursive: true, force: true }));
  chmodSync(open, 0o755);
  const openStub = path.join(open, 'node-stub');
  writeFileSync(openStub, '#!/bin/sh\necho "ns=${OCI_S2I_NAMESPACE:-none} $1 $2"\n');
  chmodSync(openStub, 0o755);
  const nobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];
  // From a copy of the launcher in a dir nobody can reach: the checkout may not be (a clone under /root).
  if (setpriv) {
    mkdirSync(path.join(open, 'bin'), { mode: 0o755 });
    const openCli = path.join(open, 'bin', 'oci-s2i');
    copyFileSync(shCli, openCli);
    chmodSync(openCli, 0o755);
    const asNobody = spawnSync(setpriv, [...nobody, openCli, 'build', 'SRC'], { cwd: '/', env: { ...env, OCI_S2I_NODE: openStub }, encoding: 'utf8' });
    t.equal(asNobody.stdout.trim(), `ns=none -- ${path.join(open, 'bin', 'oci-s2i.js')}`, 'an unprivileged caller goes to the Node launcher');
  }
  const asRoot = spawnSync(shCli, ['build', 'SRC'], { env: { ...outsideEnv(), OCI_S2I_NODE: stub }, encoding: 'utf8' });
  t.equal(asRoot.stdout.trim(), `ns=root -- ${cliPath}`, 'root goes straight under unshare');
});

t.test('bin/oci-s2i and the command table list the same namespace commands', async (t) => {
  const script = readFileSync(path.join(projectRoot, 'bin', 'oci-s2i'), 'utf8');
  const listed = /^\s+([a-z|-]+)\)\n/m.exec(script)?.[1]?.split('|') ?? [];
  t.same(listed.sort(), [...namespaceCommands].sort());
});

t.test('bin/oci-s2i hands NODE_EXTRA_CA_CERTS on as OCI_S2I_EXTRA_CA_CERTS (Node would parse it at start-up)', async (t) => {
  const stub = path.join(tmp, 'node-stub');
  writeFileSync(stub, '#!/bin/sh\necho "node=${NODE_EXTRA_CA_CERTS:-unset} ours=${OCI_S2I_EXTRA_CA_CERTS:-unset}"\n');
  chmodSync(stub, 0o755);
  const run = (extra: NodeJS.ProcessEnv) =>
    spawnSync(path.join(projectRoot, 'bin', 'oci-s2i'), ['version'], { env: { ...outsideEnv(), OCI_S2I_NODE: stub, ...extra }, encoding: 'utf8' }).stdout.trim();
  t.equal(run({ NODE_EXTRA_CA_CERTS: '/etc/some-ca.pem' }), 'node=unset ours=/etc/some-ca.pem');
  const without: NodeJS.ProcessEnv = { ...outsideEnv(), OCI_S2I_NODE: stub };
  delete without.NODE_EXTRA_CA_CERTS;
  t.equal(spawnSync(path.join(projectRoot, 'bin', 'oci-s2i'), ['version'], { env: without, encoding: 'utf8' }).stdout.trim(), 'node=unset ours=unset');
});
