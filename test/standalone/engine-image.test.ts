// The engine's own image (images/engine/Containerfile), built by the standalone engine with build-image
// (scripts/engine-image.sh) and pushed to a real registry: skopeo reads what it says, podman runs it as the
// restricted pod does, and the CI pattern works: one container copies /opt/oci-s2i into a shared volume, the
// next, a busybox-only image, runs the engine from there.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { busyboxImage, podmanRun, restricted, rmiAll, testImage } from './podman.js';

const script = path.join(projectRoot, 'scripts', 'engine-image.sh');
// Built by every `npm run build` (scripts/build.sh), which `npm test` runs first: missing is a failure, not a skip.
const built = existsSync(path.join(projectRoot, 'dist', 'standalone', 'oci-s2i'));
if (!built) t.fail('dist/standalone is missing: scripts/build.sh makes it (npm run build)');
const skip = process.getuid?.() !== 0 ? 'podman runs as root here (CI and the development machines): run the suite as root' : !built ? 'dist/standalone is missing' : false;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-standalone-test-'));
let registry: TestRegistry | undefined;
const client = new RegistryClient();
let busybox = '';
let engine = '';

t.before(async () => {
  if (skip) return;
  registry = await startRegistry();
  busybox = busyboxImage(registry.host);
  await pushBusyboxBuilder(client.repository(registry.host, busybox.slice(registry.host.length + 1).split(':')[0]!), 'latest', { user: '0', cmd: ['sh'] });
  engine = testImage(registry.host, 'engine');
});
t.teardown(async () => {
  rmiAll();
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function engineImage(dest: string, ...flags: string[]): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  return spawnSync('bash', [script, dest, '--root', path.join(tmp, 'store'), ...flags], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 180_000 });
}

t.test('built by the engine, pushed, inspected, run as a random UID, copied into a volume and run from there', { skip }, async (t) => {
  const built = engineImage(engine, '--digestfile', path.join(tmp, 'digest'));
  t.equal(built.status, 0, built.stderr);
  t.match(built.stderr, /STEP 1\/\d+: FROM scratch/);
  t.notOk(readdirSync(path.join(projectRoot, 'dist')).some((n) => n.startsWith('.engine-image.')), 'the build context is removed');

  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${engine}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[]; Env: string[] };
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${engine}`], { encoding: 'utf8' })) as { config: { Entrypoint: string[]; Cmd: string[]; Env: string[] } };
  t.equal(inspect.Layers.length, 2, 'busybox, then the engine');
  t.same(config.config.Entrypoint, ['/opt/oci-s2i/oci-s2i']);
  t.same(config.config.Cmd, ['--help']);
  t.ok(config.config.Env.includes('PATH=/opt/oci-s2i:/bin'));

  const version = podmanRun([...restricted, engine, 'version']);
  t.equal(version.status, 0, version.stderr);
  t.match(version.stdout, /^oci-s2i \d+\.\d+\.\d+ \(node v\d+/);
  const help = podmanRun([...restricted, engine]);
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /Usage: oci-s2i COMMAND/, 'the default command is the help');

  // The shared volume (a Tekton workspace or an emptyDir): written by the engine's image, as the random UID
  // (cp -R: a non-root cp -a cannot keep the owners and says so), read by a busybox-only step image.
  const tools = path.join(tmp, 'tools');
  mkdirSync(tools);
  chmodSync(tools, 0o777);
  const copy = podmanRun([...restricted, '-v', `${tools}:/tools`, '--entrypoint', 'cp', engine, '-R', '/opt/oci-s2i', '/tools/']);
  t.equal(copy.status, 0, copy.stderr);
  t.equal(copy.stderr, '');
  const fromVolume = podmanRun([...restricted, '-v', `${tools}:/tools:ro`, busybox, 'sh', '-c', 'export PATH=/tools/oci-s2i:$PATH && cd /tmp && mkdir d && echo x > d/f && oci-s2i version && oci-s2i layer --backend libdeflate d -o l.tgz -q']);
  t.equal(fromVolume.status, 0, fromVolume.stderr);
  t.match(fromVolume.stdout, /^oci-s2i \d+\.\d+\.\d+ \(node v\d+[^\n]*\nsha256:[0-9a-f]{64}\n$/);
});

// An oci: destination is build-image's (test/containerfile/build-image.test.ts): a second 100 MB build here
// would only double this file's time.
t.test('the script says what it needs', { skip }, async (t) => {
  const usage = spawnSync('bash', [script], { encoding: 'utf8' });
  t.equal(usage.status, 64);
  t.match(usage.stderr, /^usage: scripts\/engine-image\.sh DEST/);
  const dynamic = spawnSync('bash', [script, `oci:${path.join(tmp, 'layout')}:v1`], { encoding: 'utf8', env: { ...process.env, BUSYBOX: '/bin/ls' } });
  t.equal(dynamic.status, 1);
  t.match(dynamic.stderr, /is not statically linked/);
  t.notOk(existsSync(path.join(tmp, 'layout')), 'nothing written');
  const badFlag = engineImage(`oci:${path.join(tmp, 'layout')}:v1`, '--format', 'bogus');
  t.equal(badFlag.status, 64, "build-image's exit code is the script's");
  t.match(badFlag.stderr, /--format must be one of docker, oci/);
  t.notOk(readdirSync(path.join(projectRoot, 'dist')).some((n) => n.startsWith('.engine-image.')), 'the build context is removed');
});
