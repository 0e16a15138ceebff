// A small bounded queue of asynchronous file writes: the disk is slow at creating many small files one at a
// time, and libuv runs fs calls on its thread pool, so a few creations in flight at once finish sooner.

export class UnpackQueue {
  private active = 0;
  private waiters: (() => void)[] = [];
  private idle: (() => void)[] = [];
  private failure: unknown;
  private failed = false;

  constructor(private readonly concurrency: number) {}

  get size(): number {
    return this.active;
  }

  /** Starts `task` once a slot is free; resolves when it has started. Rethrows an earlier task's failure. */
  async run(task: () => Promise<void>): Promise<void> {
    this.check();
    while (this.active >= this.concurrency) await new Promise<void>((r) => this.waiters.push(r));
    this.check();
    this.active++;
    task()
      .catch((e: unknown) => {
        if (!this.failed) {
          this.failed = true;
          this.failure = e;
        }
      })
      .finally(() => {
        this.active--;
        this.waiters.shift()?.();
        if (this.active === 0) for (const r of this.idle.splice(0)) r();
      });
  }

  /** Waits for every started task; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.active > 0) await new Promise<void>((r) => this.idle.push(r));
    this.check();
  }

  private check(): void {
    if (this.failed) throw this.failure;
  }
}
