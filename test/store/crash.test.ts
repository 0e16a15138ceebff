// Crash safety: a child pulls an image (manifest, config, three layers: a busybox rootfs, many small files, a few MB
// of incompressible data) from a real registry into one store and unpacks it; it is killed with SIGKILL at random
// moments, again and again, on the same store. Afterwards `cache verify` finds nothing corrupt, no leftover of the
// dead children is trusted, and the next pull succeeds with the right content.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { busyboxRootfs, pushBuiltImage, writeTarLayer, type BuiltImage, type TarFile } from '../../src/demo/busybox-image.js';
import { configMediaType, serializeConfig } from '../../src/image/config.js';
import { buildManifest } from '../../src/image/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { hostPlatform } from '../../src/oci/platform.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pruneStore } from '../../src/store/gc.js';
import { verifyStore } from '../../src/store/verify.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'pull-worker.js');
const iterations = 10;
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'crash-'));
const client = new RegistryClient({ plainHttp: true });
let registry: TestRegistry;
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const big = randomBytes(4 << 20);
const smallFiles: TarFile[] = [];
for (let d = 0; d < 30; d++) {
  smallFiles.push({ name: `data/d${d}/`, type: 'directory' });
  for (let f = 0; f < 25; f++) smallFiles.push({ name: `data/d${d}/f${f}.txt`, content: `dir ${d} file ${f}\n`.repeat(f + 1) });
}

async function pushImage(ref: string): Promise<{ diffIDs: string[] }> {
  const layers = [
    await writeTarLayer(busyboxRootfs(), path.join(work, 'l0.tgz')),
    await writeTarLayer(smallFiles, path.join(work, 'l1.tgz')),
    await writeTarLayer([{ name: 'blob/', type: 'directory' }, { name: 'blob/big.bin', content: big }], path.join(work, 'l2.tgz')),
  ];
  const p = hostPlatform();
  const config = serializeConfig({ architecture: p.architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) } });
  const configDescriptor = { mediaType: configMediaType('oci'), digest: sha256Digest(config), size: config.length };
  const image: BuiltImage = { layers, config, configDescriptor, manifest: buildManifest('oci', configDescriptor, layers.map((l) => l.descriptor)) };
  const [repo, tag] = ref.slice(registry.host.length + 1).split(':') as [string, string];
  await pushBuiltImage(client.repository(registry.host, repo), image, tag);
  return { diffIDs: layers.map((l) => l.diffID) };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** ms from "ready" to exit when not killed. */
  ms: number;
}

/** Runs the worker; kills it `killAfterMs` after it is ready (undefined: let it finish). */
function runWorker(root: string, ref: string, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    // `env -u` (it execs, so the pid is node's): without tap's process hooks, which re-add NODE_OPTIONS to every
    // spawn, slow the child's start-up and write files a kill would cut.
    const p = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, worker, root, ref], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyAt = 0;
    let timer: NodeJS.Timeout | undefined;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (readyAt === 0 && stdout.includes('ready\n')) {
        readyAt = Date.now();
        if (killAfterMs !== undefined) timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== null && code !== 0) reject(new Error(`worker failed (${code}): ${stderr}`));
      else resolve({ code, signal, stdout, ms: Date.now() - readyAt });
    });
  });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

t.before(async () => {
  registry = await startRegistry();
});

t.test(`kill -9 at ${iterations} random points during pull and unpack: verify is clean and the next pull succeeds`, async (t) => {
  const ref = `${registry.host}/crash/img:1`;
  const { diffIDs } = await pushImage(ref);

  // How long a whole pull takes here, so kills land across all of it (download, unpack, rename, record).
  const calib = await runWorker(path.join(work, 'calibrate'), ref);
  const span = Math.max(50, calib.ms);

  const root = path.join(work, 'store');
  let killed = 0;
  let finished = 0;
  for (let i = 0; i < iterations; i++) {
    const r = await runWorker(root, ref, Math.floor(Math.random() * span));
    if (r.signal === 'SIGKILL') {
      killed++;
    } else {
      finished++;
      // A complete store would turn every later run into a cache hit: empty it (this exercises prune too).
      await pruneStore(root, { mode: 'all' });
    }
    // A dead child's leftovers must never look like a complete entry to the next one.
    const report = await verifyStore(root);
    t.same(report.problems, [], `iteration ${i}: nothing corrupt`);
  }
  t.ok(killed > 0, `${killed} runs killed, ${finished} finished`);

  const final = await runWorker(root, ref);
  t.equal(final.code, 0);
  const layers = JSON.parse(final.stdout.split('\n')[1]!) as Array<{ diffID: string; dir: string }>;
  t.same(layers.map((l) => l.diffID), diffIDs, 'every layer unpacked to the diffID of its config');
  t.equal(sha(await fs.readFile(path.join(layers[2]!.dir, 'blob/big.bin'))), sha(big), 'big file intact');
  t.equal(await fs.readFile(path.join(layers[1]!.dir, 'data/d29/f24.txt'), 'utf8'), 'dir 29 file 24\n'.repeat(25));
  t.equal((await fs.readdir(path.join(layers[1]!.dir, 'data'))).length, 30);
  t.equal((await fs.readlink(path.join(layers[0]!.dir, 'bin/sh'))), 'busybox');
  const after = await verifyStore(root);
  t.same(after.problems, [], 'verify is clean after the final pull');
  t.equal(after.layers, 3, 'exactly the three layers, no half-unpacked extra');
  t.same(await fs.readdir(path.join(root, 'layers/tmp')), [], 'dead children\'s temp dirs were swept');
  t.same(await fs.readdir(path.join(root, 'tmp')), []);
  t.same(await fs.readdir(path.join(root, 'leases')), []);
});
