// Credentials on the command line, as a user runs the CLI (a child process) against real registries with htpasswd
// on loopback: --creds USER:PASS; --creds USER asks on a terminal (a real pty from `script`, nothing echoed) and is
// a usage error without one; copy's --src-creds/--dest-creds; an --authfile or REGISTRY_AUTH_FILE that does not
// exist is one line and exit 64 (logout too; login creates it); /run/containers/$UID/auth.json is read and written
// when XDG_RUNTIME_DIR is unset (as root, only when it is not there; removed again), one a user may not read is
// skipped; secrets stay out of every output (--json included). The build's early destination check: test/pipeline/push.test.ts.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { cliPath, projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { canCreateUsers, cliFor, ensureUser } from '../helpers/users.js';

const USER = 'carol';
const PASSWORD = 'Cr3ds-0n-the-l1ne';
const OTHER = 'dave';
const OTHER_PASSWORD = 'D4ve-s-0wn-pw';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-creds-test-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const home = path.join(tmp, 'home');
const runtimeDir = path.join(tmp, 'xdg-runtime');
mkdirSync(home);
mkdirSync(runtimeDir);
/** No auth file anywhere but where a test says (XDG_RUNTIME_DIR keeps the real /run/containers/$UID out). */
const cleanEnv: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: runtimeDir, XDG_CONFIG_HOME: '', REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', OCI_S2I_CERTS_D: path.join(tmp, 'no-certs.d') };
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli(args, { env: { ...cleanEnv, ...env } });

/** Everything the user can see of a run must not hold the password, nor USER:PASS in base64. */
function noSecret(t: Test, r: CliResult, ...secrets: string[]): void {
  for (const s of secrets) {
    t.notOk((r.stdout + r.stderr).includes(s), `no ${s.slice(0, 3)}… in the output`);
    t.notOk((r.stdout + r.stderr).includes(b64(`${USER}:${s}`)), 'nor its base64');
  }
}

/** A registry (with htpasswd for USER when `locked`) holding a small image at REPO:latest; stopped in teardown. */
async function registryWithImage(t: Test, repo: string, locked = true): Promise<{ reg: TestRegistry; image: string }> {
  const reg = await startRegistry(locked ? { htpasswd: { user: USER, password: PASSWORD } } : {});
  t.teardown(() => reg.stop());
  const admin = new RegistryClient(locked ? { credentials: { username: USER, password: PASSWORD } } : {});
  t.teardown(() => admin.close());
  await pushBusyboxBuilder(admin.repository(reg.host, repo), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
  return { reg, image: `docker://${reg.host}/${repo}:latest` };
}

t.test('--creds, --authfile and the auth files, against a registry with htpasswd', async (t) => {
  const { reg, image } = await registryWithImage(t, 'creds/img');

  t.test('--creds USER:PASS is used (and --json shows no secret); no credentials: unauthorized, saying how', async (t) => {
    const ok = await cli(['inspect', '--json', '--creds', `${USER}:${PASSWORD}`, image]);
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stdout, /"layers"/);
    noSecret(t, ok, PASSWORD);
    const eq = await cli(['inspect', `--creds=${USER}:${PASSWORD}`, image]);
    t.equal(eq.code, 0, eq.stderr);
    const anon = await cli(['inspect', image]);
    t.equal(anon.code, 2);
    t.match(anon.stderr, new RegExp(`unauthorized: run \`oci-s2i login ${reg.host}\`, give --creds USER\\[:PASS\\]`));
    const wrong = await cli(['inspect', '--creds', `${USER}:not-${PASSWORD}`, image]);
    t.equal(wrong.code, 2);
    t.match(wrong.stderr, /unauthorized/);
    noSecret(t, wrong, `not-${PASSWORD}`);
  });

  t.test('--creds USER without a terminal: one line, exit 64, before anything is fetched', async (t) => {
    for (const args of [['inspect', '--creds', USER, image], ['inspect', '--creds', `${USER}:`, image], ['copy', '--dest-creds', USER, image, `oci:${tmp}/never`]]) {
      const r = await cli(args);
      t.equal(r.code, 64, args.join(' '));
      t.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      t.match(r.stderr, /has no password and standard input is not a terminal to ask on: give --(dest-)?creds USER:PASS/);
    }
    const empty = await cli(['inspect', '--creds', `:${PASSWORD}`, image]);
    t.equal(empty.code, 64);
    t.match(empty.stderr, /--creds: the user name is empty/);
    noSecret(t, empty, PASSWORD);
    t.notOk(existsSync(path.join(tmp, 'never')));
  });

  t.test('--creds USER on a terminal: the password is asked for, not echoed, and used', async (t) => {
    // `script` gives the CLI a real pty; the transcript on its stdout is everything the terminal showed.
    const command = [process.execPath, cliPath, 'inspect', '--creds', USER, image].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<{ code: number; shown: string }>((resolve, reject) => {
      const p = spawn('script', ['-qec', command, '/dev/null'], { cwd: projectRoot, env: { ...process.env, ...cleanEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
      let shown = '';
      let answered = false;
      p.stdout.on('data', (d: Buffer) => {
        shown += d.toString();
        if (!answered && shown.includes(`Password for ${USER}: `)) {
          answered = true;
          p.stdin.write(`${PASSWORD}\r`);
        }
      });
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.once('error', reject);
      p.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128, shown });
      });
    });
    t.equal(r.code, 0, r.shown);
    t.match(r.shown, `Password for ${USER}: `);
    t.match(r.shown, /"?layers"?/i);
    t.notOk(r.shown.includes(PASSWORD), 'the password was not echoed');
  });

  t.test('an --authfile or REGISTRY_AUTH_FILE that does not exist: one line, exit 64 (it used to be ignored, then "unauthorized")', async (t) => {
    const missing = path.join(tmp, 'missing', 'auth.json');
    for (const args of [['inspect', '--authfile', missing, image], ['pull', '--authfile', missing, '--root', path.join(tmp, 'root'), image], ['copy', '--authfile', missing, image, `oci:${tmp}/never`], ['logout', '--authfile', missing, reg.host]]) {
      const r = await cli(args);
      t.equal(r.code, 64, `${args[0]}: ${r.stderr}`);
      t.equal(r.stderr, `oci-s2i: --authfile ${missing} cannot be read (ENOENT): give an auth file that exists, or run \`oci-s2i login --authfile ${missing} HOST\` to create it\n`);
    }
    const env = await cli(['inspect', image], { REGISTRY_AUTH_FILE: missing });
    t.equal(env.code, 64);
    t.match(env.stderr, new RegExp(`^oci-s2i: REGISTRY_AUTH_FILE ${missing} cannot be read`));
    const dir = await cli(['inspect', '--authfile', tmp, image]);
    t.equal(dir.code, 64);
    t.match(dir.stderr, /is not a file/);
    t.notOk(existsSync(path.join(tmp, 'never')));
    // login creates it, as podman's does.
    const login = await new Promise<number>((resolve) => {
      const p = spawn(process.execPath, [cliPath, 'login', '-u', USER, '--password-stdin', '--authfile', missing, reg.host], { cwd: projectRoot, env: { ...process.env, ...cleanEnv }, stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('close', (c) => resolve(c ?? 128));
      p.stdin.end(PASSWORD);
    });
    t.equal(login, 0);
    const after = await cli(['inspect', '--authfile', missing, image]);
    t.equal(after.code, 0, after.stderr);
  });

  t.test('precedence through the CLI: --creds over --authfile over the default files', async (t) => {
    const good = path.join(tmp, 'good.json');
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(good, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }));
    writeFileSync(bad, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${USER}:stale-pw`) } } }));
    mkdirSync(path.join(runtimeDir, 'containers'), { recursive: true });
    const primary = path.join(runtimeDir, 'containers', 'auth.json');
    writeFileSync(primary, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }));
    t.teardown(() => rmSync(primary, { force: true }));
    t.equal((await cli(['inspect', image])).code, 0, 'the primary file ($XDG_RUNTIME_DIR/containers/auth.json)');
    t.equal((await cli(['inspect', '--authfile', bad, image])).code, 2, '--authfile alone is read, not the primary');
    t.equal((await cli(['inspect', image], { REGISTRY_AUTH_FILE: bad })).code, 2, 'REGISTRY_AUTH_FILE alone is read');
    t.equal((await cli(['inspect', '--authfile', good, image], { REGISTRY_AUTH_FILE: bad })).code, 0, '--authfile over REGISTRY_AUTH_FILE');
    t.equal((await cli(['inspect', '--authfile', bad, '--creds', `${USER}:${PASSWORD}`, image])).code, 0, '--creds over every file');
  });
});

t.test('copy: --src-creds and --dest-creds for two registries with different users', async (t) => {
  const { image: from } = await registryWithImage(t, 'copy/img');
  const dst = await startRegistry({ htpasswd: { user: OTHER, password: OTHER_PASSWORD } });
  t.teardown(() => dst.stop());
  const to = `docker://${dst.host}/copy/img:copied`;
  const one = await cli(['copy', '--creds', `${USER}:${PASSWORD}`, from, to]);
  t.not(one.code, 0, '--creds is for both ends: the destination refuses it');
  t.match(one.stderr, /unauthorized/);
  const both = await cli(['copy', '--json', '--src-creds', `${USER}:${PASSWORD}`, '--dest-creds', `${OTHER}:${OTHER_PASSWORD}`, from, to]);
  t.equal(both.code, 0, both.stderr);
  noSecret(t, both, PASSWORD, OTHER_PASSWORD);
  const mixed = await cli(['copy', '--creds', `${USER}:${PASSWORD}`, '--dest-creds', `${OTHER}:${OTHER_PASSWORD}`, from, `docker://${dst.host}/copy/img:mixed`]);
  t.equal(mixed.code, 0, `--dest-creds over --creds for the destination: ${mixed.stderr}`);
});

const runDir = `/run/containers/${process.getuid?.() ?? 0}`;
const runFile = path.join(runDir, 'auth.json');
t.test(`${runFile} is read when XDG_RUNTIME_DIR is unset, and login writes it (podman's file in most pods)`, { skip: process.getuid?.() !== 0 ? 'needs root (the real /run/containers)' : existsSync(runFile) ? `${runFile} exists: not touched` : false }, async (t) => {
  const { reg, image } = await registryWithImage(t, 'run/img');
  // What this test makes under /run/containers goes again, also when it fails.
  const made = [runDir, path.dirname(runDir)].filter((d) => !existsSync(d));
  t.teardown(() => {
    rmSync(runFile, { force: true });
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  const env = { XDG_RUNTIME_DIR: '' };
  t.equal((await cli(['inspect', image], env)).code, 2, 'no file yet: unauthorized');
  const login = await new Promise<number>((resolve) => {
    const p = spawn(process.execPath, [cliPath, 'login', '-u', USER, '--password-stdin', reg.host], { cwd: projectRoot, env: { ...process.env, ...cleanEnv, ...env }, stdio: ['pipe', 'ignore', 'ignore'] });
    p.once('close', (c) => resolve(c ?? 128));
    p.stdin.end(PASSWORD);
  });
  t.equal(login, 0);
  t.ok(existsSync(runFile), `login wrote ${runFile}`);
  t.equal(statSync(runFile).mode & 0o777, 0o600);
  const after = await cli(['inspect', image], env);
  t.equal(after.code, 0, after.stderr);
  t.equal((await cli(['inspect', image], { XDG_RUNTIME_DIR: runtimeDir })).code, 2, 'with XDG_RUNTIME_DIR set, that file is not the primary one');
});

t.test('a default auth file this user may not read is skipped (a rootless user without XDG_RUNTIME_DIR on a host whose /run/containers is root\'s)', { skip: !canCreateUsers() && 'needs root to make a test user' }, async (t) => {
  const { image } = await registryWithImage(t, 'anon/img', false);
  const user = ensureUser('ocis2icreds', { subIds: false });
  const hidden = path.join(tmp, 'hidden');
  mkdirSync(path.join(hidden, 'containers'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(hidden, 'containers', 'auth.json'), '{}');
  chmodSync(hidden, 0o700);
  const r = await runCli(['inspect', image], { user, cli: cliFor(user), env: { REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', XDG_CONFIG_HOME: path.join(hidden, 'x') } });
  t.equal(r.code, 0, r.stderr);
  const named = await runCli(['inspect', '--authfile', path.join(hidden, 'containers', 'auth.json'), image], { user, cli: cliFor(user) });
  t.equal(named.code, 64, 'a named file this user may not read is an error');
  t.match(named.stderr, /cannot be read \(EACCES\)/);
});
