// `npm run bench` (every benchmark) or `npm run bench -- NAME… [--runs N] [--go]`: runs oci-s2i side by side with
// the tools people use today, interleaved, and writes bench/results/latest.{json,md,svg}. Never asserts a time.
// Benchmarks: layer (layer creation), build (S2I build, source → pushed image, warm and cold), pull (pull +
// unpack), push (bytes and time to push the new layer). Peak memory is a column of every table.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine } from './lib/machine.js';
import { writeReport, previousComparisons, type BenchReport } from './lib/report.js';
import type { Comparison } from './lib/compare.js';
import { benchDir } from './lib/data.js';
import { layerBench } from './layer.js';
import { buildBench } from './build.js';
import { pullBench } from './pull.js';

export interface BenchContext {
  /** bin/oci-s2i: the command users run (a shell launcher; see the script) */
  cli: string;
  runs: number;
  /** Debian + Go builder (debootstrap) instead of busybox. */
  go: boolean;
  /** Which parts of the build benchmark to report (build: build + push; push: push only). */
  only: Set<string>;
  log: (msg: string) => void;
  skipped: string[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..', '..');

const benches: Record<string, (ctx: BenchContext) => Promise<Comparison[]>> = {
  layer: layerBench,
  build: buildBench,
  pull: pullBench,
  // push figures come from warm builds (a build pushes only its new layer); `push` alone runs just those.
  push: buildBench,
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { runs: { type: 'string' }, go: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write('Usage: npm run bench -- [layer|build|pull|push …] [--runs N (default 5)] [--go]\n');
    return 0;
  }
  const names = positionals.length > 0 ? positionals : ['layer', 'build', 'pull'];
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}\n`);
    return 64;
  }
  const runs = values.runs !== undefined ? Number(values.runs) : 5;
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write('bench: --runs takes a whole number ≥ 1 (5 or more for figures worth quoting)\n');
    return 64;
  }
  const ctx: BenchContext = {
    cli: path.join(projectRoot, 'bin', 'oci-s2i'),
    runs,
    go: values.go === true,
    only: new Set(names),
    log: (m) => process.stderr.write(`${m}\n`),
    skipped: [],
  };
  const report: BenchReport = { startedAt: new Date().toISOString(), finishedAt: '', runs, machine: machine(), comparisons: [], skipped: ctx.skipped };
  ctx.log(`bench: ${report.machine.cpu}, ${report.machine.cores} cores, load ${report.machine.loadStart.toFixed(2)}; ${runs} runs each`);
  const done = new Set<(c: BenchContext) => Promise<Comparison[]>>();
  const fresh: Comparison[] = [];
  const set = ctx.go ? 'go' : 'default';
  // What the run replaces is decided once, from the file as it was before the run (it is rewritten as we go).
  const kept = previousComparisons(path.join(benchDir, 'results'), new Set(names.flatMap((n) => (n === 'build' || n === 'push' ? ['build', 'push'] : [n]))), set);
  // Written after every benchmark, so a long run that dies late keeps what it measured.
  const write = async (): Promise<string> => {
    const freshIds = new Set(fresh.map((c) => c.id));
    const order = ['layer', 'build', 'push', 'pull'];
    const all = [...fresh, ...kept.filter((c) => !freshIds.has(c.id))].sort((a, b) => order.indexOf(a.bench) - order.indexOf(b.bench));
    report.finishedAt = new Date().toISOString();
    report.machine.loadEnd = (await import('node:os')).loadavg()[0]!;
    return writeReport(path.join(benchDir, 'results'), { ...report, comparisons: all });
  };
  for (const name of names) {
    const fn = benches[name]!;
    if (done.has(fn)) continue;
    done.add(fn);
    try {
      fresh.push(...(await fn(ctx)).map((c) => ({ ...c, set })));
    } catch (e) {
      ctx.log(`bench ${name} failed: ${(e as Error).stack ?? String(e)}`);
      ctx.skipped.push(`${name}: failed — ${(e as Error).message.split('\n')[0]}`);
    }
    await write();
  }
  process.stdout.write((await write()) + '\n');
  ctx.log(`bench: wrote ${path.join('bench', 'results', 'latest.{json,md,svg}')}`);
  return 0;
}

process.exitCode = await main();
