// `oci-s2i sync` as a user runs it, against real registries on loopback: a repository with a two-platform index,
// a Docker tag, an artifact about the index and cosign tags → an OCI layout (each image by its full name, Docker
// manifests kept, digests kept) → back into a third registry under a prefix (the way into the air gap), checked
// with skopeo; the same straight registry → registry; a second run copies nothing and reads no blob; and a build
// whose builder comes from the third registry with the origin stopped.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { runCli } from '../helpers/cli.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushArtifact, pushOrigin, type Origin } from './fixtures.js';
import { jsonOf, sh } from '../transport/fixtures.js';

const tls = '--tls-verify=false';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sync-test-'));
chmodSync(tmp, 0o755);
let origin: TestRegistry;
let mirror: TestRegistry;
let direct: TestRegistry;
let o: Origin;
let originStopped = false;

t.before(async () => {
  [origin, mirror, direct] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  o = await pushOrigin(origin.host, path.join(tmp, 'origin'));
});
t.teardown(async () => {
  // stop() waits for the process to exit: once only (the build test stops the origin itself)
  await Promise.allSettled([originStopped ? undefined : origin?.stop(), mirror?.stop(), direct?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

interface Summary {
  copied: number;
  skipped: number;
  failed: number;
  bytesSent: number;
  images: Array<{ source: string; destination: string; status: string; digest?: string; companions: number; blobs: { uploaded: number } }>;
}

const raw = (ref: string): { bytes: string; doc: Record<string, unknown> } => {
  const r = sh('skopeo', ['inspect', tls, '--raw', ref]);
  if (r.code !== 0) throw new Error(`skopeo inspect ${ref}: ${r.stderr}`);
  return { bytes: r.stdout, doc: JSON.parse(r.stdout) as Record<string, unknown> };
};

t.test('a repository → an OCI layout → the air-gapped registry, with every platform, signatures and referrers', async (t) => {
  const layout = path.join(tmp, 'usb');
  const out = await runCli(['sync', '--json', `${origin.host}/${o.repository}`, `oci:${layout}`]);
  t.equal(out.code, 0, out.stderr);
  const s = jsonOf<Summary>({ ...out, code: out.code }, 'sync --json');
  t.same([s.copied, s.skipped, s.failed], [2, 0, 0], 'both tags copied; the companion tags are not images of their own');
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }> };
  const names = new Map(index.manifests.map((m) => [m.annotations['org.opencontainers.image.ref.name']!, m]));
  const full = `${origin.host}/${o.repository}`;
  t.equal(names.get(`${full}:1.0`)?.digest, o.index.digest, 'the index under its full name, digest kept');
  t.equal(names.get(`${full}:1.1`)?.digest, o.docker.digest, 'the Docker manifest kept as it is');
  t.equal(names.get(`${full}:1.1`)?.mediaType, MediaType.dockerManifest);
  t.ok(names.has(`${full}:sha256-${o.index.digest.slice(7)}`), 'the referrers tag schema index');
  t.equal(names.get(`${full}:sha256-${o.index.digest.slice(7)}.sig`)?.digest, o.sig.digest, 'cosign signature');
  t.equal(names.get(`${full}:sha256-${o.host.digest.slice(7)}.att`)?.digest, o.att.digest, 'cosign attestation of a platform image');
  for (const d of [...o.imageBlobs, ...o.companionBlobs, o.host.digest, o.other.digest, o.artifact.digest]) {
    t.ok(existsSync(path.join(layout, 'blobs', 'sha256', d.slice(7))), `blob ${d.slice(7, 19)} in the layout`);
  }
  t.same(readdirSync(path.join(layout, 'blobs', 'sha256')).filter((n) => n.startsWith('.')), [], 'no temp files');
  // skopeo reads the layout by those names, independently of us (skopeo 1.9 here reads the OCI entries; Docker
  // manifests in a layout are read from containers/image 5.35 on)
  t.equal(sha256Digest(Buffer.from(raw(`oci:${layout}:${full}:1.0`).bytes)), o.index.digest);

  // The way back: the layout → the mirror under a prefix, repository paths kept.
  const back = await runCli(['sync', '--json', '--src', `oci:${layout}`, '--dest', `docker://${mirror.host}/mirror`]);
  t.equal(back.code, 0, back.stderr);
  const b = jsonOf<Summary>({ ...back, code: back.code }, 'sync back');
  t.same([b.copied, b.skipped, b.failed], [2, 0, 0]);
  const at = `docker://${mirror.host}/mirror/${o.repository}`;
  const top = raw(`${at}:1.0`);
  t.equal(sha256Digest(Buffer.from(top.bytes)), o.index.digest, 'the index arrives with its digest');
  t.equal((top.doc.manifests as unknown[]).length, 2, 'both platforms');
  t.equal(sha256Digest(Buffer.from(raw(`${at}:1.1`).bytes)), o.docker.digest);
  t.equal(sha256Digest(Buffer.from(raw(`${at}:sha256-${o.index.digest.slice(7)}.sig`).bytes)), o.sig.digest, 'the signature tag');
  const refs = raw(`${at}:sha256-${o.index.digest.slice(7)}`).doc as { manifests: Array<{ digest: string; artifactType?: string }> };
  t.same(refs.manifests.map((m) => [m.digest, m.artifactType]), [[o.artifact.digest, 'application/vnd.example.sbom.v1']], 'the referrers index');
  t.equal(sha256Digest(Buffer.from(raw(`${at}@${o.artifact.digest}`).bytes)), o.artifact.digest, 'the artifact itself');
  // skopeo copies an image back out of the mirror: every blob is there
  const back2 = sh('skopeo', ['--insecure-policy', 'copy', '--all', '--src-tls-verify=false', `${at}:1.0`, `oci:${path.join(tmp, 'skopeo-out')}:x`]);
  t.equal(back2.code, 0, back2.stderr);
});

t.test('a source with the referrers API: its answer merged into the referrers index the mirror has', async (t) => {
  // docker-registry 2.8 has no referrers API: the proxy answers it for the index, listing an artifact that exists
  // only by digest (no tag schema index at the origin, as on a registry that has the API).
  const client = new RegistryClient();
  t.teardown(() => client.close());
  const second = await pushArtifact(client.repository(origin.host, o.repository), o.index, '{"sbom":"pushed to an API registry"}');
  const answer = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [o.artifact, second] });
  const proxy = await startFaultProxy(origin.host, {
    faults: [{ kind: 'status', method: 'GET', path: `/referrers/${o.index.digest}`, status: 200, times: 20, body: answer, headers: { 'content-type': MediaType.ociIndex } }],
  });
  t.teardown(() => proxy.stop());
  const r = await runCli(['sync', '--json', `${proxy.host}/${o.repository}:1.0`, `docker://${mirror.host}/mirror`]);
  t.equal(r.code, 0, r.stderr);
  const s = jsonOf<Summary>(r, 'sync --json');
  t.same([s.copied, s.skipped, s.images[0]!.companions], [0, 1, 1], 'the image is up to date; the new artifact goes along');
  t.ok(proxy.stats.count('GET', `/referrers/${o.index.digest}`) >= 1, 'the referrers API was asked');
  const at = `docker://${mirror.host}/mirror/${o.repository}`;
  const refs = raw(`${at}:sha256-${o.index.digest.slice(7)}`).doc as { manifests: Array<{ digest: string }> };
  t.same(refs.manifests.map((m) => m.digest), [o.artifact.digest, second.digest], 'what the mirror had, then the new one');
  t.equal(sha256Digest(Buffer.from(raw(`${at}@${second.digest}`).bytes)), second.digest);
});

t.test('registry → registry with --scoped and --platform; a second run reads no blob', async (t) => {
  const proxy = await startFaultProxy(origin.host);
  t.teardown(() => proxy.stop());
  const args = ['sync', '--json', '--scoped', `${proxy.host}/${o.repository}:1.0`, `docker://${direct.host}/scoped`];
  const first = await runCli(args);
  t.equal(first.code, 0, first.stderr);
  const s = jsonOf<Summary>({ ...first, code: first.code }, 'sync');
  t.equal(s.copied, 1);
  t.ok(s.bytesSent > 0);
  const dest = `docker://${direct.host}/scoped/${proxy.host.replace(':', '_')}/${o.repository}:1.0`;
  t.equal(s.images[0]!.destination, dest, '--scoped puts the source host (":" → "_") in the path');
  t.equal(sha256Digest(Buffer.from(raw(dest).bytes)), o.index.digest);
  proxy.stats.reset();
  const again = await runCli(args);
  t.equal(again.code, 0, again.stderr);
  const s2 = jsonOf<Summary>({ ...again, code: again.code }, 'sync again');
  t.same([s2.copied, s2.skipped, s2.bytesSent], [0, 1, 0], 'up to date');
  t.equal(proxy.stats.count('GET', /\/blobs\//), 0, 'no blob read from the source');
  t.equal(proxy.stats.count('HEAD', /\/blobs\//), 0, 'no blob asked for');

  const one = await runCli(['sync', '--json', '--platform', 'linux/arm64', `${origin.host}/${o.repository}:1.0`, `docker://${direct.host}/one`]);
  t.equal(one.code, 0, one.stderr);
  const arm = raw(`docker://${direct.host}/one/${o.repository}:1.0`);
  t.equal((arm.doc as { mediaType: string }).mediaType, MediaType.ociManifest, 'one platform: its manifest');
});

t.test('a build from the mirror with the origin stopped', async (t) => {
  originStopped = true;
  await origin.stop();
  const src = mkdtempSync(path.join(tmp, 'app-'));
  chmodSync(src, 0o755);
  writeFileSync(path.join(src, 'index.html'), 'hello\n');
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const r = await runCli(['build', src, `${mirror.host}/mirror/${o.repository}:1.0`, `${mirror.host}/apps/hello:1`, '--root', root]);
  t.equal(r.code, 0, r.stderr);
  const cfg = jsonOf<{ config: { Labels: Record<string, string> } }>(sh('skopeo', ['inspect', tls, '--config', `docker://${mirror.host}/apps/hello:1`]), 'skopeo inspect');
  t.equal(cfg.config.Labels['io.openshift.s2i.build.image'], `${mirror.host}/mirror/${o.repository}:1.0`);
});
