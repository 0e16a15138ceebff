// The cost of an in-image build's layer (src/layer/snapshot*.ts) on a root of N files: snapshot, change 100
// files, diff, write the layer. Run on its own, not from bench/main.ts:
//   node [--expose-gc] dist/bench/snapshot.js [N] [--overlay]
// (default 100000; the tree is made once under bench/.data). With --overlay (root): the tree is the lower layer of
// a kernel overlay mounted as a container's root is (a fresh upper dir), once with the walk after the change
// skipping the directories still in the lower layer (snapshot-lower.ts) and once walking every directory, each
// on its own mount. kaniko publishes 1–3 s for its snapshot walk of a 700 000-file filesystem.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDir } from './lib/data.js';
import { takeSnapshot } from '../src/layer/snapshot.js';
import { diffSnapshots } from '../src/layer/snapshot-diff.js';
import { writeSnapshotLayer } from '../src/layer/snapshot-write.js';

const FILES_PER_DIR = 100;
const DIRS_PER_GROUP = 50;
const CHANGED = 100;

function makeTree(dir: string, files: number): void {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const body = Buffer.alloc(300, 'some file content\n');
  for (let i = 0; i < files; i++) {
    const d = path.join(tmp, `g${Math.floor(i / (FILES_PER_DIR * DIRS_PER_GROUP))}`, `d${Math.floor(i / FILES_PER_DIR)}`);
    if (i % FILES_PER_DIR === 0) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `file-${i}.txt`), body);
  }
  renameSync(tmp, dir);
}

function changeFiles(dir: string, files: number, round: number): void {
  const step = Math.max(1, Math.floor(files / CHANGED));
  for (let k = 0; k < CHANGED && k * step < files; k++) {
    const i = k * step;
    const d = path.join(dir, `g${Math.floor(i / (FILES_PER_DIR * DIRS_PER_GROUP))}`, `d${Math.floor(i / FILES_PER_DIR)}`);
    writeFileSync(path.join(d, `file-${i}.txt`), `changed in round ${round}\n`);
  }
}

const cpu: Record<string, number> = {};
/** Wall time of `fn`; its CPU time (user + system, every thread of the process) is kept under `name`. */
async function timed<T>(name: string, fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await fn();
  const c = process.cpuUsage(c0);
  cpu[name] = (c.user + c.system) / 1000;
  return [r, performance.now() - t0];
}

const args = process.argv.slice(2);
const overlay = args.includes('--overlay');
const n = Number(args.find((a) => a !== '--overlay') ?? 100_000);
if (!Number.isInteger(n) || n < 1) {
  console.error('usage: node dist/bench/snapshot.js [N files, default 100000] [--overlay]');
  process.exit(64);
}
const root = path.join(dataDir, `snapshot-${n}`);
if (!existsSync(root)) {
  const [, ms] = await timed('make', async () => makeTree(root, n));
  console.log(`made ${n} files under ${root} in ${(ms / 1000).toFixed(1)} s`);
}
const out = path.join(dataDir, 'out');
mkdirSync(out, { recursive: true });
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const loadStart = os.loadavg()[0]!;

if (overlay) {
  if (process.getuid?.() !== 0) {
    console.error('snapshot --overlay: needs root to mount overlayfs');
    process.exit(64);
  }
  for (const skipLower of [true, false]) {
    // A fresh upper dir made now, after the tree: what a container runtime does for each container.
    const dir = mkdtempSync(path.join(out, 'ovl-'));
    const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(dir, d)) as [string, string, string];
    for (const d of [upper, work, merged]) mkdirSync(d);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${root},upperdir=${upper},workdir=${work}`, merged]);
    try {
      const [snap, snapMs] = await timed('snapshot', () => takeSnapshot(merged, { skipLower }));
      changeFiles(merged, n, Date.now());
      const [diff, diffMs] = await timed('diff', () => diffSnapshots(snap));
      const what = skipLower ? 'skipping what is still in the lower layer' : 'walking every directory';
      console.log(`overlay, ${what}: takeSnapshot ${s(snapMs)} (CPU ${s(cpu.snapshot!)}), diffSnapshots ${s(diffMs)} (CPU ${s(cpu.diff!)}; ${JSON.stringify(diff.counts)}, ${diff.untouched} directories not entered)`);
    } finally {
      execFileSync('umount', [merged]);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`entries ${n + Math.ceil(n / FILES_PER_DIR) + Math.ceil(n / (FILES_PER_DIR * DIRS_PER_GROUP))}; load average (1 min) ${loadStart.toFixed(2)} → ${os.loadavg()[0]!.toFixed(2)} on ${os.availableParallelism()} cores`);
  process.exit(0);
}

const rssBefore = process.memoryUsage().rss;
const [snap, snapMs] = await timed('snapshot', () => takeSnapshot(root));
// With --expose-gc, the RSS after the snapshot is what it keeps, not the garbage of its walk.
(globalThis as { gc?: () => void }).gc?.();
const rssSnap = process.memoryUsage().rss;
changeFiles(root, n, Date.now());
const [diff, diffMs] = await timed('diff', () => diffSnapshots(snap));
const blob = path.join(out, `snapshot-${n}.tar.gz`);
const [layer, writeMs] = await timed('write', () => writeSnapshotLayer(diff, blob));
rmSync(blob, { force: true });
console.log(`entries ${snap.count}; snapshot holds ${mb(snap.bytes())}`);
console.log(`takeSnapshot       ${s(snapMs)} (${((snapMs * 1000) / snap.count).toFixed(1)} µs an entry; CPU ${s(cpu.snapshot!)})`);
console.log(`diffSnapshots      ${s(diffMs)} (${JSON.stringify(diff.counts)}; CPU ${s(cpu.diff!)})`);
console.log(`writeSnapshotLayer ${s(writeMs)} (${layer.entries} entries, ${layer.size} bytes gzip; CPU ${s(cpu.write!)})`);
console.log(`total              ${s(snapMs + diffMs + writeMs)} (CPU ${s(cpu.snapshot! + cpu.diff! + cpu.write!)})`);
console.log(`load average (1 min) ${loadStart.toFixed(2)} → ${os.loadavg()[0]!.toFixed(2)} on ${os.availableParallelism()} cores`);
console.log(`RSS before ${mb(rssBefore)}, after the snapshot ${mb(rssSnap)}, peak ${mb(process.resourceUsage().maxRSS * 1024)}`);
