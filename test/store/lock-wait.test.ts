// Issue 16, finding 6: a lock wait has an end. A live holder that never lets go is reported after maxWaitMs
// (naming it), and the process-wide signal the CLI sets (SIGINT/SIGTERM) ends waits whose caller gave no signal
// (index.json updates, prune, verify) with ERR_INTERRUPTED, exit 130. A free lock is taken as before.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireLock, interruptLockWaitsOn } from '../../src/store/lock-file.js';
import { exitOf } from '../helpers/exit-code.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-lock-wait-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const heldByUs = (file: string) => writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname() }));

t.test('a live holder that never lets go: ERR_LOCK_TIMEOUT after maxWaitMs, naming it; a free lock is taken', async (t) => {
  const file = path.join(dir, 'a.lock');
  heldByUs(file);
  const start = Date.now();
  await t.rejects(acquireLock(file, { maxWaitMs: 300, pollMs: 20 }), { code: 'ERR_LOCK_TIMEOUT', message: new RegExp(`held by pid ${process.pid} on `) });
  t.ok(Date.now() - start < 5000, 'ended soon after the limit');
  rmSync(file);
  const lock = await acquireLock(file, { maxWaitMs: 300, pollMs: 20 });
  t.ok(lock, 'taken once free');
  await lock!.release();
});

t.test('the process-wide signal ends a wait that was given no signal (exit 130)', async (t) => {
  const file = path.join(dir, 'b.lock');
  heldByUs(file);
  const controller = new AbortController();
  interruptLockWaitsOn(controller.signal);
  t.teardown(() => interruptLockWaitsOn(undefined));
  const waiting = acquireLock(file, { pollMs: 20 });
  setTimeout(() => controller.abort(), 100);
  await t.rejects(exitOf(waiting), { code: 'ERR_INTERRUPTED', exitCode: 130, message: /interrupted while waiting for the lock b\.lock/ });
  // The caller's own signal works as before, and an already aborted one stops the wait before it starts.
  const own = new AbortController();
  own.abort();
  interruptLockWaitsOn(undefined);
  await t.rejects(acquireLock(file, { signal: own.signal }), { code: 'ERR_INTERRUPTED' });
});
