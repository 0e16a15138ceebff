// The Task/strategy step runner (test/helpers/task-steps.ts), proven on small fake Tasks before it runs the
// real ones: params with defaults, array params expanded as whole args, an emptyDir two steps share, workspaces
// (bound and an optional unbound one), results byte for byte, image overrides, profiles from securityContext,
// a failing step ending the run, and a Shipwright strategy with its shp-* system params.
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { PodHarness, testImagePrefix, uniqueImageLabels } from '../helpers/pod.js';
import { profileFor, runShipwrightStrategy, runTektonTask, Substitution } from '../helpers/task-steps.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-task-steps-test-'));
let registry: TestRegistry | undefined;
const client = new RegistryClient();
const pods = new PodHarness();
let busybox: string;

t.before(async () => {
  registry = await startRegistry();
  const repo = `${testImagePrefix}/task-steps-${process.pid}`;
  await pushBusyboxBuilder(client.repository(registry.host, repo), 'v1', { user: '1001', labels: uniqueImageLabels() });
  busybox = `${registry.host}/${repo}:v1`;
});
t.teardown(async () => {
  pods.close();
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const restricted = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };

function file(name: string, doc: unknown): string {
  const f = path.join(tmp, name);
  writeFileSync(f, stringify(doc));
  return f;
}

const fakeTask = {
  apiVersion: 'tekton.dev/v1',
  kind: 'Task',
  metadata: { name: 'fake' },
  spec: {
    params: [
      { name: 'GREETING', type: 'string', default: 'hello' },
      { name: 'WORDS', type: 'array', default: [] },
      { name: 'TOOL_IMAGE', type: 'string', default: 'quay.io/never/pulled:1' },
    ],
    workspaces: [{ name: 'source' }, { name: 'extra', optional: true }],
    results: [{ name: 'COUNT' }, { name: 'SHARED' }, { name: 'WHOAMI' }],
    volumes: [{ name: 'shared', emptyDir: {} }],
    steps: [
      {
        name: 'produce',
        image: '$(params.TOOL_IMAGE)',
        securityContext: restricted,
        volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
        args: ['$(params.WORDS[*])'],
        script: '#!/bin/sh\nset -eu\nfor w in "$@"; do echo "$w"; done > /shared/words\ncat $(workspaces.source.path)/in.txt >> /shared/words\nprintf %s "$#" > $(results.COUNT.path)\n',
      },
      {
        name: 'consume',
        image: '$(params.TOOL_IMAGE)',
        securityContext: restricted,
        volumeMounts: [{ name: 'shared', mountPath: '/shared', readOnly: true }],
        env: [{ name: 'G', value: '$(params.GREETING)' }, { name: 'BOUND', value: '$(workspaces.extra.bound)' }],
        command: ['/bin/sh', '-c', 'printf "%s:%s:" "$G" "$BOUND" > "$1"; tr "\\n" , < /shared/words >> "$1"; id -u > $(results.WHOAMI.path)', '--', '$(results.SHARED.path)'],
      },
    ],
  },
};

t.test('a fake Task: array params, a shared emptyDir, workspaces, results byte for byte, the image mapped', async (t) => {
  const source = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(source, 0o755); // a volume the pod's user can read, as a PVC's would be
  writeFileSync(path.join(source, 'in.txt'), 'from-source\n');
  const r = await runTektonTask(file('fake.yaml', fakeTask), {
    params: { GREETING: 'hi', WORDS: ['a b', 'c', 'd'] },
    images: { TOOL_IMAGE: busybox },
    workspaces: { source },
    harness: pods,
  });
  t.equal(r.failed, undefined, r.failed?.result.stderr ?? 'no step failed');
  t.same(r.steps.map((s) => [s.name, s.profile, s.image]), [['produce', 'restricted', busybox], ['consume', 'restricted', busybox]]);
  t.equal(r.results.COUNT, '3', '"a b" stayed one argument');
  t.equal(r.results.SHARED, 'hi:false:a b,c,d,from-source,');
  t.equal(r.results.WHOAMI, '1001\n', 'the image\'s USER');

  const random = await runTektonTask(file('fake.yaml', fakeTask), { images: { TOOL_IMAGE: busybox }, workspaces: { source, extra: source }, profile: 'restricted-random-uid', harness: pods });
  t.equal(random.failed, undefined, random.failed?.result.stderr ?? 'no step failed');
  t.equal(random.results.COUNT, '0', 'the default: an empty array');
  t.equal(random.results.SHARED, 'hello:true:from-source,', 'the default and a bound optional workspace');
  t.equal(random.results.WHOAMI, '1000680000\n');
});

t.test('a failing step ends the run; the steps after it do not start', async (t) => {
  const task = structuredClone(fakeTask);
  task.spec.steps[0]!.script = 'echo failing >&2\nexit 3\nprintf x > $(results.COUNT.path)\n';
  const r = await runTektonTask(file('failing.yaml', task), { images: { TOOL_IMAGE: busybox }, workspaces: { source: tmp }, harness: pods });
  t.equal(r.failed?.name, 'produce');
  t.equal(r.failed?.result.code, 3, 'Tekton\'s #!/bin/sh + set -e was put first');
  t.match(r.failed?.result.stderr, /failing/);
  t.equal(r.steps.length, 1);
  t.same(r.results, {});
});

t.test('bad runs are refused before any container starts', async (t) => {
  const f = file('fake.yaml', fakeTask);
  await t.rejects(runTektonTask(f, { workspaces: {} }), /workspace source: not bound/);
  await t.rejects(runTektonTask(f, { workspaces: { source: tmp }, params: { NOPE: 'x' } }), /param NOPE: not declared/);
  await t.rejects(runTektonTask(f, { workspaces: { source: tmp }, params: { WORDS: 'x' } }), /a array param given/);
  await t.rejects(runTektonTask(f, { workspaces: { source: tmp, other: tmp } }), /workspace other: not declared/);
});

t.test('Substitution: Tekton\'s reference forms, and what it refuses', async (t) => {
  const sub = new Substitution(new Map<string, string | string[]>([['A', 'x'], ['my.dotted', 'd'], ['ARR', ['1', '2']]]), new Map([['results.R.path', '/tekton/results/R']]));
  t.equal(sub.string('$(params.A)-$(params["my.dotted"])-$(params[\'A\'])-$(params.ARR[1])-$(results.R.path)', 'w'), 'x-d-x-2-/tekton/results/R');
  t.equal(sub.string('$(cat f) $((1 + 2)) $HOME', 'w'), '$(cat f) $((1 + 2)) $HOME', 'shell syntax is left alone');
  t.same(sub.list(['a', '$(params.ARR[*])', '$(params.A)'], 'args'), ['a', '1', '2', 'x']);
  t.throws(() => sub.string('$(params.B)', 'w'), /no such param/);
  t.throws(() => sub.string('$(params.ARR)', 'w'), /array param used as a string/);
  t.throws(() => sub.string('x $(params.ARR[*])', 'w'), /only as a whole/);
  t.throws(() => sub.string('$(params.ARR[5])', 'w'), /out of range/);
  t.throws(() => sub.string('$(workspaces.nope.path)', 'w'), /unknown variable/);
  t.throws(() => sub.list(['$(params.A[*])'], 'args'), /not an array/);
});

t.test('profileFor: securityContext → pod profile', async (t) => {
  t.same(profileFor(restricted), { profile: 'restricted' });
  t.same(profileFor({ ...restricted, runAsUser: 1001, runAsGroup: 0 }), { profile: 'restricted', user: '1001:0' });
  t.same(profileFor(undefined), { profile: 'root-default' });
  t.same(profileFor({ runAsUser: 0 }), { profile: 'root-default', user: '0' });
  t.same(profileFor({ privileged: true }), { profile: 'privileged' });
  t.throws(() => profileFor({ ...restricted, seccompProfile: { type: 'Unconfined' } }), /only the restricted one/);
  t.throws(() => profileFor({ ...restricted, capabilities: { drop: ['ALL'], add: ['SETFCAP'] } }), /only the restricted one/);
});

t.test('a fake Shipwright strategy: shp-* system params, array defaults, system results', async (t) => {
  const strategy = {
    apiVersion: 'shipwright.io/v1beta1',
    kind: 'ClusterBuildStrategy',
    metadata: { name: 'fake' },
    spec: {
      parameters: [{ name: 'tool-image', type: 'string' }, { name: 'flags', type: 'array', defaults: ['--one', 'two words'] }],
      volumes: [{ name: 'scratch', overridable: false, emptyDir: {} }],
      steps: [{
        name: 'build',
        image: '$(params.tool-image)',
        workingDir: '$(params.shp-source-root)',
        securityContext: restricted,
        volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
        env: [{ name: 'CTX', value: '$(params.shp-source-context)' }, { name: 'OUT', value: '$(params.shp-output-image)' }, { name: 'INSECURE', value: '$(params.shp-output-insecure)' }],
        command: ['/bin/sh'],
        args: ['-c', 'printf "%s|%s|%s|%s|%s|%s" "$PWD" "$CTX" "$OUT" "$INSECURE" "$#" "$2" > $(results.shp-image-digest.path); cat "$CTX/app.txt" > $(results.shp-image-size.path)', '--', '$(params.flags[*])'],
      }],
    },
  };
  const source = mkdtempSync(path.join(tmp, 'shp-src-'));
  chmodSync(source, 0o755);
  const ctx = path.join(source, 'app');
  mkdirSync(ctx);
  writeFileSync(path.join(ctx, 'app.txt'), '42');
  const r = await runShipwrightStrategy(file('strategy.yaml', strategy), {
    source, contextDir: 'app', outputImage: 'registry.example/app:v1', insecure: true, params: { 'tool-image': busybox }, harness: pods,
  });
  t.equal(r.failed, undefined, r.failed?.result.stderr ?? 'no step failed');
  t.equal(r.results['shp-image-digest'], '/workspace/source|/workspace/source/app|registry.example/app:v1|true|2|two words');
  t.equal(r.results['shp-image-size'], '42');
  await t.rejects(runShipwrightStrategy(file('strategy.yaml', strategy), { source, outputImage: 'x', params: { 'tool-image': busybox, 'shp-output-image': 'y' } }), /system parameter/);
});
