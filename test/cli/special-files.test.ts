// Issue 16, finding 6: inputs that used to hang the CLI past SIGTERM. A FIFO named as an archive, a layout file,
// an -E file or --use-config blocked forever in open(2); a socket, a directory or /dev/zero in their place is
// refused the same way; `--root /proc/1/x` (and an oci:/archive destination under /proc) spun in Node's
// recursive mkdir; a lock wait ignored SIGTERM. Each must now end quickly, in one line, with its exit code.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli, cliPath, projectRoot, type CliResult } from '../helpers/cli.js';
import { writeTinyImage } from './tiny-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-special-files-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const fifo = path.join(tmp, 'fifo');
execFileSync('mkfifo', [fifo]);
const layout = path.join(tmp, 'layout');
const src = path.join(tmp, 'src');
mkdirSync(src);
writeFileSync(path.join(src, 'index.html'), 'hi\n');

/** Fast enough that nothing waited: a hang is cut at 30 s by the SIGKILL of runCli and shows as code 128+. */
const LIMIT_MS = 20_000;

async function cli(args: string[], cwd?: string): Promise<CliResult & { ms: number }> {
  const start = Date.now();
  const r = await runCli(args, { timeoutMs: 30_000, ...(cwd ? { cwd } : {}) });
  return { ...r, ms: Date.now() - start };
}

function oneLine(t: Test, r: CliResult & { ms: number }, code: number, message: RegExp): void {
  t.ok(r.ms < LIMIT_MS, `ended in ${r.ms} ms`);
  t.equal(r.code, code, `exit ${code}`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr}`);
  t.match(lines[0], /^oci-s2i: /);
  t.match(lines[0], message);
}

t.before(async () => {
  await writeTinyImage(layout, tmp, { os: 'linux', architecture: 'amd64' }, 'v1');
});

t.test('a FIFO as docker-archive: or oci-archive: is refused at once (a regular archive next to it works)', async (t) => {
  const archive = path.join(tmp, 'good.tar');
  const made = await cli(['copy', `oci:${layout}:v1`, `docker-archive:${archive}`]);
  t.equal(made.code, 0, made.stderr);
  const root = path.join(tmp, 'root-archive');
  const good = await cli(['pull', '--root', root, '-q', `docker-archive:${archive}`]);
  t.equal(good.code, 0, good.stderr);

  oneLine(t, await cli(['pull', '--root', root, `docker-archive:${fifo}`]), 2, /is a FIFO \(named pipe\), not a regular file/);
  oneLine(t, await cli(['pull', '--root', root, `oci-archive:${fifo}`]), 2, /is a FIFO \(named pipe\), not a regular file/);
  oneLine(t, await cli(['copy', `docker-archive:${fifo}`, `oci:${path.join(tmp, 'never')}`]), 1, /archive .*fifo is a FIFO/);
  oneLine(t, await cli(['copy', `oci-archive:${fifo}`, `oci:${path.join(tmp, 'never')}`]), 1, /archive .*fifo is a FIFO/);
  t.notOk(existsSync(path.join(tmp, 'never')), 'no destination left behind');
  oneLine(t, await cli(['copy', `docker-archive:/dev/zero`, `oci:${path.join(tmp, 'never')}`]), 1, /is a character device, not a regular file/);
  oneLine(t, await cli(['copy', `docker-archive:${tmp}`, `oci:${path.join(tmp, 'never')}`]), 1, /is a directory, not a regular file/);
});

t.test('a socket as docker-archive: is refused', async (t) => {
  const sock = path.join(tmp, 'sock');
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  oneLine(t, await cli(['copy', `docker-archive:${sock}`, `oci:${path.join(tmp, 'never')}`]), 1, /is a socket, not a regular file/);
});

t.test("an oci: layout whose index.json or oci-layout is a FIFO is refused (the layout itself reads)", async (t) => {
  const good = await cli(['inspect', `oci:${layout}:v1`]);
  t.equal(good.code, 0, good.stderr);
  for (const name of ['index.json', 'oci-layout']) {
    const bad = path.join(tmp, `bad-${name}`);
    execFileSync('cp', ['-a', layout, bad]);
    rmSync(path.join(bad, name));
    execFileSync('mkfifo', [path.join(bad, name)]);
    oneLine(t, await cli(['copy', `oci:${bad}:v1`, `oci:${path.join(tmp, 'never')}`]), 1, new RegExp(`${name.replace('.', '\\.')} is a FIFO`));
  }
  t.notOk(existsSync(path.join(tmp, 'never')), 'no destination left behind');
});

t.test('-E FIFO, directory or device and --use-config FIFO are refused; a regular -E file is read', async (t) => {
  const root = path.join(tmp, 'root-env');
  const builder = `oci:${path.join(tmp, 'no-such-builder')}`;
  const out = `oci:${path.join(tmp, 'out')}:app`;
  const envFile = path.join(tmp, 'env');
  writeFileSync(envFile, 'A=1\n');
  // The env file is read before the builder is pulled: a good one gets the build as far as the (missing) builder.
  const good = await cli(['build', '-q', '--root', root, '-E', envFile, src, builder, out]);
  t.equal(good.code, 2, good.stderr);
  t.match(good.stderr, /no-such-builder/);
  oneLine(t, await cli(['build', '-q', '--root', root, '-E', fifo, src, builder, out]), 1, /environment file .*fifo is a FIFO/);
  oneLine(t, await cli(['build', '-q', '--root', root, '-E', tmp, src, builder, out]), 1, /environment file .* is a directory/);
  oneLine(t, await cli(['build', '-q', '--root', root, '-E', '/dev/zero', src, builder, out]), 1, /environment file \/dev\/zero is a character device/);
  // --use-config reads ./.s2ifile (s2i's switch): a FIFO there is refused, never opened for reading.
  const cwd = path.join(tmp, 'use-config-cwd');
  mkdirSync(cwd, { recursive: true });
  execFileSync('mkfifo', [path.join(cwd, '.s2ifile')]);
  oneLine(t, await cli(['build', '-q', '--root', root, '--use-config', src, builder, out], cwd), 64, /--use-config .*\.s2ifile is a FIFO/);
});

t.test('--digestfile: a FIFO nobody reads is refused at once; a file, or a FIFO that is being read, gets the digest', async (t) => {
  const file = path.join(tmp, 'digest');
  const good = await cli(['copy', '-q', '--digestfile', file, `oci:${layout}:v1`, `oci:${path.join(tmp, 'copy-1')}:v1`]);
  t.equal(good.code, 0, good.stderr);
  const digest = good.stdout.trim();
  t.match(digest, /^sha256:[0-9a-f]{64}$/);
  t.equal(readFileSync(file, 'utf8'), digest, 'no trailing newline, as skopeo and podman write it');
  // A FIFO that is being read takes the digest like a file.
  const readFifo = path.join(tmp, 'read-fifo');
  execFileSync('mkfifo', [readFifo]);
  const reader = spawn('cat', [readFifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => {
    if (reader.exitCode === null) reader.kill('SIGKILL');
  });
  let read = '';
  reader.stdout.on('data', (d: Buffer) => (read += d.toString()));
  const readerDone = new Promise((resolve) => reader.once('close', resolve));
  await new Promise((r) => setTimeout(r, 200)); // cat has the FIFO open for reading
  const piped = await cli(['copy', '-q', '--digestfile', readFifo, `oci:${layout}:v1`, `oci:${path.join(tmp, 'copy-2')}:v1`]);
  t.equal(piped.code, 0, piped.stderr);
  await readerDone;
  t.equal(read, digest, 'the reader got the digest');
  oneLine(t, await cli(['copy', '-q', '--digestfile', fifo, `oci:${layout}:v1`, `oci:${path.join(tmp, 'copy-3')}:v1`]), 1, /cannot write the --digestfile .*fifo: a socket, or a FIFO nobody reads/);
});

t.test('--root under /proc and destinations under /proc fail in one line instead of spinning', async (t) => {
  const good = await cli(['pull', '-q', '--root', path.join(tmp, 'root-ok', 'a', 'b'), `oci:${layout}:v1`]);
  t.equal(good.code, 0, good.stderr);
  oneLine(t, await cli(['pull', '--root', '/proc/1/x', `oci:${layout}:v1`]), 1, /cannot use \/proc\/1\/x as the cache and store directory/);
  oneLine(t, await cli(['pull', '--root', '/proc/1', `oci:${layout}:v1`]), 1, /cannot use \/proc\/1 as the cache and store directory/);
  oneLine(t, await cli(['cache', 'verify', '--root', '/proc/1/x']), 1, /cannot use \/proc\/1\/x/);
  oneLine(t, await cli(['cache', 'prune', '--root', '/proc/1/x']), 1, /cannot use \/proc\/1\/x/);
  oneLine(t, await cli(['copy', `oci:${layout}:v1`, 'oci:/proc/1/x']), 1, /cannot create the OCI layout \/proc\/1\/x/);
  oneLine(t, await cli(['copy', `oci:${layout}:v1`, 'docker-archive:/proc/1/x/y.tar']), 1, /cannot create the directory \/proc\/1\/x/);
  oneLine(t, await cli(['copy', `oci:${layout}:v1`, 'oci-archive:/proc/1/x/y.tar']), 1, /cannot create the directory \/proc\/1\/x/);
  oneLine(t, await cli(['create', 'my-builder', '/proc/1/x/y']), 1, /cannot create directory \/proc\/1\/x\/y: ENOENT/);
  const made = await cli(['create', 'my-builder', path.join(tmp, 'scaffold', 'y')]);
  t.equal(made.code, 0, made.stderr);
});

t.test('SIGTERM during a lock wait ends the pull promptly with exit 130', async (t) => {
  const root = path.join(tmp, 'root-locked');
  const locks = path.join(root, 'locks');
  mkdirSync(root, { mode: 0o700 });
  chmodSync(root, 0o700); // a store root is private (store-root.ts refuses a wider one that is not yet a store)
  mkdirSync(locks);
  // Every lock the pull could take, held by this (live) process: it can only wait.
  const owner = JSON.stringify({ pid: process.pid, host: os.hostname() });
  const blobs = readdirSync(path.join(layout, 'blobs', 'sha256'));
  for (const hex of blobs) {
    writeFileSync(path.join(locks, `blob-sha256-${hex}.lock`), owner);
    writeFileSync(path.join(locks, `layer-sha256-${hex}.lock`), owner);
  }
  writeFileSync(path.join(locks, 'index.json.lock'), owner);

  const p = spawn(process.execPath, [cliPath, 'pull', '--root', root, `oci:${layout}:v1`], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => p.once('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  t.teardown(() => {
    clearTimeout(killer);
    if (p.exitCode === null) p.kill('SIGKILL');
  });
  // Inside the wait: each poll of a waiter links a temp file in the locks dir and removes it, which changes the
  // dir's mtime. Waiting for that (not for a fixed time) holds on a loaded machine, where start-up can take seconds.
  const before = statSync(locks).mtimeMs;
  for (const until = Date.now() + 50_000; statSync(locks).mtimeMs === before && p.exitCode === null && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 25));
  }
  t.not(statSync(locks).mtimeMs, before, 'the pull polls the lock');
  t.equal(p.exitCode, null, `still waiting for the lock: ${stderr}`);
  const sent = Date.now();
  p.kill('SIGTERM');
  const code = await exited;
  t.ok(Date.now() - sent < 5000, `ended ${Date.now() - sent} ms after SIGTERM`);
  t.equal(code, 130, stderr);
  t.match(stderr, /interrupted/);
  t.notMatch(stderr, /unexpected error|at .*\.js:\d+/, 'no stack, no "unexpected error"');
});
