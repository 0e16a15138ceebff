// build --run (s2i's --run=true): the image just built is run through the `run` pipeline; its run script's
// output follows the build's and its exit code is the command's; SIGTERM stops it and every process it started.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-run-after-build-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();
const root = path.join(tmp, 'root');
t.before(async () => {
  registry = await startRegistry();
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function dirWith(files: Record<string, string>, mode: number): string {
  const dir = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) writeFileSync(path.join(dir, n), body, { mode });
  return dir;
}

/** A sleep no other process has: its argv names this test's pid. */
const secs = 100_000 + (process.pid % 100_000);
const sleepers = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === `sleep ${secs}`);

t.test('the run script runs after the build; its exit code is the command\'s', async (t) => {
  const scripts = dirWith({ assemble: '#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/src/\n', run: '#!/bin/sh\necho "running $(cat /opt/app-root/src/index.html)"\nexit 7\n' }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'run/builder'), 'latest', { scriptsDir: scripts });
  const out = `${registry.host}/run/app:1`;
  const r = await runCli(['build', dirWith({ 'index.html': 'page-42' }, 0o644), `${registry.host}/run/builder:latest`, out, '--root', root, '--run']);
  t.equal(r.code, 7, r.stderr);
  t.match(r.stderr, /Build completed successfully/);
  t.match(r.stdout, /^sha256:[0-9a-f]{64}\nrunning page-42\n/, 'the digest, then what the run script printed');
  const bad = await runCli(['build', tmp, 'b', '--as-dockerfile', path.join(tmp, 'df'), '--run']);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--as-dockerfile cannot be combined with --run/);
});

t.test('--run --no-push with a registry TAG, and --run with a local TAG: the image runs from the local store, nothing is pushed', async (t) => {
  const scripts = dirWith({ assemble: '#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/src/\n', run: '#!/bin/sh\necho "local run $(cat /opt/app-root/src/index.html)"\nexit 3\n' }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'run/local-builder'), 'latest', { scriptsDir: scripts });
  const builder = `${registry.host}/run/local-builder:latest`;
  // stdout: the manifest digest for a registry TAG (as a push prints it), the image ID for a local one.
  const cases: Array<[string, string, string[], string]> = [
    ['a registry TAG with --no-push', `${registry.host}/run/never-pushed:1`, ['--no-push'], 'sha256:[0-9a-f]{64}'],
    ['a local TAG', 'run-local-app:v1', [], '[0-9a-f]{64}'],
    ['a local TAG with --no-push', 'run-local-app:v2', ['--no-push'], '[0-9a-f]{64}'],
  ];
  for (const [what, tag, flags, printed] of cases) {
    const page = `page-${tag.replace(/\W/g, '-')}`;
    const r = await runCli(['build', dirWith({ 'index.html': page }, 0o644), builder, tag, '--root', root, '--run', ...flags]);
    t.equal(r.code, 3, `${what}: the run script's exit code: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`^${printed}\nlocal run ${page}\n$`), `${what}: what it is known by, then what the run script printed`);
    if (flags.length) t.match(r.stderr, /Build completed successfully: .*\((not pushed: in the local store|local image)\)/, `${what}: says it was not pushed`);
    const images = await runCli(['images', '--root', root]);
    t.equal(images.code, 0, images.stderr);
    t.match(images.stdout, tag.split(':')[0]!, `${what}: kept in the local store`);
  }
  const tags = await client.repository(registry.host, 'run/never-pushed').tags().catch(() => [] as string[]);
  t.same(tags, [], '--no-push: nothing pushed to the registry TAG');
});

t.test('SIGTERM stops the run and everything it started', async (t) => {
  const scripts = dirWith({ assemble: '#!/bin/sh\ntrue\n', run: `#!/bin/sh\nsleep ${secs} &\necho started-${process.pid}\nwait\n` }, 0o755);
  await pushBusyboxBuilder(client.repository(registry.host, 'run/sleeper'), 'latest', { scriptsDir: scripts });
  const p = spawn(process.execPath, ['--', cliPath, 'build', dirWith({ a: 'a' }, 0o644), `${registry.host}/run/sleeper:latest`, `${registry.host}/run/sleeper-app:1`, '--root', root, '--run'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void p.kill('SIGKILL'));
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never started: ${err}`)), 240_000);
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes(`started-${process.pid}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  // The script's echo can come before its background `sleep` has exec'd (ps then shows the forked shell): wait
  // for it, a bounded time (a CI flake, 2026-12-03: 0 sleepers seen right after "started").
  for (const end = Date.now() + 10_000; sleepers().length === 0 && Date.now() < end; ) await sleep(50);
  t.equal(sleepers().length, 1, 'the run started its sleep');
  p.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => p.once('close', (c) => resolve(c)));
  t.not(code, 0, `stopped (exit ${code})`);
  t.same(sleepers(), [], 'no process the run started is left');
});
