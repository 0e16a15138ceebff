// Benchmark 3 — pull + unpack of an image into files on disk, cold (empty cache): oci-s2i's pull (download,
// verify, unpack every layer into its layer cache, as a build does) against `skopeo copy` to an OCI layout plus
// `umoci unpack`. On the busybox builder (small: mostly process start) and on a "fat" image (busybox + the two
// synthetic trees: ~20,000 files and 200 MB of large files).
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, fromMeasured, ratioTarget, type Comparison, type Variant } from './lib/compare.js';
import { measure, missingTools, isRoot } from './lib/run.js';
import { mb } from './lib/report.js';
import { dataDir } from './lib/data.js';
import { pushBusybox, pushFatImage } from './lib/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import type { BenchContext } from './main.js';

const here = path.dirname(fileURLToPath(import.meta.url));

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
    const out: Comparison[] = [];
    for (const [repo, label] of [['bench/builder', 'busybox builder'], ['bench/fat', `fat image: ${fat.layers} layers, ${mb(fat.bytes)} MB gzip`]] as const) {
      const ref = `${host}/${repo}:latest`;
      const ours: Variant = {
        name: 'oci-s2i pull + unpack',
        ours: true,
        before: async () => rmSync(path.join(work, 'oci-s2i'), { recursive: true, force: true }),
        async run() {
          return fromMeasured(await measure([process.execPath, path.join(here, 'tools', 'pull-unpack.js'), '--root', path.join(work, 'oci-s2i'), ref]));
        },
      };
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
      const { results, load } = await compare([ours, theirs], { runs: ctx.runs, log: ctx.log });
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
