// Bounded parallelism for the blobs of one image (distribution clients conventionally move 3-4 at a time):
// at most `limit` run at once; after the first failure no new one starts, and the call settles only when the
// ones in flight have finished, so no upload is left running behind a rejected promise.

export interface EachLimitOptions {
  /** Stops starting new items once aborted; the rejection is the signal's reason. */
  signal?: AbortSignal;
}

/** Runs `fn` over `items`, `limit` at a time; results in input order; rejects with the first error. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, opts: EachLimitOptions = {}): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      if (opts.signal?.aborted) {
        failure = { error: opts.signal.reason };
        return;
      }
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: n }, () => worker()));
  if (failure) throw failure.error;
  return results;
}
