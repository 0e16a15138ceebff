// `create` → `build-image` → `build` → `run` with no daemon (issue 5 "Done when"): the scaffold made by the CLI,
// FROM a busybox image pushed to a real registry, tested by its own generated `test/run` with nothing but an
// `oci-s2i` command on PATH; and the same build-image + build as an unprivileged user with a subuid range.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync, chmodSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli as runCliRaw, cliPath, type CliResult, type CliOptions } from '../helpers/cli.js';
import { ensureUser, cliFor, userTempDir, canCreateUsers, type TestUser } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

// tap's per-process hooks (NODE_OPTIONS) make every CLI start several times slower; they are not needed here.
const runCli = (args: string[], opts: CliOptions = {}): Promise<CliResult> => runCliRaw(args, { ...opts, env: { NODE_OPTIONS: '', ...opts.env } });

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-scaffold-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
let base = '';
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
  // Like docker.io/library/busybox: runs as root, so the scaffold's `RUN chown` works.
  await pushBusyboxBuilder(client.repository(registry.host, 'lib/busybox'), 'latest', { user: '0', cmd: ['sh'] });
  base = `${registry.host}/lib/busybox:latest`;
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A bin dir with an `oci-s2i` that runs this checkout's CLI (as a user who installed it would have on PATH). */
function wrapperBin(cli: string): string {
  const bin = mkdtempSync(path.join(tmp, 'bin-'));
  chmodSync(bin, 0o755);
  writeFileSync(path.join(bin, 'oci-s2i'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} "$@"\n`, { mode: 0o755 });
  return bin;
}

/** Runs a script with env (PATH first gets `bin`), optionally as another user; never through a shell. `onSpawn`
 *  gets the script's PID (its `$$`). */
function runScript(file: string, env: NodeJS.ProcessEnv, user?: TestUser, onSpawn?: (pid: number) => void): Promise<CliResult> {
  const full: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...env };
  let cmd = file;
  let args: string[] = [];
  if (user) {
    Object.assign(full, { HOME: user.home, USER: user.name });
    delete full.XDG_RUNTIME_DIR;
    cmd = 'setpriv';
    args = ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', file];
  }
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: full, cwd: path.dirname(file), stdio: ['ignore', 'pipe', 'pipe'] });
    if (p.pid !== undefined) onSpawn?.(p.pid);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

t.test("create → build-image → build → run, no daemon: the scaffold's own test/run passes", async (t) => {
  const dir = path.join(tmp, 'my-builder');
  const c = await runCli(['create', '--base-image', base, 'my-builder', dir]);
  t.equal(c.code, 0, c.stderr);
  t.match(c.stdout, /created test\/run/);
  t.match(readFileSync(path.join(dir, 'Dockerfile'), 'utf8'), new RegExp(`^FROM ${base.replace(/[.]/g, '\\.')}$`, 'm'), '--base-image is the FROM');

  // TMPDIR: where test/run makes its work dir and temporary store; it must be empty again afterwards.
  const scratch = mkdtempSync(path.join(tmp, 'scratch-'));
  const r = await runScript(path.join(dir, 'test', 'run'), { PATH: `${wrapperBin(cliPath)}:${process.env.PATH}`, TMPDIR: scratch });
  if (!t.equal(r.code, 0, 'test/run exits 0')) t.comment(r.stdout + r.stderr);
  for (const step of ['Building the builder image', 'Testing usage', 'Building the test application', 'incrementally', 'Running the test application', 'Stopping']) {
    t.match(r.stdout, step, step);
  }
  t.match(r.stdout, /S2I image 'my-builder' test PASSED/);
  t.same(readdirSync(scratch), [], 'work dir and temporary store removed');
  const port = /on port (\d+)/.exec(r.stdout)?.[1];
  t.ok(port, 'test/run named its port');
  const httpd = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`httpd -f -v -p ${port} `));
  t.same(httpd, [], 'the application was stopped');
});

/** A TCP listener on 127.0.0.1:`port` (0: any free one) that is no HTTP server: it closes every connection at
 *  once. Returns its port. */
async function occupy(t: Test, port: number): Promise<number> {
  const server = net.createServer((sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

t.test("test/run and a port something else holds: TEST_PORT fails in one line, its own choice moves to the next port", async (t) => {
  const dir = path.join(tmp, 'port-builder');
  const c = await runCli(['create', '--base-image', base, 'port-builder', dir]);
  t.equal(c.code, 0, c.stderr);
  const bin = wrapperBin(cliPath);

  // Anything listening counts, not only a server that answers HTTP 200 (which is all the page fetch tells).
  const takenPort = await occupy(t, 0);
  const scratch = mkdtempSync(path.join(tmp, 'scratch-'));
  const r = await runScript(path.join(dir, 'test', 'run'), { PATH: `${bin}:${process.env.PATH}`, TMPDIR: scratch, TEST_PORT: String(takenPort) });
  t.equal(r.code, 1, 'a TEST_PORT in use fails');
  t.match(r.stderr, `S2I image 'port-builder' test FAILED: port ${takenPort} is in use; set TEST_PORT to a free port`);
  t.notMatch(r.stdout, /Running the test application/, 'nothing was started on it');
  t.same(readdirSync(scratch), [], 'cleaned up');

  // Without TEST_PORT the script takes 20000 + $$ % 12000: held here as soon as the script has a PID, long before
  // the script gets to it.
  let own = 0;
  const held: Array<Promise<unknown>> = [];
  const scratch2 = mkdtempSync(path.join(tmp, 'scratch-'));
  const r2 = await runScript(path.join(dir, 'test', 'run'), { PATH: `${bin}:${process.env.PATH}`, TMPDIR: scratch2 }, undefined, (pid) => {
    own = 20000 + (pid % 12000);
    held.push(occupy(t, own).catch(() => undefined)); // EADDRINUSE: held already, by something else
  });
  await Promise.all(held);
  if (!t.equal(r2.code, 0, 'test/run exits 0')) t.comment(r2.stdout + r2.stderr);
  const port = Number(/on port (\d+)/.exec(r2.stdout)?.[1]);
  t.ok(own > 0 && port > own && port <= own + 20, `moved from ${own} to ${port}`);
  t.match(r2.stdout, /S2I image 'port-builder' test PASSED/);
  t.same(readdirSync(scratch2), [], 'cleaned up');
});

t.test('test/run fails with a message and still cleans up; create refuses a bad --base-image', async (t) => {
  const dir = path.join(tmp, 'broken-builder');
  const c = await runCli(['create', '--base-image', base, 'broken-builder', dir]);
  t.equal(c.code, 0, c.stderr);
  writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${base}\nHEALTHCHECK CMD true\n`);
  const scratch = mkdtempSync(path.join(tmp, 'scratch-'));
  const r = await runScript(path.join(dir, 'test', 'run'), { PATH: `${wrapperBin(cliPath)}:${process.env.PATH}`, TMPDIR: scratch });
  t.equal(r.code, 1);
  t.match(r.stderr, /Dockerfile:2: HEALTHCHECK is not supported/, "build-image's error names the line");
  t.match(r.stderr, /S2I image 'broken-builder' test FAILED: build-image/);
  t.same(readdirSync(scratch), [], 'cleaned up after the failure');

  const noCli = await runScript(path.join(dir, 'test', 'run'), { OCI_S2I: path.join(tmp, 'no-such-oci-s2i'), TMPDIR: scratch });
  t.equal(noCli.code, 1, 'a missing oci-s2i fails');
  t.match(noCli.stderr, /FAILED: build-image/);

  const bad = await runCli(['create', '--base-image', 'bad base', 'x', path.join(tmp, 'x')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /base image "bad base" is not a usable image reference/);
  t.notOk(existsSync(path.join(tmp, 'x')), 'nothing written');
});

t.test('rootless: an unprivileged user with a subuid range runs build-image and build of the scaffold', { skip: !canCreateUsers() && 'needs root to create a test user' }, async (t) => {
  const user = ensureUser('ocis2i-rootless', { subIds: true });
  const cli = cliFor(user);
  const home = userTempDir(user, 'oci-s2i-scaffold-rootless-');
  const dir = path.join(home, 'rootless-builder');
  const c = await runCli(['create', '--base-image', base, 'rootless-builder', dir], { user, cli });
  t.equal(c.code, 0, c.stderr);
  const root = path.join(home, 'cache');
  const ref = `${registry.host}/t/rootless-builder:1`;
  const b = await runCli(['build-image', '--root', root, dir, ref], { user, cli });
  if (!t.equal(b.code, 0, 'build-image as the user')) t.comment(b.stderr);
  t.notMatch(b.stderr, /subordinate ID range/, 'the subuid range was used (no single-ID fallback)');
  const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`], { encoding: 'utf8' }));
  t.equal(cfg.config.User, '1001');

  const app = `${registry.host}/t/rootless-app:1`;
  const a = await runCli(['build', '--root', root, path.join(dir, 'test', 'test-app'), ref, app], { user, cli });
  if (!t.equal(a.code, 0, 'build as the user')) t.comment(a.stderr);
  t.match(a.stderr, /Installing application source/, "the scaffold's assemble ran");
  // The image holds real ownership: RUN chown 1001:0 in build-image, assemble as 1001 in build.
  const layout = path.join(tmp, 'layout-rootless');
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${app}`, `oci:${layout}:app`], { stdio: 'ignore' });
  const bundle = path.join(tmp, 'bundle-rootless');
  execFileSync('umoci', ['unpack', '--image', `${layout}:app`, bundle], { stdio: 'ignore' });
  const ls = execFileSync('stat', ['-c', '%u:%g', path.join(bundle, 'rootfs/opt/app-root/src'), path.join(bundle, 'rootfs/opt/app-root/src/index.html')], { encoding: 'utf8' });
  t.same(ls.trim().split('\n'), ['1001:0', '1001:0'], 'owners as in the Dockerfile and the assemble user');

  // The user's cache holds layers owned by subordinate IDs: `cache prune --all` (inside the namespace) empties it.
  const p = await runCli(['cache', 'prune', '--all', '--root', root], { user, cli });
  if (!t.equal(p.code, 0, 'cache prune --all as the user')) t.comment(p.stderr);
  t.doesNotThrow(() => execFileSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'rm', '-rf', root]), 'the user can remove the pruned cache');
});
