// The shipped Tekton Task and Shipwright strategy, run step by step from their YAML files in restricted pods,
// with a stand-in engine image (test/helpers/engine-stub.ts) that only prints its arguments and writes what the
// real one writes. What this proves without the engine: the copy of the engine into the
// builder step, every parameter and workspace reaching the right flag (ENV_VARS items with spaces as one -e
// each), and the results as Tekton and Shipwright keep them, byte for byte. The real build, with
// `--isolation in-image`, is the end-to-end test's; it calls the same runTektonTask with the engine's image.
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PodHarness, randomUid, testImagePrefix, uniqueImageLabels } from '../helpers/pod.js';
import { runShipwrightStrategy, runTektonTask, type StepRun } from '../helpers/task-steps.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { pushStubEngine, stubArgs, stubDigest, stubImageSize } from '../helpers/engine-stub.js';

const tektonFile = path.join(projectRoot, 'integrations', 'tekton', 'oci-s2i.yaml');
const shipwrightFile = path.join(projectRoot, 'integrations', 'shipwright', 'oci-s2i.yaml');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-task-plumbing-test-'));
let registry: TestRegistry | undefined;
const client = new RegistryClient();
const pods = new PodHarness();
let builder: string;
let engine: string;

t.before(async () => {
  registry = await startRegistry();
  const repo = (n: string): string => `${testImagePrefix}/plumbing-${n}-${process.pid}`;
  await pushBusyboxBuilder(client.repository(registry.host, repo('builder')), 'v1', { user: '1001', labels: uniqueImageLabels() });
  builder = `${registry.host}/${repo('builder')}:v1`;
  engine = await pushStubEngine(client.repository(registry.host, repo('engine')), registry.host, repo('engine'));
});
t.teardown(async () => {
  pods.close();
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A directory as a PVC or Secret volume would be: readable by the pod's user. */
function dir(name: string, files: Record<string, string> = {}): string {
  const d = path.join(tmp, name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o755);
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, f)), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(d, f), content, { mode: 0o644 });
  }
  return d;
}

const engineArgs = (step: StepRun | undefined): string[] => stubArgs(step?.result.stderr);
const digest = stubDigest;

t.test('Tekton Task: every param and workspace reaches its flag; results without a newline', async (t) => {
  const source = dir('tekton-src', { 'app/index.html': 'hi\n' });
  for (const profile of ['restricted', 'restricted-random-uid'] as const) {
    const r = await runTektonTask(tektonFile, {
      params: { IMAGE: 'registry.example:5000/me/app:v1', BUILDER_IMAGE: builder, CONTEXT: 'app', TLS_VERIFY: 'false', FORMAT: 'oci', ENV_VARS: ['A=1', 'B=two words'], SCRIPTS_URL: 'image:///usr/libexec/s2i' },
      images: { ENGINE_IMAGE: engine },
      workspaces: { source, dockerconfig: dir('dockerconfig', { 'config.json': '{"auths":{}}' }), sslcertdir: dir('certs', { 'ca.crt': 'x' }), cache: dir('cache') },
      profile,
      harness: pods,
    });
    t.equal(r.failed, undefined, `${profile}: ${r.failed?.result.stderr ?? 'no step failed'}`);
    t.same(r.steps.map((s) => [s.name, s.image]), [['copy-engine', engine], ['build', builder]], 'the engine image mapped, the builder image as given');
    t.same(engineArgs(r.steps[1]), [
      'build', '--isolation', 'in-image', '/workspace/source/app', builder, 'registry.example:5000/me/app:v1',
      '--format', 'oci', '--tls-verify=false', '--root', `/workspace/cache/oci-s2i-${profile === 'restricted' ? '1001' : randomUid.split(':')[0]}`, '--digestfile', '/oci-s2i-work/digest',
      '-e', 'A=1', '-e', 'B=two words', '--scripts-url', 'image:///usr/libexec/s2i',
      '--authfile', '/workspace/dockerconfig/config.json', '--cert-dir', '/workspace/sslcertdir',
    ], `${profile}: the engine's arguments`);
    t.same(r.results, { IMAGE_DIGEST: digest, IMAGE_URL: 'registry.example:5000/me/app:v1' }, `${profile}: results byte for byte`);
  }
});

t.test('Tekton Task: defaults, no optional workspaces, a kubernetes.io/dockerconfigjson Secret', async (t) => {
  const source = dir('tekton-src-2', { 'index.html': 'hi\n' });
  const r = await runTektonTask(tektonFile, { params: { IMAGE: 'r.example/app', BUILDER_IMAGE: builder }, images: { ENGINE_IMAGE: engine }, workspaces: { source }, harness: pods });
  t.equal(r.failed, undefined, r.failed?.result.stderr ?? 'no step failed');
  t.same(engineArgs(r.steps[1]).slice(3), ['/workspace/source/.', builder, 'r.example/app', '--format', 'docker', '--tls-verify=true', '--root', '/oci-s2i-work/cache', '--digestfile', '/oci-s2i-work/digest']);
  t.equal(r.results.IMAGE_DIGEST, digest);

  const secret = await runTektonTask(tektonFile, {
    params: { IMAGE: 'r.example/app', BUILDER_IMAGE: builder }, images: { ENGINE_IMAGE: engine },
    workspaces: { source, dockerconfig: dir('dockerconfigjson', { '.dockerconfigjson': '{"auths":{}}' }) }, harness: pods,
  });
  t.match(engineArgs(secret.steps[1]).join(' '), /--authfile \/workspace\/dockerconfig\/\.dockerconfigjson$/);

  const empty = await runTektonTask(tektonFile, { params: { IMAGE: 'r.example/app', BUILDER_IMAGE: builder }, images: { ENGINE_IMAGE: engine }, workspaces: { source, dockerconfig: dir('empty') }, harness: pods });
  t.equal(empty.failed?.name, 'build', 'a dockerconfig workspace without credentials fails the build step');
  t.match(empty.failed?.result.stderr, /neither config.json nor .dockerconfigjson/);
  t.same(empty.results, {});
});

t.test('Shipwright strategy: shp-* params reach their flags; digest and size results', async (t) => {
  const source = dir('shp-src', { 'app/index.html': 'hi\n' });
  for (const [insecure, tls] of [[true, 'false'], [false, 'true']] as const) {
    const r = await runShipwrightStrategy(shipwrightFile, {
      source, contextDir: 'app', outputImage: 'registry.example:5000/me/app:v1', insecure,
      params: { 'builder-image': builder, 'engine-image': engine, 'env-vars': ['A=1', 'B=two words'] },
      harness: pods,
    });
    t.equal(r.failed, undefined, r.failed?.result.stderr ?? 'no step failed');
    const args = engineArgs(r.steps[1]);
    const inspectAt = args.indexOf('inspect');
    t.same(args.slice(0, inspectAt), [
      'build', '--isolation', 'in-image', '/workspace/source/app', builder, 'registry.example:5000/me/app:v1',
      '--format', 'docker', `--tls-verify=${tls}`, '--root', '/oci-s2i-work/cache', '--digestfile', '/oci-s2i-work/digest',
      '-e', 'A=1', '-e', 'B=two words',
    ]);
    t.same(args.slice(inspectAt), ['inspect', '--json', `--tls-verify=${tls}`, `registry.example:5000/me/app@${digest}`], 'the pushed manifest, by digest, in the output repository');
    t.same(r.results, { 'shp-image-digest': digest, 'shp-image-size': String(stubImageSize) }, 'size: layers + config');
  }
});
