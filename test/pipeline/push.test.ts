// pipeline/push.ts preparePush, end to end: `oci-s2i build` checks its destination while the builder is pulled (the
// upload sessions the push will use, opened at the start) and fails BEFORE assemble runs when the registry refuses
// the push (no credentials, a wrong password in a file or in --creds) or cannot be reached, or a file destination's
// directory cannot be written: one line naming the destination and what to do. The builder's assemble leaves a
// marker in a bind-mounted host dir and prints a line: both are absent after those failures, and --json shows no
// assemble step. With the right --creds the build pushes, and the password is in no output, no label, and no
// process title or argv while it runs. Real registries (one open for the builder, one with htpasswd) on loopback.
import t, { type Test } from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { cliPath, projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';

const USER = 'erin';
const PASSWORD = 'Push-r1ght-n0w-pw';
const WRONG = 'N0t-erins-pw-at-all';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const MARK = 'ASSEMBLE-RAN-MARKER';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-push-check-'));
chmodSync(tmp, 0o755);
const home = path.join(tmp, 'home');
const runtimeDir = path.join(tmp, 'xdg-runtime');
mkdirSync(home);
mkdirSync(runtimeDir);
const root = path.join(tmp, 'root');
/** No auth file anywhere but where a test says (XDG_RUNTIME_DIR keeps the real /run/containers/$UID out). */
const cleanEnv: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: runtimeDir, XDG_CONFIG_HOME: '', REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' };

let open: TestRegistry;
let locked: TestRegistry;
let builder: string;
const client = new RegistryClient();
const admin = new RegistryClient({ credentials: { username: USER, password: PASSWORD } });
t.before(async () => {
  [open, locked] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { user: USER, password: PASSWORD } })]);
  const scripts = path.join(tmp, 'scripts');
  mkdirSync(scripts);
  // Marks that it ran (stdout and a file in the bind-mounted dir); $ASSEMBLE_SLEEP keeps it running a while.
  writeFileSync(path.join(scripts, 'assemble'), `#!/bin/sh\necho ${MARK}\ntouch /mnt/marker/ran\nsleep "\${ASSEMBLE_SLEEP:-0}"\ncp -Rf /tmp/src/. ./\n`, { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\nexec cat index.html\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(open.host, 'check/builder'), 'latest', { scriptsDir: scripts });
  builder = `${open.host}/check/builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await admin.close();
  await open?.stop();
  await locked?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'hello\n');
  return dir;
}

function markerDir(): string {
  const dir = mkdtempSync(path.join(tmp, 'marker-'));
  chmodSync(dir, 0o777);
  return dir;
}

const build = (src: string, marker: string, target: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  runCli(['build', src, builder, target, '--root', root, '-v', `${marker}:/mnt/marker`, '--json', ...extra], { env: { ...cleanEnv, ...env } });

/** Failed before assemble: no marker file, no marker line, no assemble step in the --json events; one error line. */
function failedBeforeAssemble(t: Test, r: CliResult, marker: string, message: RegExp): void {
  t.equal(r.code, 1, r.stderr);
  t.notOk(existsSync(path.join(marker, 'ran')), 'assemble never ran (no marker file)');
  t.notMatch(r.stdout + r.stderr, MARK, 'nor its output');
  t.notMatch(r.stderr, /"type":"step","name":"assemble"/, 'no assemble step began');
  // With --json, the error is one {"type":"error"} object; its message is the line a terminal gets after `oci-s2i: `.
  const errors = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{"type":"error"'))
    .map((l) => `oci-s2i: ${(JSON.parse(l) as { message: string }).message}`);
  t.equal(errors.length, 1, r.stderr);
  t.match(errors[0], message);
}

t.test('a destination that refuses the push fails the build before assemble, saying what to do', async (t) => {
  const src = source();

  t.test('no credentials for it', async (t) => {
    const marker = markerDir();
    const r = await build(src, marker, `${locked.host}/check/app:v1`);
    failedBeforeAssemble(t, r, marker, new RegExp(`^oci-s2i: cannot push to ${locked.host}/check/app:v1: ${locked.host} asks for credentials and none were found for it; run \`oci-s2i login ${locked.host}\` or give --creds USER\\[:PASS\\]$`));
  });

  t.test('a wrong password in the auth file, and in --creds: the message names where it came from, never the password', async (t) => {
    const file = path.join(tmp, 'wrong.json');
    writeFileSync(file, JSON.stringify({ auths: { [locked.host]: { auth: b64(`${USER}:${WRONG}`) } } }));
    const marker = markerDir();
    const r = await build(src, marker, `${locked.host}/check/app:v1`, ['--authfile', file]);
    failedBeforeAssemble(t, r, marker, new RegExp(`^oci-s2i: cannot push to ${locked.host}/check/app:v1: ${locked.host} refused the credentials from ${file}; run \`oci-s2i login ${locked.host}\``));
    const c = await build(src, marker, `${locked.host}/check/app:v1`, ['--creds', `${USER}:${WRONG}`]);
    failedBeforeAssemble(t, c, marker, new RegExp(`refused the credentials from --creds;`));
    for (const out of [r, c]) {
      t.notOk((out.stdout + out.stderr).includes(WRONG), 'no password in the output');
      t.notOk((out.stdout + out.stderr).includes(b64(`${USER}:${WRONG}`)), 'nor its base64');
    }
  });

  t.test('an unreachable registry', async (t) => {
    const port = await freePort();
    const marker = markerDir();
    const r = await build(src, marker, `127.0.0.1:${port}/check/app:v1`);
    failedBeforeAssemble(t, r, marker, new RegExp(`^oci-s2i: cannot push to 127\\.0\\.0\\.1:${port}/check/app:v1: cannot reach registry 127\\.0\\.0\\.1:${port}`));
  });

  t.test('a file destination whose directory cannot be written', async (t) => {
    writeFileSync(path.join(tmp, 'a-file'), '');
    const marker = markerDir();
    const r = await build(src, marker, `oci:${tmp}/a-file/layout:v1`);
    failedBeforeAssemble(t, r, marker, new RegExp(`^oci-s2i: cannot write the OCI layout ${tmp}/a-file/layout: ${tmp}/a-file is not a directory`));
  });

  await t.rejects(admin.repository(locked.host, 'check/app').resolve('v1'), { code: 'ERR_MANIFEST_UNKNOWN' }, 'nothing was pushed');
});

t.test('with --creds the build pushes; the password is in no output, label or process title', async (t) => {
  const src = source();
  const marker = markerDir();
  const target = `${locked.host}/check/app:v2`;
  // Through the launcher as a user starts it (root: the namespaced engine is a second process).
  const p = spawn(process.execPath, [cliPath, 'build', src, builder, target, '--root', root, '-v', `${marker}:/mnt/marker`, '--json', '--creds', `${USER}:${PASSWORD}`, '--build-env', 'ASSEMBLE_SLEEP=2', '--label', 'note=built with creds'], {
    cwd: projectRoot,
    env: { ...process.env, ...cleanEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => p.once('close', (c) => resolve(c ?? 128)));
  // While assemble runs, no process on the machine shows the password in its command line.
  for (let i = 0; i < 600 && !existsSync(path.join(marker, 'ran')); i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(existsSync(path.join(marker, 'ran')), 'assemble started');
  const seen: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(PASSWORD) || cmdline.includes(`oci-s2i`)) seen.push(cmdline.replace(/\0/g, ' '));
  }
  t.ok(seen.some((c) => c.includes('--creds ***')), `the engine's title shows --creds *** (${seen.length} oci-s2i processes)`);
  t.notOk(seen.some((c) => c.includes(PASSWORD)), 'no process title or argv holds the password');
  const code = await exited;
  t.equal(code, 0, stderr);
  const result = JSON.parse(stdout) as { digest: string; timings?: Record<string, number> };
  t.equal((await admin.repository(locked.host, 'check/app').resolve('v2')).descriptor.digest, result.digest);
  for (const s of [PASSWORD, b64(`${USER}:${PASSWORD}`)]) t.notOk((stdout + stderr).includes(s), 'no password in the output or the --json events');
  const cfg = (await admin.repository(locked.host, 'check/app').fetchBlobBytes((JSON.parse((await admin.repository(locked.host, 'check/app').resolve('v2')).bytes.toString()) as { config: { mediaType: string; digest: string; size: number } }).config, 1 << 20)).toString();
  t.match(cfg, /built with creds/, 'the labels are there');
  t.notOk(cfg.includes(PASSWORD) || cfg.includes(USER + ':'), 'and hold no credentials');
  t.match(stderr, /"type":"step","name":"check destination","state":"end"/, 'the destination was checked before assemble');
});
