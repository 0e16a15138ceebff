// Memory of a large pull: pushes a 300 MB random blob to a local docker-registry, then pulls it through the
// registry client into /dev/null in a child process and prints that process's peak RSS (the bar:
// under 150 MB). Not a test: run `node dist/bench/registry-pull.js [MB]` after a build.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RegistryClient } from '../src/registry/client.js';
import { MediaType } from '../src/oci/media-types.js';
import type { Descriptor } from '../src/oci/types.js';
import { startRegistry } from '../test/helpers/registry.js';

const MiB = 1024 * 1024;
const rssMiB = (): string => (process.resourceUsage().maxRSS / 1024).toFixed(1);

async function pullOnly(host: string, digest: string, size: number): Promise<void> {
  const beforeRssMiB = +rssMiB();
  const client = new RegistryClient();
  const desc: Descriptor = { mediaType: MediaType.ociLayerGzip, digest, size };
  const started = Date.now();
  // Sampled as a cross-check of maxRSS.
  let sampledPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss())), 20);
  await pipeline(await client.repository(host, 'bench/pull').fetchBlob(desc), createWriteStream('/dev/null'));
  clearInterval(sampler);
  const mu = process.memoryUsage();
  console.error(JSON.stringify({ heapTotalMiB: +(mu.heapTotal / MiB).toFixed(1), externalMiB: +(mu.external / MiB).toFixed(1), arrayBuffersMiB: +(mu.arrayBuffers / MiB).toFixed(1) }));
  await client.close();
  const s = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ pulledMiB: size / MiB, seconds: s, MiBps: +(size / MiB / s).toFixed(1), peakRssMiB: +rssMiB(), rssBeforePullMiB: beforeRssMiB, sampledPeakRssMiB: +(sampledPeak / MiB).toFixed(1) }));
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? 300);
  const reg = await startRegistry();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-bench-'));
  try {
    // The blob is written to disk once (random, incompressible), hashed, and pushed from the file.
    const file = path.join(dir, 'blob');
    const hash = createHash('sha256');
    const gen = Readable.from(
      (function* () {
        for (let i = 0; i < mb; i++) {
          const b = randomBytes(MiB);
          hash.update(b);
          yield b;
        }
      })(),
    );
    await pipeline(gen, createWriteStream(file));
    const desc: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${hash.digest('hex')}`, size: mb * MiB };
    const client = new RegistryClient();
    const t0 = Date.now();
    await client.repository(reg.host, 'bench/pull').pushBlob(desc, (offset) => createReadStream(file, { start: offset }));
    await client.close();
    console.log(JSON.stringify({ pushedMiB: mb, seconds: (Date.now() - t0) / 1000, pushProcessPeakRssMiB: +rssMiB() }));
    rmSync(file);
    // The pull runs in its own process so its peak RSS is the pull's alone. Linux carries a process's peak
    // RSS across fork+exec (the forked copy of this big process counts), so a small shell forks the child.
    const child = spawnSync('/bin/sh', ['-c', '"$0" "$@"; exit $?', process.execPath, fileURLToPath(import.meta.url), '--pull', reg.host, desc.digest, String(desc.size)], {
      stdio: 'inherit',
    });
    if (child.status !== 0) throw new Error(`pull failed with exit ${child.status}`);
  } finally {
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--pull') await pullOnly(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
else await main();
