// registries.conf where images are opened (transport/registry.ts through open.ts): two real registries on loopback,
// an origin and a mirror, each behind a counting proxy (helpers/fault-proxy.ts), the configuration in a temp file
// named by CONTAINERS_REGISTRIES_CONF. Mirror hit (the origin gets no request), miss and unreachable mirror fall
// through, blocked origin, digest-only mirror, search registries in order, aliases, enforcing, push to the
// rewritten location, an insecure TLS registry, the mirror's own credentials, mounts only within one endpoint.
import t from 'tap';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { writeTarLayer } from '../../src/demo/busybox-image.js';
import { buildManifest } from '../../src/image/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { RegistryClient, type Repository } from '../../src/registry/client.js';
import { copyImage } from '../../src/transport/copy.js';
import { openDestination, openSource } from '../../src/transport/open.js';
import { resolveImage } from '../../src/transport/resolve-image.js';
import type { ImageSource } from '../../src/transport/types.js';
import type { ProgressEvent } from '../../src/events.js';
import { freePort, makeTestCertificates, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-regconf-transport-'));
const MIRROR_AUTH = { user: 'mirroruser', password: 'mirrorpass' };
let origin: TestRegistry;
let mirror: TestRegistry;
let tlsReg: TestRegistry;
let O: FaultProxy;
let M: FaultProxy;
let deadHost: string;
const admin = new RegistryClient({ env: {} });
const mirrorAdmin = new RegistryClient({ env: {}, credentials: { username: MIRROR_AUTH.user, password: MIRROR_AUTH.password } });
const clients: RegistryClient[] = [admin, mirrorAdmin];

t.before(async () => {
  origin = await startRegistry();
  mirror = await startRegistry({ htpasswd: MIRROR_AUTH });
  const certs = makeTestCertificates(mkdtempSync(path.join(tmp, 'certs-')));
  tlsReg = await startRegistry({ tls: { certificate: certs.serverCert, key: certs.serverKey } });
  O = await startFaultProxy(origin.host);
  M = await startFaultProxy(mirror.host);
  deadHost = `127.0.0.1:${await freePort()}`;
});
t.teardown(async () => {
  for (const c of clients) await c.close();
  await O?.stop();
  await M?.stop();
  await origin?.stop();
  await mirror?.stop();
  await tlsReg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
/** A one-layer image whose file says `text`, pushed as `repo:tag`; its manifest digest. */
async function pushTiny(repo: Repository, tag: string, text: string): Promise<string> {
  const layer = await writeTarLayer([{ name: 'hello.txt', content: `${text}\n` }], path.join(tmp, `layer-${n++}.tar.gz`));
  const layerDesc = { ...layer.descriptor, mediaType: MediaType.ociLayerGzip };
  await repo.pushBlob(layerDesc, (start) => createReadStream(layer.file, { start }));
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.diffID] }, history: [{ created_by: text }] }));
  const config = { mediaType: MediaType.ociConfig, digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`, size: configBytes.length };
  await repo.pushBlob(config, (start) => Readable.from([configBytes.subarray(start)]));
  const m = buildManifest('oci', config, [layerDesc]);
  return repo.pushManifest(tag, m.bytes, m.mediaType);
}

/** A client reading `conf` (and only it), with the mirror's login in its auth file. */
function clientWith(conf: string): RegistryClient {
  const file = path.join(tmp, `registries-${n++}.conf`);
  writeFileSync(file, conf);
  const auth = path.join(tmp, `auth-${n++}.json`);
  writeFileSync(auth, JSON.stringify({ auths: { [M.host]: { auth: Buffer.from(`${MIRROR_AUTH.user}:${MIRROR_AUTH.password}`).toString('base64') } } }));
  const c = new RegistryClient({ env: { CONTAINERS_REGISTRIES_CONF: file, REGISTRY_AUTH_FILE: auth, HOME: tmp }, retry: { attempts: 1 } });
  clients.push(c);
  return c;
}

async function read(client: RegistryClient, name: string, events: ProgressEvent[] = []): Promise<{ digest: string; history: string; src: ImageSource }> {
  const src = await openSource(name, { client, onProgress: (e) => events.push(e) });
  const image = await resolveImage(src);
  return { digest: image.descriptor.digest, history: String(image.config.config.history?.[0]?.created_by), src };
}

/** Manifest requests a registry answered 404 (not there): it was asked. */
const notFound = (p: FaultProxy): number => p.stats.requests.filter((q) => /\/manifests\//.test(q.path) && q.status === 404).length;

t.test('mirror hit: the mirror serves the image and the origin gets no request; shown in pulledFrom and a progress event', async (t) => {
  const digest = await pushTiny(mirrorAdmin.repository(M.host, 'mirror/s2i/app'), '1', 'from the mirror');
  O.stats.reset();
  const c = clientWith(`[[registry]]\nprefix = "${O.host}/s2i"\nlocation = "${O.host}/s2i"\n[[registry.mirror]]\nlocation = "${M.host}/mirror/s2i"\n`);
  const events: ProgressEvent[] = [];
  const r = await read(c, `${O.host}/s2i/app:1`, events);
  t.equal(r.digest, digest);
  t.equal(r.history, 'from the mirror');
  t.equal(O.stats.requests.length, 0, 'the origin was not contacted');
  t.same(r.src.pulledFrom, { reference: `${O.host}/s2i/app:1`, endpoint: `${M.host}/mirror/s2i/app:1`, mirror: true });
  t.same(r.src.registry, { host: M.host, repository: 'mirror/s2i/app' }, 'blobs (and mounts) come from the mirror');
  t.same(events.filter((e) => e.type === 'pull-source'), [{ type: 'pull-source', image: `${O.host}/s2i/app:1`, endpoint: `${M.host}/mirror/s2i/app:1`, mirror: true }]);
  await r.src.close();
});

t.test('mirror miss and unreachable mirror: fall through to the origin', async (t) => {
  const digest = await pushTiny(admin.repository(O.host, 's2i/only-origin'), '1', 'from the origin');
  M.stats.reset();
  const c = clientWith(
    `[[registry]]\nlocation = "${O.host}/s2i"\n[[registry.mirror]]\nlocation = "${deadHost}/s2i"\n[[registry.mirror]]\nlocation = "${M.host}/mirror/s2i"\n`,
  );
  const r = await read(c, `${O.host}/s2i/only-origin:1`);
  t.equal(r.digest, digest);
  t.equal(notFound(M), 1, 'the mirror was asked (and answered 404)');
  t.same(r.src.pulledFrom, { reference: `${O.host}/s2i/only-origin:1`, endpoint: `${O.host}/s2i/only-origin:1`, mirror: false });
  await r.src.close();
  // Nowhere: the origin's error (its code too), the mirrors' named after it.
  const alone = await openSource(`${O.host}/s2i/nowhere:1`, { client: clientWith('') });
  const code = await resolveImage(alone).catch((e: { code: string }) => e.code);
  const gone = await openSource(`${O.host}/s2i/nowhere:1`, { client: c });
  await t.rejects(resolveImage(gone), { code, message: new RegExp(`also tried ${deadHost}/s2i/nowhere:1: .*; ${M.host}/mirror/s2i/nowhere:1: `) });
});

t.test('blocked origin: refused with the file and line, never contacted; its mirror still serves', async (t) => {
  await pushTiny(admin.repository(O.host, 'blocked/app'), '1', 'origin');
  O.stats.reset();
  const c = clientWith(`\n[[registry]]\nlocation = "${O.host}/blocked"\nblocked = true\n`);
  const src = await openSource(`${O.host}/blocked/app:1`, { client: c });
  await t.rejects(resolveImage(src), { code: 'ERR_REGISTRY_BLOCKED', message: new RegExp(`${O.host}/blocked/app:1 is blocked by registries\\.conf \\(prefix "${O.host}/blocked", blocked = true at .*registries-\\d+\\.conf:2\\)`) });
  t.equal(O.stats.requests.length, 0);
  const digest = await pushTiny(mirrorAdmin.repository(M.host, 'blocked-mirror/app'), '1', 'mirror of a blocked origin');
  const c2 = clientWith(`[[registry]]\nlocation = "${O.host}/blocked"\nblocked = true\n[[registry.mirror]]\nlocation = "${M.host}/blocked-mirror"\n`);
  t.equal((await read(c2, `${O.host}/blocked/app:1`)).digest, digest, 'mirrors of a blocked registry are used (NeverContactSource)');
  t.equal(O.stats.requests.length, 0);
  const dst = openDestination(`${O.host}/blocked/app:2`, { client: c2 });
  await t.rejects(dst, { code: 'ERR_REGISTRY_BLOCKED' }, 'a push to it is refused');
});

t.test('a digest-only mirror is not used for tags', async (t) => {
  const atOrigin = await pushTiny(admin.repository(O.host, 'dig/app'), '1', 'origin copy');
  const atMirror = await pushTiny(mirrorAdmin.repository(M.host, 'dig/app'), '1', 'mirror copy');
  const c = clientWith(`[[registry]]\nlocation = "${O.host}/dig"\n[[registry.mirror]]\nlocation = "${M.host}/dig"\npull-from-mirror = "digest-only"\n`);
  M.stats.reset();
  t.equal((await read(c, `${O.host}/dig/app:1`)).digest, atOrigin, 'by tag: the origin');
  t.equal(M.stats.requests.length, 0, 'the mirror was not asked');
  const byDigest = await read(c, `${O.host}/dig/app@${atMirror}`);
  t.equal(byDigest.digest, atMirror, 'by digest: the mirror');
  t.equal(byDigest.src.pulledFrom?.mirror, true);
});

t.test('short names: search registries in order, aliases, enforcing', async (t) => {
  const onlyOrigin = await pushTiny(admin.repository(O.host, 'short/app'), '1', 'origin');
  const c = clientWith(`unqualified-search-registries = ["${M.host}", "${O.host}"]\n`);
  M.stats.reset();
  const r = await read(c, 'short/app:1');
  t.equal(r.digest, onlyOrigin, 'the second search registry has it');
  t.equal(notFound(M), 1, 'the first was asked first');
  t.same(r.src.pulledFrom, { reference: `${O.host}/short/app:1`, endpoint: `${O.host}/short/app:1`, mirror: false });
  t.equal(r.src.name, `${O.host}/short/app:1`, 'named by what answered');
  const atMirror = await pushTiny(mirrorAdmin.repository(M.host, 'short/app'), '1', 'mirror');
  t.equal((await read(c, 'short/app:1')).digest, atMirror, 'both have it: the first in order wins');

  const aliased = clientWith(`unqualified-search-registries = ["${M.host}"]\n[aliases]\n"myapp" = "${O.host}/short/app"\n`);
  t.equal((await read(aliased, 'myapp:1')).digest, onlyOrigin, 'an alias beats the search registries');

  const enforcing = clientWith(`unqualified-search-registries = ["${M.host}", "${O.host}"]\nshort-name-mode = "enforcing"\n`);
  O.stats.reset();
  M.stats.reset();
  const src = await openSource('short/app:1', { client: enforcing });
  await t.rejects(resolveImage(src), { code: 'ERR_SHORT_NAME', message: new RegExp(`could be ${M.host}/short/app:1, ${O.host}/short/app:1`) });
  t.equal(O.stats.requests.length + M.stats.requests.length, 0);
});

t.test('push: to the rewritten location, never to a mirror', async (t) => {
  const digest = await pushTiny(admin.repository(O.host, 'src/app'), '1', 'to be pushed');
  const c = clientWith(`[[registry]]\nprefix = "registry.example.com/team"\nlocation = "${O.host}/pushed"\n[[registry.mirror]]\nlocation = "${M.host}/never"\n`);
  M.stats.reset();
  const src = await openSource(`${O.host}/src/app:1`, { client: c });
  const dst = await openDestination('registry.example.com/team/app:v1', { client: c });
  t.same(dst.name, 'registry.example.com/team/app:v1');
  const r = await copyImage(src, dst, {});
  t.equal(r.digest, digest);
  t.equal((await admin.repository(O.host, 'pushed/app').resolve('v1')).descriptor.digest, digest, 'it is at the rewritten location');
  t.equal(M.stats.requests.length, 0, 'the mirror saw nothing');
  await src.close();
  await dst.close();
});

/** A blob mount: POST …/blobs/uploads/?mount=… answered 201 (an upload session is 202). */
const mounted = (q: { method: string; path: string; status: number }): boolean => q.method === 'POST' && q.path.endsWith('/blobs/uploads/') && q.status === 201;

t.test('mounts across repositories only within the endpoint that served the source', async (t) => {
  await pushTiny(mirrorAdmin.repository(M.host, 'mnt/app'), '1', 'mount me');
  const viaMirror = clientWith(`[[registry]]\nlocation = "${O.host}/mnt"\n[[registry.mirror]]\nlocation = "${M.host}/mnt"\n`);
  O.stats.reset();
  const src = await openSource(`${O.host}/mnt/app:1`, { client: viaMirror });
  const dst = await openDestination(`${O.host}/mnt-copy/app:1`, { client: viaMirror });
  await copyImage(src, dst, {});
  t.equal(O.stats.requests.filter(mounted).length, 0, 'no mount: the source was the mirror, the destination is the origin');
  t.ok(O.stats.requests.some((q) => q.method === 'POST' && q.status === 202), 'uploaded instead');
  await src.close();
  await dst.close();
  const plain = clientWith('');
  O.stats.reset();
  const src2 = await openSource(`${O.host}/mnt-copy/app:1`, { client: plain });
  const dst2 = await openDestination(`${O.host}/mnt-copy2/app:1`, { client: plain });
  await copyImage(src2, dst2, {});
  t.ok(O.stats.requests.some(mounted), 'same registry: mounted');
  await src2.close();
  await dst2.close();
});

t.test('insecure = true: a registry whose certificate is not trusted is read without verifying it', async (t) => {
  const secure = new RegistryClient({ env: {}, tlsVerify: false });
  clients.push(secure);
  const digest = await pushTiny(secure.repository(tlsReg.host, 'tls/app'), '1', 'over TLS');
  const strict = clientWith('');
  await t.rejects(read(strict, `${tlsReg.host}/tls/app:1`), { code: 'ERR_REGISTRY_TLS' }, 'not trusted without it');
  const c = clientWith(`[[registry]]\nlocation = "${tlsReg.host}"\ninsecure = true\n`);
  t.equal((await read(c, `${tlsReg.host}/tls/app:1`)).digest, digest);
  const viaMirror = clientWith(`[[registry]]\nlocation = "registry.example.com"\n[[registry.mirror]]\nlocation = "${tlsReg.host}"\ninsecure = true\n`);
  t.equal((await read(viaMirror, 'registry.example.com/tls/app:1')).digest, digest, 'a mirror\'s own insecure');
});

t.test('a broken registries.conf fails the first registry access: ERR_REGISTRIES_CONF', async (t) => {
  const c = clientWith('[[registry]]\nlocation = "a.io"\nmirrors = 1\n');
  const src = await openSource(`${O.host}/s2i/app:1`, { client: c });
  await t.rejects(resolveImage(src), { code: 'ERR_REGISTRIES_CONF', message: /registries-\d+\.conf:3: unknown key "mirrors"/ });
});
