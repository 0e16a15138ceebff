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
import { clis, type BenchContext } from './main.js';

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
    // With --baseline, each row has a twin running the other checkout (its own cache root and tags), same rounds.
    const variant = (name: string, extra: string[], tag: string, c: { cli: string; key: string }): Variant => ({
      name,
      ours: true,
      async run() {
        const m = await measure([c.cli, 'build', source, builder, `${host}/bench/${tag}${c.key}:latest`, '--root', path.join(work, `root${c.key}`), '--json', '-q', ...extra]);
        const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as { timings?: Record<string, number> };
        return fromMeasured(m, j.timings?.attest !== undefined ? { attestMs: j.timings.attest } : {});
      },
    });
    // One warm-up build fills the cache (and the SBOM's per-layer cache) before the measured rounds.
    for (const c of clis(ctx)) await measure([c.cli, 'build', source, builder, `${host}/bench/warmup${c.key}:latest`, '--root', path.join(work, `root${c.key}`), '-q']);
    const variants = clis(ctx).flatMap((c) => [variant(PLAIN + c.suffix, ['--sbom', 'none', '--provenance=false'], 'plain', c), variant(ATTESTED + c.suffix, [], 'attested', c)]);
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
        targets: clis(ctx).map((c) => ratioTarget(`warm build with SBOM + provenance vs without${c.suffix}`, r.results, ATTESTED + c.suffix, PLAIN + c.suffix, { op: '<=', value: 1.1 }, (x) => x.medianMs)),
        notes: [
          'Both rows: `oci-s2i build SOURCE BUILDER TAG --root DIR` with the cache kept (one warm-up build first); the second also makes the SPDX SBOM (from the moment the layer is written) and the SLSA provenance while the image is pushed, uploads their blobs alongside its layers and writes their manifests after the image manifest (registry without the referrers API: two artifacts and the sha256-<hex> tag index, or cosign tags for Docker images).',
        ],
      },
    ];
  } finally {
    await registry.stop();
  }
}
