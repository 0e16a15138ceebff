// sys/parent-death.ts: an engine started by a launcher (OCI_S2I_PARENT_PID) dies with it, also when the launcher
// died before the signal was armed, and a build whose launcher is gone publishes nothing (build/push.ts).
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../helpers/cli.js';
import { PARENT_PID_ENV, parentLost } from '../../src/sys/parent-death.js';
import { openEngine } from '../../src/pipeline/context.js';
import { pushImage } from '../../src/pipeline/push.js';
import { exitOf } from '../helpers/exit-code.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-parent-death-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const moduleUrl = pathToFileURL(path.join(projectRoot, 'dist', 'src', 'sys', 'parent-death.js')).href;
// The engine stand-in: arms the signal, says whether the variable is gone and whether its parent counts as
// lost, then waits to be killed.
const engine = path.join(tmp, 'engine.mjs');
writeFileSync(
  engine,
  `import { dieWithLauncher, parentLost } from ${JSON.stringify(moduleUrl)};\n` +
    `dieWithLauncher();\n` +
    `console.log(JSON.stringify({ pid: process.pid, env: process.env.${PARENT_PID_ENV} ?? null, lost: parentLost() }));\n` +
    `setInterval(() => {}, 1000);\n`,
);

function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('the engine dies with its launcher (kill -9 of the launcher)', async (t) => {
  // A shell as the launcher: it starts the engine as its child, naming itself, and waits.
  const launcher = spawn('/bin/sh', ['-c', `${PARENT_PID_ENV}=$$ "$0" "$1" & wait`, process.execPath, engine], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => launcher.kill('SIGKILL'));
  const line = await new Promise<string>((resolve) => launcher.stdout.once('data', (d: Buffer) => resolve(d.toString())));
  const report = JSON.parse(line) as { pid: number; env: string | null; lost: boolean };
  t.equal(report.env, null, 'the variable is not passed on to what the engine starts');
  t.equal(report.lost, false, 'its launcher lives');
  t.ok(alive(report.pid), 'the engine runs');
  launcher.kill('SIGKILL');
  const deadline = Date.now() + 3000;
  while (alive(report.pid) && Date.now() < deadline) await sleep(20);
  t.notOk(alive(report.pid), 'the engine died with its launcher');
  if (alive(report.pid)) process.kill(report.pid, 'SIGKILL');
});

t.test('an engine whose launcher is already gone ends at once', async (t) => {
  // Not its parent: as if the launcher had died and the engine had been reparented before arming the signal.
  const child = spawn(process.execPath, [engine], { env: { ...process.env, [PARENT_PID_ENV]: '2147483' }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  t.equal(signal, 'SIGKILL');
  t.equal(out, '', 'it did nothing first');
});

t.test('a build whose launcher is gone pushes nothing', async (t) => {
  const key = Symbol.for('oci-s2i.parent-pid');
  const holder = globalThis as { [key]?: number };
  t.equal(parentLost(), false, 'a process no launcher started has no parent to lose');
  holder[key] = 2147483; // the launcher this process was started by, now gone
  t.teardown(() => {
    delete holder[key];
  });
  t.equal(parentLost(), true);
  const engine = await openEngine({ root: path.join(tmp, 'root') });
  t.teardown(() => engine.close());
  const layout = path.join(tmp, 'layout');
  await t.rejects(
    exitOf(pushImage(engine, { target: `oci:${layout}:x`, manifest: { bytes: Buffer.from('{}'), mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}` }, blobs: [] })),
    { code: 'ERR_PARENT_GONE', exitCode: 130 },
  );
  t.throws(() => readFileSync(path.join(layout, 'index.json')), 'nothing was written to the destination');
});
