// Cross-process mutual exclusion with lock files: created with O_EXCL (atomic on local filesystems), holding the
// owner's pid and host. A lock whose owner is a dead process on this host, or whose mtime has not been refreshed
// for `staleMs` (owner on another host, or a crash before it wrote its pid), is broken and taken over. Locks only
// deduplicate work: correctness never depends on them (blobs are verified and renamed without overwrite).
// Every wait ends: on the caller's AbortSignal or the process-wide one the CLI sets (SIGINT/SIGTERM), after
// `maxWaitMs` for a holder that is alive but never lets go, and after a bounded number of stale-lock takeovers.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S2IError } from '../errors.js';

export interface LockOptions {
  /** A lock not refreshed for this long is stale whatever its pid says; default 120 s (holders refresh every third of it). */
  staleMs?: number;
  /** Poll interval while another process holds the lock; default 50 ms. */
  pollMs?: number;
  /** Ends the wait (ERR_INTERRUPTED, exit 130); the signal given to interruptLockWaitsOn ends it too. */
  signal?: AbortSignal;
  /** Longest wait for a live holder; default 1 h (a holder stuck for that long is reported, not waited for). */
  maxWaitMs?: number;
  /** Checked while waiting: when it returns true the work is already done and no lock is taken (returns null). */
  done?: () => Promise<boolean>;
}

export interface LockHandle {
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  host: string;
}

/** True when `pid` names a live process on this host (EPERM means alive but not ours). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(file: string, staleMs: number): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    const st = await fs.stat(file);
    mtimeMs = st.mtimeMs;
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // released meanwhile: just retry
    throw e;
  }
  if (Date.now() - mtimeMs > staleMs) return true;
  let owner: LockOwner | undefined;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    return false; // being written right now, or garbage: the mtime rule decides later
  }
  return owner.host === os.hostname() && !processAlive(owner.pid);
}

let processSignal: AbortSignal | undefined;

/**
 * Makes `signal` end every lock wait of this process, also those whose caller passed no signal of its own
 * (index.json updates, prune, verify). The CLI passes the signal its SIGINT/SIGTERM handler aborts.
 */
export function interruptLockWaitsOn(signal: AbortSignal | undefined): void {
  processSignal = signal;
}

/** Stale locks broken in a row without getting the lock: past this, something keeps recreating it. */
const MAX_TAKEOVERS = 100;

function interrupted(file: string, reason: unknown): S2IError {
  return new S2IError('ERR_INTERRUPTED', `interrupted while waiting for the lock ${path.basename(file)}`, { cause: reason });
}

async function ownerOf(file: string): Promise<string> {
  try {
    const o = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    return `pid ${String(o.pid)} on ${String(o.host)}`;
  } catch {
    return 'an unknown process';
  }
}

/** Takes the lock at `file` (its directory must exist), waiting while a live owner holds it. */
export async function acquireLock(file: string, opts: LockOptions = {}): Promise<LockHandle | null> {
  const staleMs = opts.staleMs ?? 120_000;
  const pollMs = opts.pollMs ?? 50;
  const maxWaitMs = opts.maxWaitMs ?? 3_600_000;
  const signals = [opts.signal, processSignal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  const me: LockOwner = { pid: process.pid, host: os.hostname() };
  const deadline = Date.now() + maxWaitMs;
  let takeovers = 0;
  for (;;) {
    if (signal?.aborted) throw interrupted(file, signal.reason);
    if (await createWithContent(file, JSON.stringify(me))) return holding(file, staleMs);
    if (opts.done && (await opts.done())) return null;
    if (await isStale(file, staleMs)) {
      if (++takeovers > MAX_TAKEOVERS) {
        throw new S2IError('ERR_LOCK_CONTENDED', `broke the stale lock ${file} ${MAX_TAKEOVERS} times in a row and never got it; another process keeps recreating it`);
      }
      // Move it aside first so two breakers cannot both delete a fresh lock that replaced the stale one.
      const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
      try {
        await fs.rename(file, aside);
        await fs.rm(aside, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    takeovers = 0;
    if (Date.now() >= deadline) {
      throw new S2IError(
        'ERR_LOCK_TIMEOUT',
        `waited ${Math.round(maxWaitMs / 1000)} s for the lock ${file}, held by ${await ownerOf(file)}; if that process is stuck, stop it`,
      );
    }
    try {
      await sleep(pollMs, undefined, signal ? { signal } : undefined);
    } catch (e) {
      if (signal?.aborted) throw interrupted(file, signal.reason);
      throw e;
    }
  }
}

/**
 * Creates `file` holding `content` atomically, or returns false when it exists. The content is written to a temp
 * file first and link(2)ed into place: an O_EXCL create followed by a write would leave an empty lock if killed in
 * between, which no pid check can recognise as stale (only the 2-minute mtime rule would).
 */
async function createWithContent(file: string, content: string): Promise<boolean> {
  const tmp = path.join(path.dirname(file), `${process.pid}-${randomBytes(6).toString('hex')}.locktmp`);
  await fs.writeFile(tmp, content, { flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function holding(file: string, staleMs: number): LockHandle {
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now).catch(() => undefined);
  }, Math.max(1000, Math.floor(staleMs / 3)));
  timer.unref();
  let released = false;
  return {
    async release(): Promise<void> {
      if (released) return;
      released = true;
      clearInterval(timer);
      await fs.rm(file, { force: true });
    },
  };
}

/** Lock file name for a key made of safe characters (validated digests, fixed names). */
export function lockPath(lockDir: string, key: string): string {
  return path.join(lockDir, `${key.replace(/[^A-Za-z0-9._-]/g, '-')}.lock`);
}
