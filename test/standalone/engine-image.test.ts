// The engine's own image (images/engine/Containerfile), built by the standalone engine with build-image
// (scripts/engine-image.sh) and pushed to a real registry: skopeo reads what it says, podman runs it as the
// restricted pod does, and the CI pattern works: one container copies /opt/oci-s2i into a shared volume, the
// next, a busybox-only image, runs the engine from there.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { busyboxImage, podman, podmanRun, restricted, rmiAll, testImage } from './podman.js';
import { runCli } from '../helpers/cli.js';
import { PodHarness, testImagePrefix, uniqueImageLabels } from '../helpers/pod.js';
import { runShipwrightStrategy, runTektonTask } from '../helpers/task-steps.js';

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

// The integrations as a cluster would run them, step by step (test/helpers/task-steps.ts reads the YAML files
// themselves), in the restricted pod: the engine image's step copies the engine into the shared volume, the
// builder's step builds in-image and pushes; the results are what the registry holds, and the image runs.
t.test('the Tekton Task and the Shipwright strategy build and push in the restricted pod', { skip }, async (t) => {
  const host = registry!.host;
  // The pod harness pulls only images named for it (it removes what it pulled).
  const podEngine = `${host}/${testImagePrefix}/engine-${process.pid}:v1`;
  const copied = await runCli(['copy', `docker://${engine}`, `docker://${podEngine}`, '--tls-verify=false', '-q']);
  t.equal(copied.code, 0, copied.stderr);
  const builderRepo = `${testImagePrefix}/builder-${process.pid}`;
  await pushBusyboxBuilder(client.repository(host, builderRepo), 'v1', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin'), labels: uniqueImageLabels() });
  const builder = `${host}/${builderRepo}:v1`;
  const source = path.join(tmp, 'source');
  cpSync(path.join(projectRoot, 'examples', 'hello'), source, { recursive: true });
  chmodSync(tmp, 0o755);
  execFileSync('chmod', ['-R', 'a+rX', source]);
  const harness = new PodHarness();
  t.teardown(() => harness.close());
  t.teardown(() => void podman(['rmi', '-f', `${host}/${testImagePrefix}/app-${process.pid}:task`, `${host}/${testImagePrefix}/app-${process.pid}:shipwright`]));
  const digestOf = (ref: string) => (JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Digest: string }).Digest;

  const image = `${host}/${testImagePrefix}/app-${process.pid}:task`;
  // The cache workspace, as a PersistentVolumeClaim the pod's user can write.
  const cache = path.join(tmp, 'cache');
  mkdirSync(cache);
  chmodSync(cache, 0o777);
  const runTask = () => runTektonTask(path.join(projectRoot, 'integrations', 'tekton', 'oci-s2i.yaml'), {
    params: { IMAGE: image, BUILDER_IMAGE: builder, TLS_VERIFY: 'false', ENV_VARS: ['GREETING=hello there'] },
    images: { ENGINE_IMAGE: podEngine },
    workspaces: { source, cache },
    harness,
    timeoutMs: 180_000,
  });
  const task = await runTask();
  t.equal(task.failed, undefined, `every step ran: ${task.failed ? `${task.failed.name}: ${task.failed.result.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  t.same(task.steps.map((s) => [s.name, s.profile]), [['copy-engine', 'restricted'], ['build', 'restricted']], 'both steps in the restricted pod');
  t.match(task.results.IMAGE_DIGEST, /^sha256:[0-9a-f]{64}$/, 'IMAGE_DIGEST, no newline');
  t.equal(task.results.IMAGE_DIGEST, digestOf(image), 'the digest the registry has');
  t.equal(task.results.IMAGE_URL, image);
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${image}`], { encoding: 'utf8' })) as { config: { Env: string[] } };
  t.ok(config.config.Env.includes('GREETING=hello there'), 'ENV_VARS reached the image, spaces and all');
  // The application (its run script serves it with httpd; here only the installed file is read, as the random UID).
  const page = podmanRun(['--user', '1000680000:0', '--entrypoint', 'cat', image, '/opt/app-root/src/index.html']);
  t.equal(page.status, 0, page.stderr);
  t.equal(page.stdout, 'Test S2I process!\n', 'the application is in the image, readable by any UID');
  // The next run with the same cache workspace: the SBOM's findings for the builder's files are taken from it.
  const again = await runTask();
  t.equal(again.failed, undefined, `the second run: ${again.failed ? again.failed.result.stderr.trim().split('\n').slice(-3).join(' | ') : 'every step ran'}`);
  t.match(again.steps[1]?.result.stderr, /SBOM: [1-9]\d* of the image's files known from an earlier build of /, 'the second run took the kept findings');
  t.equal(again.results.IMAGE_DIGEST, digestOf(image), 'and pushed');

  const output = `${host}/${testImagePrefix}/app-${process.pid}:shipwright`;
  const shp = await runShipwrightStrategy(path.join(projectRoot, 'integrations', 'shipwright', 'oci-s2i.yaml'), {
    source,
    outputImage: output,
    insecure: true,
    params: { 'builder-image': builder, 'engine-image': podEngine },
    harness,
    timeoutMs: 180_000,
  });
  t.equal(shp.failed, undefined, `every step ran: ${shp.failed ? `${shp.failed.name}: ${shp.failed.result.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  t.equal(shp.results['shp-image-digest'], digestOf(output), 'shp-image-digest is the pushed digest');
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${output}`], { encoding: 'utf8' })) as { config: { size: number }; layers: Array<{ size: number }> };
  t.equal(Number(shp.results['shp-image-size']), raw.config.size + raw.layers.reduce((n, l) => n + l.size, 0), 'shp-image-size: layers + config');
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
