// Cuts and interrupts, behind a fault proxy on a real socket: a run whose uploads are cut fails those images (one
// line each, exit 1) and the next run sends exactly the blobs the destination still lacks; Ctrl-C during a sync into
// an OCI layout leaves the layout with whole images only (nothing added for the image that was cut short, no temp
// file), or as it was when nothing was finished.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OciLayout } from '../../src/transport/oci-layout.js';
import { walkGraph } from '../../src/transport/copy-as-is.js';
import type { Descriptor } from '../../src/oci/types.js';
import { pushOrigin, type Origin } from './fixtures.js';
import { jsonOf } from '../transport/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sync-resume-'));
let origin: TestRegistry;
let mirror: TestRegistry;
let o: Origin;

t.before(async () => {
  [origin, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  o = await pushOrigin(origin.host, path.join(tmp, 'origin'));
});
t.teardown(async () => {
  await Promise.allSettled([origin?.stop(), mirror?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

/** The blobs (with sizes) of the origin repository's tags 1.0 and 1.1 and their companions. */
async function originBlobs(): Promise<Descriptor[]> {
  const client = new RegistryClient();
  try {
    const repo = client.repository(origin.host, o.repository);
    const out = new Map<string, Descriptor>();
    for (const tag of ['1.0', '1.1', `sha256-${o.index.digest.slice(7)}`, `sha256-${o.index.digest.slice(7)}.sig`, `sha256-${o.host.digest.slice(7)}.att`]) {
      const top = await repo.resolve(tag);
      const g = await walkGraph({ bytes: top.bytes, mediaType: top.descriptor.mediaType }, (d) => repo.fetchManifest(d));
      for (const d of g.blobs) out.set(d.digest, d);
    }
    return [...out.values()];
  } finally {
    await client.close();
  }
}

async function missingAt(registry: string, repository: string, blobs: Descriptor[]): Promise<Descriptor[]> {
  const client = new RegistryClient();
  try {
    const repo = client.repository(registry, repository);
    const out: Descriptor[] = [];
    for (const b of blobs) if (!(await repo.blobExists(b))) out.push(b);
    return out;
  } finally {
    await client.close();
  }
}

t.test('uploads cut: the failed images are one line each; the next run sends only the missing blobs', async (t) => {
  const proxy = await startFaultProxy(mirror.host);
  t.teardown(() => proxy.stop());
  const big = 500_000; // the busybox layer is ~1 MB; every other blob is under 1 KB
  const cuts = () => proxy.setFault([1, 2, 3, 4].map(() => ({ kind: 'cut-request' as const, method: 'PUT', path: '/blobs/uploads/', afterBytes: big })));
  const args = ['sync', '--retry', '1', `${origin.host}/${o.repository}`, `docker://${proxy.host}/air`];

  cuts();
  const stop = await runCli([...args.slice(0, 1), '--keep-going=false', ...args.slice(1)]);
  t.equal(stop.code, 1, `--keep-going=false: the first failure ends the run with its own exit code: ${stop.stderr}`);
  t.match(stop.stderr, /^oci-s2i: connection to .* lost during PUT .*\n$/m);
  t.notMatch(stop.stderr, /Synced to/, 'no summary: the run stopped');

  cuts();
  const first = await runCli(args);
  t.equal(first.code, 1, 'a failed image fails the run');
  const failures = first.stderr.split('\n').filter((l) => l.startsWith('oci-s2i: '));
  t.ok(failures.length >= 1, first.stderr);
  for (const l of failures) t.match(l, /^oci-s2i: sync: docker:\/\/[^ ]+\/s2i\/builder:1\.[01]: /, 'one line naming the image');
  t.match(first.stderr, /Synced to docker:\/\/[^ ]+\/air: \d copied, 0 up to date, [12] failed/);

  const blobs = await originBlobs();
  const missing = await missingAt(mirror.host, `air/${o.repository}`, blobs);
  t.ok(missing.length >= 1 && missing.length < blobs.length, `the cut left ${missing.length} of ${blobs.length} blobs to send`);
  t.ok(missing.some((b) => b.size > big), 'the cut layer is among them');

  proxy.setFault(null);
  proxy.stats.reset();
  const second = await runCli(['sync', '--json', ...args.slice(1)]);
  t.equal(second.code, 0, second.stderr);
  const s = jsonOf<{ copied: number; skipped: number; failed: number; bytesSent: number }>(second, 'sync --json');
  t.equal(s.failed, 0);
  t.equal(s.copied + s.skipped, 2);
  t.equal(proxy.stats.count('POST', /\/blobs\/uploads\/$/), missing.length, 'one upload per missing blob');
  const sent = proxy.stats.requestBytes('PUT', '/blobs/uploads/') + proxy.stats.requestBytes('PATCH', '/blobs/uploads/');
  t.equal(sent, missing.reduce((n, b) => n + b.size, 0), 'exactly the missing bytes crossed the cut link');
  t.equal(s.bytesSent, sent, 'and the summary says so');
  t.same(await missingAt(mirror.host, `air/${o.repository}`, blobs), [], 'everything is there now');

  proxy.stats.reset();
  const third = await runCli(args);
  t.equal(third.code, 0, third.stderr);
  t.match(third.stderr, /0 copied, 2 up to date, 0 failed; 0 B sent/);
  t.equal(proxy.stats.count('POST', /\/blobs\/uploads\//) + proxy.stats.count('PUT') + proxy.stats.count('HEAD', /\/blobs\//), 0, 'nothing written, no blob asked for');
});

/** Runs sync as a child, sends SIGINT once the proxy holds the stalled download, and returns how it ended. */
async function interrupted(args: string[], stalled: () => boolean): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!stalled() && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGINT');
  return { code: await ended, stderr };
}

function reachableBlobs(layoutDir: string): Promise<Set<string>> {
  return (async () => {
    const layout = await OciLayout.openExisting(layoutDir);
    const out = new Set<string>();
    const read = (d: Descriptor) => layout.readSmall(d, 4 << 20);
    for (const e of (await layout.readIndex()).manifests) {
      out.add(e.digest.slice(7));
      const g = await walkGraph({ bytes: await read(e), mediaType: e.mediaType }, read);
      for (const d of [...g.manifests, ...g.blobs]) out.add(d.digest.slice(7));
    }
    return out;
  })();
}

t.test('Ctrl-C into a layout: whole images only, no temp file; a layout that was there stays as it was', async (t) => {
  const proxy = await startFaultProxy(origin.host);
  t.teardown(() => proxy.stop());
  const layout = path.join(tmp, 'usb');
  // The Docker tag first, whole.
  const first = await runCli(['sync', `${origin.host}/${o.repository}:1.1`, `oci:${layout}`]);
  t.equal(first.code, 0, first.stderr);
  const indexBefore = readFileSync(path.join(layout, 'index.json'));
  const blobsBefore = readdirSync(path.join(layout, 'blobs', 'sha256')).sort();

  // The index next, its other platform's own layer held by the proxy: Ctrl-C while it hangs.
  proxy.setFault([{ kind: 'stall', method: 'GET', path: o.otherLayer.digest, ms: 30_000 }]);
  const stalledNow = () => proxy.stats.requests.some((r) => r.fault === 'stall');
  const r = await interrupted(['sync', '--jobs', '1', `${proxy.host}/${o.repository}:1.0`, `oci:${layout}`], stalledNow);
  t.ok(stalledNow(), 'the download was held when Ctrl-C came');
  t.equal(r.code, 130, r.stderr);
  t.match(r.stderr, /^oci-s2i: sync interrupted \(0 copied, 0 up to date, 0 failed before the interrupt\); run it again/m);
  t.same(readFileSync(path.join(layout, 'index.json')), indexBefore, 'index.json as it was');
  t.same(readdirSync(path.join(layout, 'blobs', 'sha256')).sort(), blobsBefore, 'no blob added, no temp file left');

  // Two images, the second one cut short: the first stays, whole; nothing of the second is left.
  proxy.stats.reset();
  proxy.setFault([{ kind: 'stall', method: 'GET', path: o.otherLayer.digest, ms: 30_000 }]);
  const fresh = path.join(tmp, 'usb2');
  const r2 = await interrupted(['sync', '--jobs', '1', `${proxy.host}/${o.repository}:1.1`, `${proxy.host}/${o.repository}:1.0`, `oci:${fresh}`], stalledNow);
  t.equal(r2.code, 130, r2.stderr);
  t.match(r2.stderr, /sync interrupted \(1 copied/);
  const names = (JSON.parse(readFileSync(path.join(fresh, 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> }).manifests.map(
    (m) => m.annotations['org.opencontainers.image.ref.name'],
  );
  t.same(names, [`${proxy.host}/${o.repository}:1.1`], 'the finished image only');
  const files = readdirSync(path.join(fresh, 'blobs', 'sha256'));
  t.same(files.filter((f) => f.startsWith('.')), [], 'no temp file');
  t.same(new Set(files), await reachableBlobs(fresh), 'every blob belongs to an image index.json names');
  t.notOk(existsSync(path.join(fresh, 'blobs', 'sha256', o.other.digest.slice(7))), 'the cut image left nothing');
});
