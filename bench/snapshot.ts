// The cost of an in-image build's layer (src/layer/snapshot*.ts) on a root of N files: snapshot, change 100
// files, diff, write the layer. Run on its own, not from bench/main.ts:
//   node [--expose-gc] dist/bench/snapshot.js [N]   (default 100000; the tree is made once under bench/.data)
// kaniko publishes 1–3 s for its snapshot walk of a 700 000-file filesystem.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

const n = Number(process.argv[2] ?? 100_000);
if (!Number.isInteger(n) || n < 1) {
  console.error('usage: node dist/bench/snapshot.js [N files, default 100000]');
  process.exit(64);
}
const root = path.join(dataDir, `snapshot-${n}`);
if (!existsSync(root)) {
  const [, ms] = await timed(async () => makeTree(root, n));
  console.log(`made ${n} files under ${root} in ${(ms / 1000).toFixed(1)} s`);
}
const out = path.join(dataDir, 'out');
mkdirSync(out, { recursive: true });
const rssBefore = process.memoryUsage().rss;
const [snap, snapMs] = await timed(() => takeSnapshot(root));
// With --expose-gc, the RSS after the snapshot is what it keeps, not the garbage of its walk.
(globalThis as { gc?: () => void }).gc?.();
const rssSnap = process.memoryUsage().rss;
changeFiles(root, n, Date.now());
const [diff, diffMs] = await timed(() => diffSnapshots(snap));
const blob = path.join(out, `snapshot-${n}.tar.gz`);
const [layer, writeMs] = await timed(() => writeSnapshotLayer(diff, blob));
rmSync(blob, { force: true });
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
console.log(`entries ${snap.count}; snapshot holds ${mb(snap.bytes())}`);
console.log(`takeSnapshot       ${(snapMs / 1000).toFixed(2)} s (${((snapMs * 1000) / snap.count).toFixed(1)} µs an entry)`);
console.log(`diffSnapshots      ${(diffMs / 1000).toFixed(2)} s (${JSON.stringify(diff.counts)})`);
console.log(`writeSnapshotLayer ${(writeMs / 1000).toFixed(2)} s (${layer.entries} entries, ${layer.size} bytes gzip)`);
console.log(`total              ${((snapMs + diffMs + writeMs) / 1000).toFixed(2)} s`);
console.log(`RSS before ${mb(rssBefore)}, after the snapshot ${mb(rssSnap)}, peak ${mb(process.resourceUsage().maxRSS * 1024)}`);
