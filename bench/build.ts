// Benchmarks 2 and 4 — an S2I build from source to an image pushed to a registry, warm (builder already in the
// local cache/storage) and cold (empty cache/storage): `oci-s2i build` against `buildah bud` on the Containerfile
// that `oci-s2i build --as-dockerfile` writes (as `s2i build --as-dockerfile` does) plus `buildah push`.
// Every request goes through a counting proxy in front of the registry, so the bytes each side uploads are
// measured too (benchmark 4: a registry that already has the builder should receive only the new layer,
// the config and the manifest).
import { chmodSync, mkdirSync, rmSync, cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { compare, fromMeasured, find, ratioTarget, type Comparison, type Variant, type VariantResult, type Target } from './lib/compare.js';
import { measure, missingTools, isRoot, which } from './lib/run.js';
import { median } from './lib/stats.js';
import { removeTree } from './lib/mounts.js';
import { mb } from './lib/report.js';
import { dataDir, benchDir, appTree } from './lib/data.js';
import { pushBusybox, pushGoBuilder, goBuilderUnavailable, goRootfs, projectRoot } from './lib/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.js';
import { lastLayer, showEntries } from '../test/helpers/layer-listing.js';
import { RegistryClient } from '../src/registry/client.js';
import { clis, type BenchContext } from './main.js';

interface BuildJson {
  digest: string;
  layer?: { size?: number; digest?: string };
  timings?: Record<string, number>;
  push?: { uploaded: string[]; skipped: string[]; mounted: string[] };
}

/** buildah's storage driver: overlay where the kernel allows it as this user, else vfs (a full copy per layer). */
function buildahDriver(): string {
  return process.env.BENCH_BUILDAH_DRIVER ?? (isRoot ? 'overlay' : 'vfs');
}

export async function buildBench(ctx: BenchContext): Promise<Comparison[]> {
  const wantBuild = ctx.only.has('build');
  const kind = ctx.go ? 'Debian + Go builder' : 'busybox builder';
  if (ctx.go) {
    const why = goBuilderUnavailable();
    if (why) {
      ctx.skipped.push(`build --go: ${why}`);
      return [];
    }
  }
  const work = path.join(dataDir, 'build');
  removeTree(work);
  mkdirSync(work, { recursive: true });
  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.host);
  try {
    const host = proxy.host;
    const builder = `${host}/bench/builder:latest`;
    ctx.log(`build: pushing the ${kind} to ${registry.host}`);
    if (ctx.go) await pushGoBuilder(registry.host, 'bench/builder', ctx.log);
    else await pushBusybox(registry.host, 'bench/builder');
    const sources: Array<{ label: string; dir: string; cold: boolean }> = ctx.go
      ? [{ label: 'Go web server', dir: path.join(benchDir, 'go-app'), cold: true }]
      : [
          { label: 'examples/hello', dir: path.join(projectRoot, 'examples', 'hello'), cold: true },
          // An application as big as a node_modules: what the layer writer and the push are for.
          { label: `app of ${appTree().files} files (${(appTree().bytes / 1e6).toFixed(0)} MB)`, dir: appTree().dir, cold: false },
        ];
    const out: Comparison[] = [];
    for (const [i, src] of sources.entries()) out.push(...(await oneSource(ctx, { ...src, kind, host, builder, work: path.join(work, `s${i}`), proxy, wantBuild })));
    return out;
  } finally {
    // The builder image the in-image rows had podman pull.
    if (which('podman')) await measure(['podman', 'rmi', '-f', `${proxy.host}/bench/builder:latest`]).catch(() => undefined);
    await proxy.stop();
    await registry.stop();
  }
}

interface SourceRun {
  label: string;
  dir: string;
  cold: boolean;
  kind: string;
  host: string;
  builder: string;
  work: string;
  proxy: FaultProxy;
  wantBuild: boolean;
}

async function oneSource(ctx: BenchContext, opts: SourceRun): Promise<Comparison[]> {
  const { label, work } = opts;
  const source = opts.dir;
  const key = label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  mkdirSync(work, { recursive: true });
  try {
    return await sourceComparisons(ctx, opts, source, key);
  } finally {
    // buildah leaves overlay mounts behind; unmount them so the next run can remove the directory.
    for (const store of ['buildah-warm', 'buildah-cold']) await wipeBuildah(buildahFlags(path.join(work, store)), path.join(work, store));
  }
}

function buildahFlags(store: string): string[] {
  return ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'runroot'), '--storage-driver', buildahDriver()];
}

async function sourceComparisons(ctx: BenchContext, opts: SourceRun, source: string, key: string): Promise<Comparison[]> {
  const { label, kind, host, builder, work, proxy, wantBuild } = opts;
  // oci-s2i: one cache root kept between warm runs, a fresh one for every cold run.
  const warmRoot = path.join(work, 'oci-s2i-warm');
  const coldRoot = path.join(work, 'oci-s2i-cold');
  const one = (name: string, root: string, cold: boolean, cli: string, key: string): Variant => ({
    name,
    ours: true,
    ...(cold ? { before: async () => rmSync(root, { recursive: true, force: true }) } : {}),
    async run() {
      proxy.stats.reset();
      const m = await measure([cli, 'build', source, builder, `${host}/bench/app-oci-s2i${key}:latest`, '--root', root, '--json', '-q']);
      const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as BuildJson;
      return fromMeasured(m, {
        bytesSent: proxy.stats.requestBytes(),
        bytesReceived: proxy.stats.responseBytes(),
        ...(j.timings?.push !== undefined ? { pushMs: j.timings.push } : {}),
        blobsUploaded: j.push?.uploaded.length ?? Number.NaN,
        ...(j.layer?.size !== undefined ? { layerBytes: j.layer.size } : {}),
      });
    },
  });

  // With --baseline, the other checkout's build runs in the same rounds, with its own cache root and tag.
  const ours = (name: string, root: string, cold: boolean): Variant[] => clis(ctx).map((c) => one(name + c.suffix, root + c.key, cold, c.cli, c.key));

  // buildah on the Containerfile oci-s2i writes with --as-dockerfile (the `s2i build --as-dockerfile` flow).
  const buildahSkip = missingTools('buildah', ...(isRoot ? [] : ['newuidmap']));
  const context = path.join(work, 'containerfile');
  if (!buildahSkip) {
    await measure([ctx.cli, 'build', source, builder, '--as-dockerfile', path.join(context, 'Containerfile'), '-q']);
  }
  const driver = buildahDriver();
  const buildah = (name: string, store: string, cold: boolean): Variant => {
    const flags = buildahFlags(store);
    // runc, like oci-s2i on this kind of host (crun 1.8 refuses cgroup hybrid mode).
    const runtime = which('runc') ? ['--runtime', which('runc')!] : [];
    const image = `${host}/bench/app-buildah:latest`;
    return {
      name,
      ours: false,
      ...(buildahSkip ? { skip: buildahSkip } : {}),
      before: async () => {
        if (cold) await wipeBuildah(flags, store);
      },
      async run() {
        proxy.stats.reset();
        const bud = await measure(['buildah', ...flags, 'bud', ...runtime, '--tls-verify=false', '--pull=missing', '-f', path.join(context, 'Containerfile'), '-t', image, context]);
        const sent0 = proxy.stats.requestBytes();
        const push = await measure(['buildah', ...flags, 'push', '--tls-verify=false', image, `docker://${image}`]);
        return {
          ms: bud.ms + push.ms,
          rssKB: Math.max(bud.rssKB ?? 0, push.rssKB ?? 0),
          metrics: { bytesSent: proxy.stats.requestBytes(), pushBytesSent: proxy.stats.requestBytes() - sent0, bytesReceived: proxy.stats.responseBytes(), pushMs: push.ms },
        };
      },
    };
  };

  const floor = ctx.go ? goFloor(source) : undefined;
  const warm: Variant[] = [...ours('oci-s2i build (warm)', warmRoot, false), buildah('buildah bud + push (warm)', path.join(work, 'buildah-warm'), false)];
  if (floor) warm.push(floor);
  warm.push(...inImageVariants(ctx, opts, source, key));
  ctx.log(`build: warm, ${kind}, ${label}`);
  const w = await compare(warm, { runs: ctx.runs, log: ctx.log });
  const out: Comparison[] = [];
  const columns = buildColumns();
  if (wantBuild) {
    const targets: Target[] = [
      ratioTarget('warm build time vs buildah', w.results, 'oci-s2i build (warm)', 'buildah bud + push (warm)', { op: '<=', value: 0.7 }, (r) => r.medianMs),
      rssTarget(find(w.results, 'oci-s2i build (warm)')),
      ratioTarget('in-image warm build time vs sandbox', w.results, IN_IMAGE, 'oci-s2i build (warm)', { op: '<=', value: 1 }, (r) => r.medianMs),
      inImageOverPodTarget(w.results),
      await sameLayerTarget(ctx, w.results, `${host}/bench/app-oci-s2i:latest`, inImageTarget(host, key)),
    ];
    const f = floor ? find(w.results, floor.name) : undefined;
    const o = find(w.results, 'oci-s2i build (warm)');
    if (f && o) {
      const over = o.medianMs - f.medianMs;
      targets.push({ what: 'overhead over the bare `go build`', goal: '< 0.7 s', value: over / 1000, met: over < 700, detail: `${(over / 1000).toFixed(2)} s` });
    }
    out.push({
      id: `build-warm-${key}`, bench: 'build', title: `S2I build, source → pushed image, warm — ${kind}, ${label}`, baseline: 'buildah bud + push (warm)',
      columns, variants: w.results, targets, load: w.load,
      notes: [
        `buildah: storage driver ${driver}, default isolation (runc), no --layers (so the assemble step really runs, as in oci-s2i); time = \`buildah bud\` + \`buildah push\`.`,
        'oci-s2i: `oci-s2i build SOURCE BUILDER TAG --root DIR` with the cache kept between runs (builder layers unpacked once).',
        'Bytes up/down are HTTP body bytes through a counting proxy in front of the registry, whole build.',
        'in-image: `podman run` of the builder image (restricted: no capability, no new privileges) with the standalone engine mounted, running `oci-s2i build --isolation in-image`, warm: with `--root` on a volume kept between runs (what a pipeline\'s pods can share: the store keeps the SBOM\'s findings for the builder\'s own files, as the sandbox row\'s cache keeps them per layer), and once without (a store under the pod\'s /tmp: nothing kept); the builder is never unpacked by oci-s2i (it is the container), the time runs from `podman run` to the exit of the container\'s process (its FinishedAt): the container start-up is in it (the `true` row measures it alone), its unmount and removal are not (a CI step ends when its process exits: Tekton starts the next step then; podman returns ≈ 0.12 s after a build\'s exit and ≈ 0.05 s after `true`\'s: the podmanMs figure of the JSON results; the container is removed untimed after each run). Peak RSS of these two rows is podman\'s own (the container runs under conmon, outside the measured tree).',
      ],
    });
    if (!opts.cold || ctx.warmOnly) return [...out, pushComparison(w.results, w.load, `${kind}, ${label}`, key)];
    const cold: Variant[] = [...ours('oci-s2i build (cold)', coldRoot, true), buildah('buildah bud + push (cold)', path.join(work, 'buildah-cold'), true)];
    ctx.log(`build: cold, ${kind}, ${label}`);
    const c = await compare(cold, { runs: ctx.runs, log: ctx.log });
    out.push({
      id: `build-cold-${key}`, bench: 'build', title: `S2I build, source → pushed image, cold: empty cache / storage — ${kind}, ${label}`, baseline: 'buildah bud + push (cold)',
      columns, variants: c.results, load: c.load,
      targets: [ratioTarget('cold build time vs buildah', c.results, 'oci-s2i build (cold)', 'buildah bud + push (cold)', { op: '<=', value: 0.75 }, (r) => r.medianMs)],
      notes: ['Before every cold run the oci-s2i cache root / buildah storage is removed (untimed): the builder is pulled and unpacked again.'],
    });
  }
  out.push(pushComparison(w.results, w.load, `${kind}, ${label}`, key));
  return out;
}

/**
 * podman's flags for this host (shared/ENVIRONMENT.md) and a restricted pod's shape. No `--rm`: a CI step ends
 * when its process exits; the kubelet removes the container's written layer after the step, off the build's
 * time. Each run names its container and removes it untimed (`after`).
 */
const POD = ['--runtime', 'runc', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000', '--network', 'host', '--tls-verify=false', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];

const IN_IMAGE = 'oci-s2i build --isolation in-image (warm, podman pod)';
const IN_IMAGE_FRESH = 'oci-s2i build --isolation in-image (podman pod, nothing kept: no --root)';
const POD_FLOOR = 'podman run of the builder, `true` (pod start-up, floor)';

/** The in-image build less what starting its container costs (the floor row), against the sandbox build. */
function inImageOverPodTarget(results: VariantResult[]): Target {
  const what = 'in-image warm build less the pod start-up vs sandbox';
  const [ii, floor, sb] = [find(results, IN_IMAGE), find(results, POD_FLOOR), find(results, 'oci-s2i build (warm)')];
  if (!ii || !floor || !sb) return { what, goal: '≤ 1×', value: null, met: null, detail: 'not measured' };
  const ratio = (ii.medianMs - floor.medianMs) / sb.medianMs;
  return { what, goal: '≤ 1×', value: ratio, met: ratio <= 1, detail: `${ratio.toFixed(2)}× ((${(ii.medianMs / 1000).toFixed(2)} − ${(floor.medianMs / 1000).toFixed(2)} s) vs ${(sb.medianMs / 1000).toFixed(2)} s)` };
}
const inImageTarget = (host: string, key: string): string => `${host}/bench/app-in-image-${key.replace(/^-+|-+$/g, '')}:latest`;

/**
 * The issue-15 check that an in-image build and a sandbox build of the same source give the same new layer:
 * the last warm round's two pushed images, their new layers' tar listings compared (names, types, modes, owners,
 * link targets; not sizes, as assemble's outputs, a Go build cache, need not be byte-identical).
 */
async function sameLayerTarget(ctx: BenchContext, results: VariantResult[], sandbox: string, inImage: string): Promise<Target> {
  const what = 'in-image layer = sandbox layer (names, types, modes, owners)';
  if (!find(results, IN_IMAGE) || !find(results, 'oci-s2i build (warm)')) return { what, goal: 'identical', value: null, met: null, detail: 'not measured (a build did not run)' };
  const client = new RegistryClient();
  try {
    const [a, b] = await Promise.all([lastLayer(client, sandbox), lastLayer(client, inImage)]);
    const want = showEntries(a.entries, false);
    const got = showEntries(b.entries, false);
    const missing = want.filter((l) => !got.includes(l));
    const extra = got.filter((l) => !want.includes(l));
    for (const l of missing) ctx.log(`  only in the sandbox layer: ${l}`);
    for (const l of extra) ctx.log(`  only in the in-image layer: ${l}`);
    const same = missing.length === 0 && extra.length === 0;
    return { what, goal: 'identical', value: missing.length + extra.length, met: same, detail: same ? `identical: ${got.length} entries` : `${missing.length} entries only in the sandbox layer, ${extra.length} only in the in-image layer (of ${want.length} / ${got.length})` };
  } catch (e) {
    return { what, goal: 'identical', value: null, met: null, detail: `not compared: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    await client.close();
  }
}

/**
 * `build --isolation in-image` as a CI pod runs it: a podman container of the builder (pulled once, in the
 * warm-up round), no capability, the standalone engine mounted read-only; and the same container running
 * `true`, the start-up every pod pays whatever it runs (the floor). The engine's own cost is the difference.
 */
function inImageVariants(ctx: BenchContext, opts: SourceRun, source: string, key: string): Variant[] {
  // With --baseline, the other checkout's standalone engine runs in a twin row (its own tag).
  const engines = clis(ctx).map((c) => ({ ...c, standalone: path.join(path.dirname(path.dirname(c.cli)), 'dist', 'standalone') }));
  let seq = 0;
  let last = '';
  const pod = (standalone: string, cmd: string[], volumes: string[] = []) => {
    last = `oci-s2i-bench-${process.pid}-${seq++}`;
    return ['podman', 'run', '--name', last, ...POD, '-v', `${standalone}:/opt/oci-s2i:ro`, '-v', `${source}:/workspace/source:ro`, ...volumes.flatMap((v) => ['-v', v]), opts.builder, ...cmd];
  };
  // The warm rows' store: a volume kept between runs, as a pipeline's pods share one (a Tekton workspace, a
  // GitLab cache path), which the pod's user (the builder's USER) can make its store in; one per engine.
  const keptRoot = (e: { key: string }): string => {
    const dir = path.join(opts.work, `in-image-root${e.key}`);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o1777);
    return dir;
  };
  const removePod = async (): Promise<void> => {
    if (last) await measure(['podman', 'rm', '-f', last]).catch(() => undefined);
    last = '';
  };
  // Timed to the moment the container's process exited (conmon's FinishedAt), not to podman's return: a CI step
  // ends when its process does (Tekton starts the next step then, GitLab runs the next command); unmounting and
  // freeing the container comes after, off that path (measured here: podman returns ≈ 0.12 s after a build's exit,
  // ≈ 0.05 s after `true`'s; a stat of every entry in the container alone adds ≈ 0.04 s to the unmount). The
  // podman return is kept as `podmanMs`.
  const timedPod = async (argv: string[]): Promise<{ m: Awaited<ReturnType<typeof measure>>; ms: number; podmanMs: number }> => {
    const startedNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const m = await measure(argv);
    const finished = (await measure(['podman', 'inspect', '--format', '{{.State.FinishedAt.UnixNano}}', last])).stdout.trim();
    const ms = Number(BigInt(finished) - startedNs) / 1e6;
    if (!(ms > 0 && ms <= m.ms)) throw new Error(`podman inspect gave FinishedAt ${finished}, outside the run (${m.ms.toFixed(0)} ms)`);
    return { m, ms, podmanMs: m.ms };
  };
  const skipOf = (standalone: string): string | undefined => missingTools('podman') ?? (existsSync(path.join(standalone, 'oci-s2i')) ? undefined : `needs ${standalone} (npm run build)`);
  const floorSkip = skipOf(engines[0]!.standalone);
  const variants = engines.flatMap((e) => [
    { e, name: IN_IMAGE + e.suffix, kept: true },
    { e, name: IN_IMAGE_FRESH + e.suffix, kept: false },
  ]);
  return [
    ...variants.map(({ e, name, kept }): Variant => {
      const skip = skipOf(e.standalone);
      return {
        name,
        ours: true,
        ...(skip ? { skip } : {}),
        after: removePod,
        async run() {
          opts.proxy.stats.reset();
          const store = kept ? ['--root', '/cache/oci-s2i'] : [];
          const { m, ms, podmanMs } = await timedPod(pod(e.standalone, ['/opt/oci-s2i/oci-s2i', 'build', '--isolation', 'in-image', '/workspace/source', opts.builder, inImageTarget(opts.host, key + e.key), '--tls-verify=false', '--json', '-q', ...store], kept ? [`${keptRoot(e)}:/cache`] : []));
          const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as BuildJson;
          return fromMeasured({ ...m, ms }, {
            podmanMs,
            bytesSent: opts.proxy.stats.requestBytes(),
            bytesReceived: opts.proxy.stats.responseBytes(),
            ...(j.timings?.push !== undefined ? { pushMs: j.timings.push } : {}),
            blobsUploaded: j.push?.uploaded.length ?? Number.NaN,
            ...(j.layer?.size !== undefined ? { layerBytes: j.layer.size } : {}),
          });
        },
      };
    }),
    {
      name: POD_FLOOR,
      ours: false,
      ...(floorSkip ? { skip: floorSkip } : {}),
      after: removePod,
      async run() {
        const { m, ms, podmanMs } = await timedPod(pod(engines[0]!.standalone, ['true']));
        return fromMeasured({ ...m, ms }, { podmanMs });
      },
    },
  ];
}

async function wipeBuildah(flags: string[], store: string): Promise<void> {
  if (!existsSync(store) || !which('buildah')) return;
  // Unmounts overlay layers before the files go.
  await measure(['buildah', ...flags, 'rm', '--all']).catch(() => undefined);
  await measure(['buildah', ...flags, 'rmi', '--all', '--force']).catch(() => undefined);
  removeTree(store);
}

function buildColumns(): Comparison['columns'] {
  return [
    { key: 'bytesSent', header: 'sent', kind: 'bytes' },
    { key: 'bytesReceived', header: 'received', kind: 'bytes' },
  ];
}

function rssTarget(r: VariantResult | undefined): Target {
  if (!r || r.medianRssMB === undefined) return { what: 'oci-s2i peak RSS', goal: '≤ 150 MB', value: null, met: null, detail: 'not measured' };
  return { what: 'oci-s2i peak RSS', goal: '≤ 150 MB', value: r.medianRssMB, met: r.medianRssMB <= 150, detail: `${r.medianRssMB.toFixed(0)} MB (largest process of the build)` };
}

/** The bare `go build` of the same source in the builder's root filesystem (chroot, cold Go cache): the floor.
 *  What it writes there is removed after each run: the rootfs is what the builder image's layer is made of. */
function goFloor(source: string): Variant {
  const rootfs = goRootfs(() => {});
  const clean = async (): Promise<void> => {
    rmSync(path.join(rootfs, 'tmp', 'floor'), { recursive: true, force: true });
    rmSync(path.join(rootfs, 'tmp', 'floor-cache'), { recursive: true, force: true });
  };
  return {
    name: 'bare go build (chroot, floor)',
    ours: false,
    before: async () => {
      await clean();
      cpSync(source, path.join(rootfs, 'tmp', 'floor'), { recursive: true });
    },
    after: clean,
    async run() {
      return fromMeasured(await measure(['chroot', rootfs, '/bin/sh', '-c', 'cd /tmp/floor && GOCACHE=/tmp/floor-cache GOTOOLCHAIN=local go build -o app .']));
    },
  };
}

/** Benchmark 4 from the warm builds: the push step alone (oci-s2i's own timing; buildah's push command). */
function pushComparison(results: VariantResult[], load: [number, number], kind: string, key: string): Comparison {
  const pick = (name: string, newName: string, sentKey: string): VariantResult | undefined => {
    const r = find(results, name);
    if (!r) return results.find((x) => x.name === name) ? { ...results.find((x) => x.name === name)!, name: newName } : undefined;
    const ms = r.samples.map((s) => s.metrics?.pushMs ?? Number.NaN);
    const sent = r.samples.map((s) => s.metrics?.[sentKey] ?? Number.NaN);
    return {
      ...r, name: newName, medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms),
      metrics: { bytesSent: median(sent), ...(r.metrics.blobsUploaded !== undefined ? { blobsUploaded: r.metrics.blobsUploaded } : {}), ...(r.metrics.layerBytes !== undefined ? { layerBytes: r.metrics.layerBytes } : {}) },
    };
  };
  const variants = [pick('oci-s2i build (warm)', 'oci-s2i push step', 'bytesSent'), pick('buildah bud + push (warm)', 'buildah push', 'pushBytesSent')].filter((v): v is VariantResult => v !== undefined);
  const o = find(variants, 'oci-s2i push step');
  const targets: Target[] = [];
  if (o) {
    const n = o.metrics.blobsUploaded;
    targets.push({
      what: 'only the new layer, config and manifest are uploaded', goal: '1 layer blob + config', value: n ?? null, met: n === undefined ? null : n <= 2,
      detail: `${n ?? '?'} blob(s) uploaded, ${mb(o.metrics.bytesSent!)} MB sent in all (new layer ${o.metrics.layerBytes !== undefined ? mb(o.metrics.layerBytes) : '?'} MB)`,
    });
  }
  return {
    id: `push-${key}`, bench: 'push', title: `Push of the new image to a registry that has the builder — ${kind}`, baseline: 'buildah push',
    columns: [
      { key: 'bytesSent', header: 'sent', kind: 'bytes' },
      { key: 'layerBytes', header: 'new layer', kind: 'bytes' },
      { key: 'blobsUploaded', header: 'blobs uploaded', kind: 'count' },
    ],
    variants, targets, load,
    notes: [
      'From the warm builds above: oci-s2i\'s own `push` step timing (inside the build, no process start) vs the `buildah push` command; MB up is what went to the registry.',
      'oci-s2i pushes to another repository of the builder\'s registry: builder layers are mounted cross-repository, never re-uploaded. Peak RSS is the whole build\'s for oci-s2i.',
    ],
  };
}
