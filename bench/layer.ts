// Benchmark 1 — layer creation: directory → compressed layer blob. oci-s2i's `layer` command with each gzip
// backend at levels 1 and 6, zstd, and no compression, against GNU tar piped into gzip, pigz and zstd, on two
// synthetic trees (many small files; a few large files). Throughput = bytes of tar / wall time.
import { rmSync, statSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { compare, fromMeasured, find, type Comparison, type Variant, type Target } from './lib/compare.js';
import { smallFilesTree, largeFilesTree, dataDir, type Tree } from './lib/data.js';
import { measure, sh, q, missingTools } from './lib/run.js';
import { mb } from './lib/report.js';
import { clis, type BenchContext } from './main.js';
import { libdeflateAvailable } from '../src/layer/parallel-gzip.js';

const PIGZ6 = 'tar | pigz -6';
const GZIP6 = 'tar | gzip -6';
const LIB6 = 'oci-s2i libdeflate -6';

export async function layerBench(ctx: BenchContext): Promise<Comparison[]> {
  const out: Comparison[] = [];
  const outDir = path.join(dataDir, 'out');
  mkdirSync(outDir, { recursive: true });
  for (const make of [smallFilesTree, largeFilesTree]) {
    ctx.log(`layer: preparing the ${make === smallFilesTree ? 'small-files' : 'large-files'} tree (once; kept in bench/.data)`);
    const tree = make();
    out.push(await one(ctx, tree, outDir));
  }
  return out;
}

async function one(ctx: BenchContext, tree: Tree, outDir: string): Promise<Comparison> {
  const file = path.join(outDir, `${tree.name}.blob`);
  const clean = async () => rmSync(file, { force: true });
  let tarBytes = 0;
  const one = (name: string, args: string[], cli: string): Variant => ({
    name,
    ours: true,
    after: clean,
    async run() {
      const m = await measure([cli, 'layer', tree.dir, '-o', file, '--json', ...args]);
      const r = JSON.parse(m.stdout) as { size: number; uncompressedSize: number; ms: number };
      tarBytes = r.uncompressedSize;
      return fromMeasured(m, { outputBytes: r.size, engineMs: r.ms });
    },
  });
  // With --baseline, each oci-s2i row has its twin from the other checkout right after it.
  const ours = (name: string, args: string[]): Variant[] => clis(ctx).map((c) => one(name + c.suffix, args, c.cli));
  const tool = (name: string, pipe: string | null, needs: string[]): Variant => {
    const skip = missingTools('tar', ...needs);
    return {
      name,
      ours: false,
      ...(skip ? { skip } : {}),
      after: clean,
      async run() {
        const m = await measure(sh(`tar -cf - -C ${q(tree.dir)} . ${pipe ? `| ${pipe} ` : ''}> ${q(file)}`));
        return fromMeasured(m, { outputBytes: statSync(file).size });
      },
    };
  };
  const lib = libdeflateAvailable();
  if (!lib) ctx.skipped.push('layer: the libdeflate backend was not built (install libdeflate-dev, then `npm run build`): its rows are missing and the target uses parallel (zlib)');
  const variants: Variant[] = [
    ...(lib ? ours(LIB6, ['--backend', 'libdeflate', '--level', '6']) : []),
    tool(PIGZ6, 'pigz -6', ['pigz']),
    ...ours('oci-s2i parallel -6', ['--backend', 'parallel', '--level', '6']),
    ...ours('oci-s2i zlib -6', ['--backend', 'zlib', '--level', '6']),
    tool(GZIP6, 'gzip -6', ['gzip']),
    ...ours('oci-s2i pako -6', ['--backend', 'pako', '--level', '6']),
    ...(lib ? ours('oci-s2i libdeflate -1', ['--backend', 'libdeflate', '--level', '1']) : []),
    tool('tar | pigz -1', 'pigz -1', ['pigz']),
    ...ours('oci-s2i parallel -1', ['--backend', 'parallel', '--level', '1']),
    ...ours('oci-s2i zlib -1', ['--backend', 'zlib', '--level', '1']),
    tool('tar | gzip -1', 'gzip -1', ['gzip']),
    ...ours('oci-s2i pako -1', ['--backend', 'pako', '--level', '1']),
    ...ours('oci-s2i zstd -3', ['--compression', 'zstd', '--level', '3']),
    tool('tar | zstd -3 -T0', 'zstd -q -3 -T0', ['zstd']),
    ...ours('oci-s2i none', ['--compression', 'none']),
    tool('tar', null, []),
  ];
  ctx.log(`layer: ${tree.name} (${tree.files} files, ${mb(tree.bytes)} MB)`);
  const { results, load } = await compare(variants, { runs: ctx.runs, log: ctx.log });
  for (const r of results) {
    if (r.skipped || tarBytes === 0) continue;
    r.metrics.throughput = tarBytes / 1e6 / (r.medianMs / 1000);
    // oci-s2i's own figure, without Node start-up and module loading (the time writeLayer took).
    if (r.metrics.engineMs !== undefined) r.metrics.engineThroughput = tarBytes / 1e6 / (r.metrics.engineMs / 1000);
  }
  const gzip6 = find(results, GZIP6);
  const pigz6 = find(results, PIGZ6);
  const targets: Target[] = [];
  // The target is held by the default backend: libdeflate when built, else parallel (zlib).
  const bestName = lib ? LIB6 : 'oci-s2i parallel -6';
  const par6 = find(results, bestName);
  if (par6 && pigz6) {
    const ratio = pigz6.medianMs / par6.medianMs;
    targets.push({
      what: 'level-6 throughput vs `tar | pigz -6`', goal: '≥ 1.4×', value: ratio, met: ratio >= 1.4,
      detail: `${ratio.toFixed(2)}× (${bestName} ${mb(tarBytes / (par6.medianMs / 1000))} MB/s, pigz -6 ${mb(tarBytes / (pigz6.medianMs / 1000))} MB/s)` +
        (ratio >= 1.4 ? '' : ` — missed by ${((1 - ratio / 1.4) * 100).toFixed(0)} %`),
    });
  } else targets.push({ what: 'level-6 throughput vs `tar | pigz -6`', goal: '≥ 1.4×', value: null, met: null, detail: 'pigz not available' });
  if (par6 && gzip6) {
    const d = par6.metrics.outputBytes! / gzip6.metrics.outputBytes! - 1;
    targets.push({ what: 'level-6 output size vs `gzip -6`', goal: 'within 2 %', value: d, met: Math.abs(d) <= 0.02, detail: `${d >= 0 ? '+' : ''}${(d * 100).toFixed(2)} %` });
  }
  const engine = par6?.metrics.engineMs;
  const notes = [
    `Input: ${tree.files} files, ${mb(tree.bytes)} MB of content, ${mb(tarBytes)} MB as tar; in the page cache (warm-up round), output on the same disk.`,
    'oci-s2i rows run the CLI (`oci-s2i layer DIR -o FILE --json …`): the time includes Node start-up and module loading' +
      (engine !== undefined && par6 ? ` (${bestName.replace('oci-s2i ', '')}: ${(engine / 1000).toFixed(2)} s inside the engine of ${(par6.medianMs / 1000).toFixed(2)} s)` : '') +
      '. oci-s2i also computes both sha256 digests (diffID and blob) in the same pass; the tool pipelines compute none.',
    'GNU tar pads the archive to a 10 KiB record and does not sort names; oci-s2i writes entries sorted, with numeric owners and no padding.',
  ];
  return {
    id: `layer-${tree.name}`,
    bench: 'layer',
    title: `Layer creation — ${tree.name} (${tree.files} files, ${mb(tarBytes)} MB tar)`,
    baseline: PIGZ6,
    columns: [
      { key: 'throughput', header: 'MB/s', kind: 'rate' },
      { key: 'engineThroughput', header: 'MB/s in engine', kind: 'rate' },
      { key: 'outputBytes', header: 'output MB', kind: 'mb' },
      { key: 'outputBytes', header: 'size ÷ gzip -6', kind: 'ratio', of: GZIP6 },
    ],
    variants: results,
    notes,
    targets,
    load,
  };
}
