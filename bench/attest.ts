// Benchmark: what the supply-chain attachments cost a warm build. The same warm `oci-s2i build` (cache kept, source
// → pushed image) with `--sbom none --provenance=false` and with the defaults (SPDX SBOM + SLSA provenance, attached
// next to the image), interleaved. Goal (issue 14): no more than 10 % on a warm build. Never asserts a time.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { compare, fromMeasured, ratioTarget, type Comparison, type Variant } from './lib/compare.js';
import { measure } from './lib/run.js';
import { removeTree } from './lib/mounts.js';
import { dataDir, benchDir } from './lib/data.js';
import { pushBusybox, pushGoBuilder, goBuilderUnavailable, projectRoot } from './lib/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import type { BenchContext } from './main.js';

const PLAIN = 'oci-s2i build (warm, --sbom none --provenance=false)';
const ATTESTED = 'oci-s2i build (warm, SBOM + provenance: the default)';

export async function attestBench(ctx: BenchContext): Promise<Comparison[]> {
  const kind = ctx.go ? 'Debian + Go builder' : 'busybox builder';
  if (ctx.go) {
    const why = goBuilderUnavailable();
    if (why) {
      ctx.skipped.push(`attest --go: ${why}`);
      return [];
    }
  }
  const work = path.join(dataDir, 'attest');
  removeTree(work);
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  try {
    const host = registry.host;
    const builder = `${host}/bench/builder:latest`;
    ctx.log(`attest: pushing the ${kind} to ${host}`);
    if (ctx.go) await pushGoBuilder(host, 'bench/builder', ctx.log);
    else await pushBusybox(host, 'bench/builder');
    const source = ctx.go ? path.join(benchDir, 'go-app') : path.join(projectRoot, 'examples', 'hello');
    const variant = (name: string, extra: string[], tag: string): Variant => ({
      name,
      ours: true,
      async run() {
        const m = await measure([ctx.cli, 'build', source, builder, `${host}/bench/${tag}:latest`, '--root', path.join(work, 'root'), '--json', '-q', ...extra]);
        const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as { timings?: Record<string, number> };
        return fromMeasured(m, j.timings?.attest !== undefined ? { attestMs: j.timings.attest } : {});
      },
    });
    // One warm-up build fills the cache (and the SBOM's per-layer cache) before the measured rounds.
    await measure([ctx.cli, 'build', source, builder, `${host}/bench/warmup:latest`, '--root', path.join(work, 'root'), '-q']);
    const variants = [variant(PLAIN, ['--sbom', 'none', '--provenance=false'], 'plain'), variant(ATTESTED, [], 'attested')];
    ctx.log(`attest: warm builds with and without attachments, ${kind}`);
    const r = await compare(variants, { runs: ctx.runs, log: ctx.log });
    return [
      {
        id: `attest-warm-${ctx.go ? 'go' : 'busybox'}`,
        bench: 'attest',
        title: `Supply-chain attachments on a warm build — ${kind}`,
        baseline: PLAIN,
        columns: [],
        variants: r.results,
        load: r.load,
        targets: [ratioTarget('warm build with SBOM + provenance vs without', r.results, ATTESTED, PLAIN, { op: '<=', value: 1.1 }, (x) => x.medianMs)],
        notes: [
          'Both rows: `oci-s2i build SOURCE BUILDER TAG --root DIR` with the cache kept (one warm-up build first); the second also makes the SPDX SBOM (while the image is pushed) and the SLSA provenance, and attaches both (registry without the referrers API: two artifacts and the sha256-<hex> tag index, or cosign tags for Docker images).',
        ],
      },
    ];
  } finally {
    await registry.stop();
  }
}
