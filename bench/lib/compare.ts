// Side-by-side comparisons: every variant of a comparison runs once per round, rounds repeat (A B C A B C …),
// so a change of machine load touches every variant alike; one untimed warm-up round first (page cache,
// registry connections). Medians of the rounds are reported. Nothing here asserts a time.
import { median, min, max } from './stats.js';
import type { Measured } from './run.js';
import os from 'node:os';

export interface Sample {
  ms: number;
  rssKB?: number;
  /** Other figures of this run: output bytes, bytes sent, a step's own time… (medians are reported). */
  metrics?: Record<string, number>;
}

export interface Variant {
  name: string;
  /** oci-s2i's own side (as opposed to the tools it is compared with). */
  ours: boolean;
  /** Set when the variant cannot run here; the message says why. */
  skip?: string;
  /** Untimed, before every run (warm-up included): e.g. empty a cache for a cold run. */
  before?: () => Promise<void>;
  run: () => Promise<Sample>;
  /** Untimed, after every run. */
  after?: () => Promise<void>;
}

export interface VariantResult {
  name: string;
  ours: boolean;
  skipped?: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  medianRssMB?: number;
  /** Median of each metric over the runs. */
  metrics: Record<string, number>;
  samples: Sample[];
}

export interface Target {
  what: string;
  goal: string;
  /** The measured ratio (or value); null when it could not be measured. */
  value: number | null;
  met: boolean | null;
  detail: string;
}

export interface Comparison {
  id: string;
  bench: string;
  title: string;
  /** What a row's "×" column is relative to. */
  baseline?: string;
  /** Extra columns, from each row's metrics. */
  columns: Column[];
  variants: VariantResult[];
  notes: string[];
  targets: Target[];
  /** Load average (1 min) while it ran. */
  load: [number, number];
  measuredAt?: string;
  /** Which run made it: 'go' for `--go` runs (Debian + Go builder), else 'default'. A run replaces the tables of
   *  its own benchmarks and set only. */
  set?: string;
}

/** A metric column: `mb` (bytes shown in MB), `bytes` (with a unit), `rate` (MB/s), `count`, or `ratio` (this row's metric over
 *  the same metric of the row named `of`). Declarative so that a saved report renders again. */
export interface Column {
  key: string;
  header: string;
  kind: 'mb' | 'bytes' | 'rate' | 'count' | 'ratio';
  of?: string;
}

export interface CompareOptions {
  runs: number;
  warmup?: boolean;
  log?: (msg: string) => void;
}

export function fromMeasured(m: Measured, metrics?: Record<string, number>): Sample {
  return { ms: m.ms, ...(m.rssKB !== undefined ? { rssKB: m.rssKB } : {}), ...(metrics ? { metrics } : {}) };
}

/** Runs the variants interleaved, `runs` rounds after an untimed warm-up round. */
export async function compare(variants: Variant[], opts: CompareOptions): Promise<{ results: VariantResult[]; load: [number, number] }> {
  const log = opts.log ?? (() => {});
  const live = variants.filter((v) => !v.skip);
  for (const v of variants) if (v.skip) log(`  skip ${v.name}: ${v.skip}`);
  const samples = new Map<Variant, Sample[]>(live.map((v) => [v, []]));
  const loadStart = os.loadavg()[0]!;
  const rounds = (opts.warmup === false ? 0 : 1) + opts.runs;
  for (let r = 0; r < rounds; r++) {
    const warm = opts.warmup !== false && r === 0;
    for (const v of live) {
      await v.before?.();
      try {
        const s = await v.run();
        if (!warm) samples.get(v)!.push(s);
        log(`  ${warm ? 'warm-up' : `run ${r + (opts.warmup === false ? 1 : 0)}/${opts.runs}`} ${v.name}: ${(s.ms / 1000).toFixed(2)} s`);
      } finally {
        await v.after?.();
      }
    }
  }
  const loadEnd = os.loadavg()[0]!;
  const results = variants.map((v): VariantResult => {
    if (v.skip) return { name: v.name, ours: v.ours, skipped: v.skip, runs: 0, medianMs: Number.NaN, minMs: Number.NaN, maxMs: Number.NaN, metrics: {}, samples: [] };
    const ss = samples.get(v)!;
    const ms = ss.map((s) => s.ms);
    const rss = ss.flatMap((s) => (s.rssKB === undefined ? [] : [s.rssKB]));
    const keys = new Set(ss.flatMap((s) => Object.keys(s.metrics ?? {})));
    const metrics: Record<string, number> = {};
    for (const k of keys) metrics[k] = median(ss.flatMap((s) => (s.metrics?.[k] === undefined ? [] : [s.metrics[k]!])));
    return {
      name: v.name,
      ours: v.ours,
      runs: ss.length,
      medianMs: median(ms),
      minMs: min(ms),
      maxMs: max(ms),
      ...(rss.length > 0 ? { medianRssMB: median(rss) / 1024 } : {}),
      metrics,
      samples: ss,
    };
  });
  return { results, load: [loadStart, loadEnd] };
}

export function find(results: VariantResult[], name: string): VariantResult | undefined {
  return results.find((r) => r.name === name && !r.skipped);
}

/** A "ratio ≤ goal" (or ≥) target between two rows, or an unmeasured one when either is missing. */
export function ratioTarget(what: string, results: VariantResult[], ours: string, theirs: string, goal: { op: '<=' | '>='; value: number }, value: (r: VariantResult) => number): Target {
  const a = find(results, ours);
  const b = find(results, theirs);
  const goalText = `${goal.op === '<=' ? '≤' : '≥'} ${goal.value}×`;
  if (!a || !b) return { what, goal: goalText, value: null, met: null, detail: `not measured (${!a ? ours : theirs} did not run)` };
  const ratio = value(a) / value(b);
  const met = goal.op === '<=' ? ratio <= goal.value : ratio >= goal.value;
  const gap = met ? '' : goal.op === '<=' ? ` — missed by ${((ratio / goal.value - 1) * 100).toFixed(0)} %` : ` — missed by ${((1 - ratio / goal.value) * 100).toFixed(0)} %`;
  return { what, goal: goalText, value: ratio, met, detail: `${ratio.toFixed(2)}× (${ours} vs ${theirs})${gap}` };
}
