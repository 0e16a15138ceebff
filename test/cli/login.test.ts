// `oci-s2i login` / `logout` as a user runs them (the CLI as a child process) against the real registry with
// htpasswd: a wrong password fails at login and writes nothing; the right one writes a 0600 podman-format
// auth file; a build pushes through that file; without credentials the push fails saying how to log in and
// no tag appears; logout removes the entry. Plus login through --cert-dir to an HTTPS registry, and the
// token-auth flow checked by the library call behind login.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { verifyLogin } from '../../src/registry/login.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { MediaType } from '../../src/oci/media-types.js';
import { cliPath, projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { parseCommandArgs, type Command } from '../../src/cli/command.js';
import { loginCommand } from '../../src/cli/commands/login.js';
import { logoutCommand } from '../../src/cli/commands/logout.js';
import { makeTestCertificates, startRegistry } from '../helpers/registry.js';
import { startTokenServer } from '../helpers/token-server.js';
import { exitOf } from '../helpers/exit-code.js';

const USER = 'alice';
const PASSWORD = 'Corr3ct-h0rse-pw';
const WRONG = 'wr0ng-battery-pw';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-login-test-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const home = path.join(tmp, 'home');
mkdirSync(home);
/** No auth file anywhere but where the test says. */
const cleanEnv: NodeJS.ProcessEnv = { HOME: home, REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '', DOCKER_CONFIG: '', OCI_S2I_CERTS_D: path.join(tmp, 'no-certs.d') };

/** The CLI with `stdin` piped in (runCli gives the child no stdin). */
function runWithStdin(args: string[], stdin: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cliPath, ...args], { cwd: projectRoot, env: { ...process.env, ...cleanEnv, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
    p.stdin.end(stdin);
  });
}

/** A command run in this process (for checks that need no child process): its exit code and stdout. */
async function inProcess(cmd: Command, argv: string[]): Promise<{ code: number; stdout: string }> {
  const { positionals, values } = parseCommandArgs(cmd, argv);
  let stdout = '';
  const sink = (f: (s: string) => void) => ({ write: (s: string | Buffer) => (f(s.toString()), true) }) as unknown as NodeJS.WriteStream;
  const code = await cmd.run({
    positionals,
    values,
    global: { quiet: false, json: false, debug: false, loglevel: 0 },
    signal: new AbortController().signal,
    stdout: sink((s) => (stdout += s)),
    stderr: sink(() => {}),
  });
  return { code, stdout };
}

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli(args, { env: { ...cleanEnv, ...env } });

t.test('login, push through the auth file, logout (htpasswd registry)', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  const authFile = path.join(tmp, 'auth', 'auth.json');

  t.test('a wrong password fails at login, in one line, and writes nothing', async (t) => {
    const r = await runWithStdin(['login', '-u', USER, '--password-stdin', '--authfile', authFile, reg.host], `${WRONG}\n`);
    t.not(r.code, 0);
    t.equal(r.stdout, '');
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
    t.match(r.stderr, new RegExp(`^oci-s2i: login to ${reg.host} failed: the registry refused the credentials for user "alice"`));
    t.notMatch(r.stdout + r.stderr, WRONG);
    t.notMatch(r.stdout + r.stderr, Buffer.from(`${USER}:${WRONG}`).toString('base64'));
    t.notOk(existsSync(authFile), 'no auth file written');

    const p = await cli(['login', '-u', USER, '-p', WRONG, '--authfile', authFile, reg.host]);
    t.not(p.code, 0);
    t.notMatch(p.stdout + p.stderr, WRONG, '-p: the password is not echoed either');
    t.match(p.stderr, /--password-stdin/, 'and -p is discouraged');
    t.notOk(existsSync(authFile));
  });

  t.test('bad input: no password source, empty password, a path for a host, both password flags', async (t) => {
    const none = await cli(['login', '-u', USER, '--authfile', authFile, reg.host]);
    t.equal(none.code, 64);
    t.match(none.stderr, /no password: .*--password-stdin/);
    const empty = await runWithStdin(['login', '-u', USER, '--password-stdin', '--authfile', authFile, reg.host], '\n');
    t.equal(empty.code, 64);
    t.match(empty.stderr, /password is empty/);
    await t.rejects(exitOf(inProcess(loginCommand, ['--password-stdin', '--authfile', authFile, reg.host])), { code: 'ERR_USAGE', exitCode: 64, message: /no user name/ });
    await t.rejects(exitOf(inProcess(loginCommand, ['-u', USER, '--password-stdin', '--authfile', authFile, `${reg.host}/team/app`])), { code: 'ERR_USAGE', exitCode: 64 });
    await t.rejects(inProcess(loginCommand, ['-u', USER, '-p', PASSWORD, '--password-stdin', '--authfile', authFile, reg.host]), { code: 'ERR_USAGE', message: /cannot be combined/ });
    await t.rejects(inProcess(loginCommand, ['-u', 'a:b', '-p', PASSWORD, '--authfile', authFile, reg.host]), { code: 'ERR_USAGE', message: /no ":"/ });
    await t.rejects(inProcess(loginCommand, ['-u', USER, '-p', PASSWORD, '--authfile', authFile, 'bad host!']), { code: 'ERR_INVALID_REFERENCE' });
    t.notOk(existsSync(authFile));
  });

  t.test('the right password writes a 0600 podman-format auth file', async (t) => {
    const r = await runWithStdin(['login', '-u', USER, '--password-stdin', '--authfile', authFile, `http://${reg.host}/`], `${PASSWORD}\r\n`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'Login Succeeded!\n');
    t.notMatch(r.stdout + r.stderr, PASSWORD);
    t.equal(statSync(authFile).mode & 0o777, 0o600);
    const doc = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    t.same(Object.keys(doc.auths), [reg.host], 'keyed by host:port');
    t.equal(Buffer.from(doc.auths[reg.host]!.auth, 'base64').toString(), `${USER}:${PASSWORD}`, 'CRLF stripped from stdin');
  });

  t.test('an auth file under /proc is one line, at once (it used to spin in a recursive mkdir)', async (t) => {
    const start = Date.now();
    const r = await runWithStdin(['login', '-u', USER, '--password-stdin', '--authfile', '/proc/1/x/auth.json', reg.host], `${PASSWORD}\n`);
    t.ok(Date.now() - start < 20_000, 'ended quickly');
    t.equal(r.code, 1, r.stderr);
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.match(r.stderr, /^oci-s2i: cannot create the directory of the auth file \/proc\/1\/x\/auth\.json \(ENOENT\)/);
  });

  t.test('REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR choose where login writes', async (t) => {
    const viaEnv = path.join(tmp, 'env-auth.json');
    const r1 = await runWithStdin(['login', '-u', USER, '--password-stdin', reg.host], PASSWORD, { REGISTRY_AUTH_FILE: viaEnv });
    t.equal(r1.code, 0, r1.stderr);
    t.ok(existsSync(viaEnv));
    const xdg = path.join(tmp, 'xdg');
    const typo = await runWithStdin(['login', '-u', USER, '--password-stdin', reg.host], PASSWORD, { XDG_RUNTIME_DIR: xdg });
    t.equal(typo.code, 1, 'an XDG_RUNTIME_DIR that does not exist is refused, as podman does');
    t.match(typo.stderr, /XDG_RUNTIME_DIR is .* which does not exist: create it, unset XDG_RUNTIME_DIR, or give --authfile/);
    mkdirSync(xdg);
    const r2 = await runWithStdin(['login', '-u', USER, '--password-stdin', reg.host], PASSWORD, { XDG_RUNTIME_DIR: xdg });
    t.equal(r2.code, 0, r2.stderr);
    t.ok(existsSync(path.join(xdg, 'containers', 'auth.json')));
  });

  t.test('a build pushes through the auth file login wrote', async (t) => {
    const libClient = new RegistryClient({ authFile });
    t.teardown(() => libClient.close());
    await pushBusyboxBuilder(libClient.repository(reg.host, 'login/builder'), 'latest', {
      scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin'),
    });
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    chmodSync(src, 0o755);
    writeFileSync(path.join(src, 'index.html'), 'hello\n');
    const root = path.join(tmp, 'root');
    const r = await cli(['build', src, `${reg.host}/login/builder:latest`, `${reg.host}/login/app:v1`, '--authfile', authFile, '--root', root, '-q']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    t.equal((await libClient.repository(reg.host, 'login/app').resolve('v1')).descriptor.digest, r.stdout.trim());

    // No credentials: the builder comes from the local store (pull-policy never), the push is refused (before
    // assemble: test/pipeline/push.test.ts).
    const anon = await cli(['build', src, `${reg.host}/login/builder:latest`, `${reg.host}/login/app:v2`, '--root', root, '--pull-policy', 'never', '-q'], { XDG_RUNTIME_DIR: tmp });
    t.not(anon.code, 0);
    t.match(anon.stderr, new RegExp(`asks for credentials and none were found for it; run \`oci-s2i login ${reg.host.replace(/\./g, '\\.')}\``), anon.stderr);
    t.notMatch(anon.stderr, PASSWORD);
    await t.rejects(libClient.repository(reg.host, 'login/app').resolve('v2'), { code: 'ERR_MANIFEST_UNKNOWN' }, 'nothing was tagged');
  });

  t.test('the library push works through the file too, and fails without it', async (t) => {
    const data = randomBytes(3000);
    const d = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length };
    const anon = new RegistryClient({ env: cleanEnv });
    t.teardown(() => anon.close());
    await t.rejects(anon.repository(reg.host, 'login/lib').pushBlob(d, () => Readable.from([data])), { code: 'ERR_UNAUTHORIZED', message: new RegExp(`oci-s2i login ${reg.host}`) });
    const authed = new RegistryClient({ authFile });
    t.teardown(() => authed.close());
    await authed.repository(reg.host, 'login/lib').pushBlob(d, () => Readable.from([data]));
    t.equal(await authed.repository(reg.host, 'login/lib').blobExists(d), true);
  });

  t.test('logout removes the entry; a second logout says so', async (t) => {
    const other = path.join(tmp, 'other.json');
    writeFileSync(other, JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('q:w').toString('base64') }, [reg.host]: { auth: 'eDp5' } }, credHelpers: { 'gcr.io': 'gcloud' } }));
    const r = await inProcess(logoutCommand, ['--authfile', other, reg.host]);
    t.equal(r.code, 0);
    t.equal(r.stdout, `Removed login credentials for ${reg.host}\n`);
    const doc = JSON.parse(readFileSync(other, 'utf8')) as { auths: Record<string, unknown>; credHelpers: unknown };
    t.same(Object.keys(doc.auths), ['quay.io'], 'other registries kept');
    t.same(doc.credHelpers, { 'gcr.io': 'gcloud' }, 'other keys kept');
    await t.rejects(exitOf(inProcess(logoutCommand, ['--authfile', other, reg.host])), { code: 'ERR_NOT_LOGGED_IN', exitCode: 1, message: new RegExp(`not logged in to ${reg.host.replace(/\./g, '\\.')}`) });
    t.equal((await inProcess(logoutCommand, ['--all', '--authfile', other])).code, 0);
    t.same((JSON.parse(readFileSync(other, 'utf8')) as { auths: object }).auths, {});
    await t.rejects(inProcess(logoutCommand, ['--authfile', other]), { code: 'ERR_USAGE' }, 'neither REGISTRY nor --all');
    await t.rejects(inProcess(logoutCommand, ['--all', '--authfile', other, reg.host]), { code: 'ERR_USAGE' });

    const out = await cli(['logout', '--authfile', authFile, reg.host]);
    t.equal(out.code, 0, out.stderr);
    t.equal(out.stdout, `Removed login credentials for ${reg.host}\n`);
    const anon = new RegistryClient({ authFile });
    t.teardown(() => anon.close());
    await t.rejects(anon.repository(reg.host, 'login/app').resolve('v1'), { code: 'ERR_UNAUTHORIZED' }, 'logged out: refused');
  });
});

t.test('login to an HTTPS registry with --cert-dir', async (t) => {
  const dir = path.join(tmp, 'tls');
  mkdirSync(dir);
  const certs = makeTestCertificates(dir);
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD }, tls: { certificate: certs.serverCert, key: certs.serverKey } });
  t.teardown(() => reg.stop());
  const authFile = path.join(tmp, 'tls-auth.json');
  const noCa = await runWithStdin(['login', '-u', USER, '--password-stdin', '--authfile', authFile, reg.host], PASSWORD);
  t.not(noCa.code, 0);
  t.match(noCa.stderr, /x509: .*--cert-dir/);
  t.notOk(existsSync(authFile));
  const certDir = path.join(dir, 'cert-dir');
  mkdirSync(certDir);
  copyFileSync(certs.caCert, path.join(certDir, 'ca.crt'));
  const ok = await runWithStdin(['login', '-u', USER, '--password-stdin', '--cert-dir', certDir, '--authfile', authFile, reg.host], PASSWORD);
  t.equal(ok.code, 0, ok.stderr);
});

t.test('the check behind login with token auth (Bearer challenge → token endpoint)', async (t) => {
  const tokens = await startTokenServer({ users: { bob: 'pw-bob' } });
  t.teardown(() => tokens.stop());
  const reg = await startRegistry({ authYaml: tokens.authYaml });
  t.teardown(() => reg.stop());
  await verifyLogin(reg.host, { username: 'bob', password: 'pw-bob' });
  t.ok(tokens.requests.some((r) => r.user === 'bob'), 'the token endpoint saw the credentials');
  const err = (await verifyLogin(reg.host, { username: 'bob', password: 'nope-pw' }).catch((e: unknown) => e)) as Error;
  t.match(err, { code: 'ERR_LOGIN_FAILED' });
  t.notMatch(err.message, 'nope-pw');
});
