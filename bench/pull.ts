// Benchmark 3 — pull + unpack of an image into files on disk, cold (empty cache): oci-s2i's pull (download,
// verify, unpack every layer into its layer cache, as a build does) against `skopeo copy` to an OCI layout plus
// `umoci unpack`. On the busybox builder (small: mostly process start), on a "fat" image (busybox + the two
// synthetic trees: ~20,000 files and 200 MB of large files) and, with --go, on the Debian + Go builder. oci-s2i
// runs as its command, `oci-s2i pull`.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { compare, fromMeasured, ratioTarget, type Comparison, type Variant } from './lib/compare.js';
import { measure, missingTools, isRoot } from './lib/run.js';
import { mb } from './lib/report.js';
import { dataDir } from './lib/data.js';
import { pushBusybox, pushFatImage, pushGoBuilder, goBuilderUnavailable } from './lib/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { clis, type BenchContext } from './main.js';

export async function pullBench(ctx: BenchContext): Promise<Comparison[]> {
  // bench/.data is shared by every checkout on the machine: a work dir of our own, so two benches never collide.
  const work = path.join(dataDir, `pull-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  try {
    const host = registry.host;
    ctx.log(`pull: pushing the images to ${host}`);
    await pushBusybox(host, 'bench/builder');
    const fat = await pushFatImage(host, 'bench/fat', ctx.log);
    const images: Array<[string, string]> = [['bench/builder', 'busybox builder'], ['bench/fat', `fat image: ${fat.layers} layers, ${mb(fat.bytes)} MB gzip`]];
    if (ctx.go) {
      const why = goBuilderUnavailable();
      if (why) ctx.skipped.push(`pull --go: ${why}`);
      else {
        await pushGoBuilder(host, 'bench/go', ctx.log);
        images.push(['bench/go', 'Debian bookworm + Go builder (debootstrap, one layer)']);
      }
    }
    const out: Comparison[] = [];
    for (const [repo, label] of images) {
      const ref = `${host}/${repo}:latest`;
      // With --baseline, the other checkout's pull runs in the same rounds, into its own root.
      const ours: Variant[] = clis(ctx).map((c) => ({
        name: `oci-s2i pull + unpack${c.suffix}`,
        ours: true,
        before: async () => rmSync(path.join(work, `oci-s2i${c.key}`), { recursive: true, force: true }),
        async run() {
          // The command users run: `oci-s2i pull` (what a build does first: resolve, download, verify, unpack).
          return fromMeasured(await measure([c.cli, 'pull', ref, '--root', path.join(work, `oci-s2i${c.key}`), '-q']));
        },
      }));
      const skip = missingTools('skopeo', 'umoci');
      const layout = path.join(work, 'layout');
      const bundle = path.join(work, 'bundle');
      const theirs: Variant = {
        name: 'skopeo copy + umoci unpack',
        ours: false,
        ...(skip ? { skip } : {}),
        before: async () => {
          rmSync(layout, { recursive: true, force: true });
          rmSync(bundle, { recursive: true, force: true });
        },
        async run() {
          const a = await measure(['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:latest`]);
          const b = await measure(['umoci', 'unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${layout}:latest`, bundle]);
          return { ms: a.ms + b.ms, rssKB: Math.max(a.rssKB ?? 0, b.rssKB ?? 0) };
        },
      };
      ctx.log(`pull: ${label}`);
      const { results, load } = await compare([...ours, theirs], { runs: ctx.runs, log: ctx.log });
      out.push({
        id: `pull-${repo.split('/')[1]}`, bench: 'pull', title: `Pull + unpack, cold — ${label}`, baseline: 'skopeo copy + umoci unpack',
        columns: [], variants: results, load,
        targets: [ratioTarget('pull + unpack time vs skopeo + umoci', results, 'oci-s2i pull + unpack', 'skopeo copy + umoci unpack', { op: '<=', value: 0.8 }, (r) => r.medianMs)],
        notes: [
          'Registry on loopback. Before every run the oci-s2i root / the OCI layout and bundle are removed (untimed).',
          'oci-s2i unpacks each layer into its own cache directory (what a build stacks as overlay lower dirs); umoci unpack writes one merged rootfs and an mtree manifest.',
        ],
      });
    }
    return out;
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
