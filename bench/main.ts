// `npm run bench` (every benchmark) or `npm run bench -- NAME… [--runs N] [--go] [--warm]`: runs oci-s2i side by side with
// the tools people use today, interleaved, and writes bench/results/latest.{json,md,svg}. Never asserts a time.
// Benchmarks: layer (layer creation), build (S2I build, source → pushed image, warm and cold), pull (pull +
// unpack), push (bytes and time to push the new layer). Peak memory is a column of every table.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
import { attestBench } from './attest.js';

export interface BenchContext {
  /** bin/oci-s2i: the command users run (a shell launcher; see the script) */
  cli: string;
  runs: number;
  /** Debian + Go builder (debootstrap) instead of busybox. */
  go: boolean;
  /** `--warm`: the build benchmark runs warm builds only (the last run's cold tables are kept). */
  warmOnly: boolean;
  /** Which parts of the build benchmark to report (build: build + push; push: push only). */
  only: Set<string>;
  log: (msg: string) => void;
  skipped: string[];
  /**
   * `--baseline CHECKOUT`: another built checkout of oci-s2i (an earlier commit). Every oci-s2i row then gets a twin
   * row running that checkout's bin/oci-s2i, in the same interleaved rounds: before/after figures of a change.
   */
  baseline?: { cli: string; label: string };
}

/** The oci-s2i variants to run: this checkout's, then the baseline's (named with its label) when there is one. */
export function clis(ctx: BenchContext): Array<{ cli: string; suffix: string; key: string }> {
  return [{ cli: ctx.cli, suffix: '', key: '' }, ...(ctx.baseline ? [{ cli: ctx.baseline.cli, suffix: ` [${ctx.baseline.label}]`, key: '-baseline' }] : [])];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..', '..');

const benches: Record<string, (ctx: BenchContext) => Promise<Comparison[]>> = {
  layer: layerBench,
  build: buildBench,
  pull: pullBench,
  // push figures come from warm builds (a build pushes only its new layer); `push` alone runs just those.
  push: buildBench,
  // warm builds with and without --sbom/--provenance (issue 14: at most 10 % more).
  attest: attestBench,
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { runs: { type: 'string' }, go: { type: 'boolean' }, warm: { type: 'boolean' }, baseline: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write('Usage: npm run bench -- [layer|build|pull|push|attest …] [--runs N (default 5)] [--go] [--warm] [--baseline CHECKOUT]\n');
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
  let baseline: BenchContext['baseline'];
  if (values.baseline !== undefined) {
    const dir = path.resolve(values.baseline);
    const cli = path.join(dir, 'bin', 'oci-s2i');
    if (!existsSync(path.join(dir, 'dist', 'src', 'cli', 'main.js')) || !existsSync(cli)) {
      process.stderr.write(`bench: --baseline ${values.baseline} is not a built oci-s2i checkout (no bin/oci-s2i or dist/); run \`bash scripts/build.sh\` there first\n`);
      return 64;
    }
    let label = path.basename(dir);
    try {
      label = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      // not a git checkout: its directory name labels it
    }
    baseline = { cli, label: `before ${label}` };
  }
  const ctx: BenchContext = {
    cli: path.join(projectRoot, 'bin', 'oci-s2i'),
    runs,
    go: values.go === true,
    warmOnly: values.warm === true,
    only: new Set(names),
    log: (m) => process.stderr.write(`${m}\n`),
    skipped: [],
    ...(baseline ? { baseline } : {}),
  };
  const report: BenchReport = { startedAt: new Date().toISOString(), finishedAt: '', runs, machine: machine(), comparisons: [], skipped: ctx.skipped };
  ctx.log(`bench: ${report.machine.cpu}, ${report.machine.cores} cores, load ${report.machine.loadStart.toFixed(2)}; ${runs} runs each`);
  const done = new Set<(c: BenchContext) => Promise<Comparison[]>>();
  const fresh: Comparison[] = [];
  const set = ctx.go ? 'go' : 'default';
  // What the run replaces is decided once, from the file as it was before the run (it is rewritten as we go).
  const kept = previousComparisons(path.join(benchDir, 'results'), new Set(names.flatMap((n) => (n === 'build' || n === 'push' ? ['build', 'push'] : [n]))), set, (c) => ctx.warmOnly && c.id.startsWith('build-cold-') && (c.set ?? 'default') === set);
  // Written after every benchmark, so a long run that dies late keeps what it measured.
  const write = async (): Promise<string> => {
    const freshIds = new Set(fresh.map((c) => c.id));
    const order = ['layer', 'build', 'push', 'attest', 'pull'];
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
