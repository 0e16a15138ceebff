// store/container-state.ts: the runtime state dirs of engines that were killed are reaped (what still runs from
// them is ended first), those of live engines are left alone; and the wrapper a runtime runs under
// (sandbox/runtime.ts) starts nothing for an engine that is already gone.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containersDir, createContainerState, processesUsingState, reapDeadContainers } from '../../src/store/container-state.js';
import { lifetimeWrapper } from '../../src/sandbox/runtime.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-container-state-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** A pid no process has any more: one of ours that ran and was reaped. */
function deadPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function running(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('a dead engine’s state dir is reaped, its escaped runtime killed; a live engine’s is kept', async (t) => {
  const root = path.join(tmp, 'store');
  const fake = { path: '/bin/true', globalArgs: [] };
  const mine = await createContainerState(root, fake);
  t.match(path.basename(mine.dir), new RegExp(`^${process.pid}-[0-9a-f]+$`), 'named after this process');
  t.same(JSON.parse(readFileSync(path.join(mine.dir, 'runtime.json'), 'utf8')), fake);

  // A killed engine's dir: a container id in its state, and a "runtime" still running with that --root.
  const dead = path.join(root, containersDir, `${deadPid()}-0123456789ab`);
  const state = path.join(dead, 'state');
  mkdirSync(path.join(state, 'c1'), { recursive: true });
  writeFileSync(path.join(dead, 'runtime.json'), JSON.stringify(fake));
  const escaped = spawn('/bin/sh', ['-c', 'sleep 30; :', 'runtime', '--root', state], { stdio: 'ignore' });
  t.teardown(() => escaped.kill('SIGKILL'));
  await new Promise((r) => escaped.once('spawn', r));
  t.same(await processesUsingState(state), [escaped.pid], 'found by its --root');
  // A dir killed before its record was written.
  const bare = path.join(root, containersDir, `${deadPid()}-ba5eba11`);
  mkdirSync(bare);

  t.equal(await reapDeadContainers(root), 2);
  t.notOk(existsSync(dead), 'the dead engine’s dir is gone');
  t.notOk(existsSync(bare), 'so is the one without a record');
  t.ok(existsSync(mine.dir), 'a live engine’s dir stays');
  const deadline = Date.now() + 3000;
  while (running(escaped.pid!) && Date.now() < deadline) await sleep(20);
  t.notOk(running(escaped.pid!), 'what still ran from the dead dir was killed');
});

t.test('the runtime wrapper starts nothing when the engine that spawned it is not its parent', { skip: process.getuid?.() !== 0 && 'needs root (a PID namespace)' }, async (t) => {
  // As if this process had died between the spawn and setpriv arming the signal: the parent it finds is not
  // the pid it was given.
  const marker = `never-run-${process.pid}`;
  const wrapper = lifetimeWrapper(1);
  const r = spawnSync(wrapper[0]!, [...wrapper.slice(1), '/bin/sh', '-c', `echo ${marker}`], { encoding: 'utf8' });
  t.equal(r.status, 125);
  t.notMatch(r.stdout, marker);
  const ok = lifetimeWrapper();
  const r2 = spawnSync(ok[0]!, [...ok.slice(1), '/bin/sh', '-c', 'echo "pid $$"'], { encoding: 'utf8' });
  t.equal(r2.status, 0, r2.stderr);
  t.match(r2.stdout, /^pid 1$/m, 'with its parent alive, the command runs as PID 1 of a new PID namespace');
});
