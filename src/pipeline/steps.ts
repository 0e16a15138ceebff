// Named, timed pipeline steps and a cleanup stack that always runs (also on failure and cancellation).
import type { ProgressSink } from '../events.js';

/**
 * Every Steps whose cleanups have not run. A command whose promise never settles never reaches its `finally`; the
 * CLI's guard (cli/main.ts, on 'beforeExit') runs these so locks, leases and the build dir go even then.
 */
const pending = new Set<Steps>();

/** Runs the cleanups of every Steps not cleaned up yet (the CLI's last resort for a command that stalled). */
export async function runPendingCleanups(): Promise<void> {
  for (const s of [...pending].reverse()) await s.cleanup();
}

export class Steps {
  private readonly cleanups: Array<{ name: string; fn: () => Promise<void> | void }> = [];
  readonly timings: Record<string, number> = {};

  constructor(private readonly onProgress: ProgressSink) {
    pending.add(this);
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    this.onProgress({ type: 'step', name, state: 'start' });
    try {
      return await fn();
    } finally {
      const ms = Math.round(performance.now() - start);
      this.timings[name] = (this.timings[name] ?? 0) + ms;
      this.onProgress({ type: 'step', name, state: 'end', ms });
    }
  }

  /** Registers a cleanup; cleanups run in reverse order of registration. */
  defer(name: string, fn: () => Promise<void> | void): void {
    this.cleanups.push({ name, fn });
  }

  /** Runs every cleanup, even when some fail; reports failures as warnings. */
  async cleanup(): Promise<void> {
    pending.delete(this);
    while (this.cleanups.length > 0) {
      const c = this.cleanups.pop()!;
      try {
        await c.fn();
      } catch (e) {
        this.onProgress({ type: 'log', level: 'warn', message: `cleanup "${c.name}" failed: ${(e as Error).message}` });
      }
    }
  }
}
