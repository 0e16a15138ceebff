// Cross-process mutual exclusion with lock files: created with O_EXCL (atomic on local filesystems), holding the
// owner's pid and host. A lock whose owner is a dead process on this host, or whose mtime has not been refreshed
// for `staleMs` (owner on another host, or a crash before it wrote its pid), is broken and taken over. Locks only
// deduplicate work: correctness never depends on them (blobs are verified and renamed without overwrite).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockOptions {
  /** A lock not refreshed for this long is stale whatever its pid says; default 120 s (holders refresh every third of it). */
  staleMs?: number;
  /** Poll interval while another process holds the lock; default 50 ms. */
  pollMs?: number;
  signal?: AbortSignal;
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

/** Takes the lock at `file` (its directory must exist), waiting while a live owner holds it. */
export async function acquireLock(file: string, opts: LockOptions = {}): Promise<LockHandle | null> {
  const staleMs = opts.staleMs ?? 120_000;
  const pollMs = opts.pollMs ?? 50;
  const me: LockOwner = { pid: process.pid, host: os.hostname() };
  for (;;) {
    opts.signal?.throwIfAborted();
    if (await createWithContent(file, JSON.stringify(me))) return holding(file, staleMs);
    if (opts.done && (await opts.done())) return null;
    if (await isStale(file, staleMs)) {
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
    await sleep(pollMs, undefined, opts.signal ? { signal: opts.signal } : undefined);
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
