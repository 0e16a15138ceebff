// The integration files (integrations/tekton, integrations/shipwright) against the Tekton and Shipwright API
// rules and our own (test/helpers/yaml-rules.ts): both pass as shipped, and every rule is seen to fail on a
// document mutated to break it, so a passing check means something.
import t from 'tap';
import path from 'node:path';
import { parseYamlFile } from '../helpers/task-model.js';
import { checkDocument } from '../helpers/yaml-rules.js';
import { projectRoot } from '../helpers/cli.js';

const tektonFile = path.join(projectRoot, 'integrations', 'tekton', 'oci-s2i.yaml');
const shipwrightFile = path.join(projectRoot, 'integrations', 'shipwright', 'oci-s2i.yaml');

type Doc = {
  apiVersion: string;
  metadata: { name: string };
  spec: {
    params?: Array<Record<string, unknown>>;
    parameters?: Array<Record<string, unknown>>;
    volumes: Array<Record<string, unknown>>;
    securityContext?: Record<string, unknown>;
    steps: Array<Record<string, unknown> & { name: string; script?: string; args?: string[]; env?: Array<{ name: string; value: string }>; securityContext: Record<string, unknown> }>;
  };
};
const tekton = (): Doc => parseYamlFile(tektonFile) as Doc;
const shipwright = (): Doc => parseYamlFile(shipwrightFile) as Doc;
const buildStep = (d: Doc) => d.spec.steps[1]!;

t.test('the shipped files pass', async (t) => {
  t.same(checkDocument(tekton(), 'tekton-task'), []);
  t.same(checkDocument(shipwright(), 'shipwright-strategy'), []);
});

t.test('the shipped Task has the catalog s2i task interface', async (t) => {
  const d = tekton() as unknown as { spec: { params: Array<{ name: string; type?: string; default?: unknown }>; workspaces: Array<{ name: string; optional?: boolean }>; results: Array<{ name: string }> } };
  const p = Object.fromEntries(d.spec.params.map((x) => [x.name, x]));
  t.match(p, { IMAGE: {}, BUILDER_IMAGE: {}, CONTEXT: { default: '.' }, FORMAT: { default: 'docker' }, TLS_VERIFY: { default: 'true' }, ENV_VARS: { type: 'array', default: [] }, SCRIPTS_URL: { default: '' }, ENGINE_IMAGE: { default: /oci-s2i/ } });
  t.same(d.spec.workspaces.map((w) => [w.name, w.optional ?? false]), [['source', false], ['dockerconfig', true], ['sslcertdir', true], ['cache', true]]);
  t.same(d.spec.results.map((r) => r.name), ['IMAGE_DIGEST', 'IMAGE_URL']);
});

interface Mutation {
  what: string;
  doc: 'tekton' | 'shipwright';
  mutate: (d: Doc) => void;
  want: RegExp;
}

const mutations: Mutation[] = [
  { what: 'an older apiVersion', doc: 'tekton', mutate: (d) => void (d.apiVersion = 'tekton.dev/v1beta1'), want: /apiVersion tekton.dev\/v1beta1: must be tekton.dev\/v1/ },
  { what: 'a Shipwright alpha apiVersion', doc: 'shipwright', mutate: (d) => void (d.apiVersion = 'shipwright.io/v1alpha1'), want: /must be shipwright.io\/v1beta1/ },
  { what: 'an undeclared param in a script', doc: 'tekton', mutate: (d) => void (buildStep(d).script += 'echo $(params.NOPE)\n'), want: /step build script: \$\(params.NOPE\): no such param/ },
  { what: 'an array param as a string', doc: 'tekton', mutate: (d) => void buildStep(d).env!.push({ name: 'X', value: '$(params.ENV_VARS)' }), want: /ENV_VARS\): an array param used as a string/ },
  { what: 'an array param [*] inside a longer arg', doc: 'tekton', mutate: (d) => void (buildStep(d).args = ['-e $(params.ENV_VARS[*])']), want: /\[\*\] only as a whole args\/command item/ },
  { what: 'an array param [*] in a script', doc: 'tekton', mutate: (d) => void (buildStep(d).script += 'x $(params.ENV_VARS[*])\n'), want: /step build script: .*\[\*\] only as a whole/ },
  { what: '[*] on a string param', doc: 'tekton', mutate: (d) => void (buildStep(d).args = ['$(params.IMAGE[*])']), want: /\[\*\] on a string param/ },
  { what: 'an undeclared workspace', doc: 'tekton', mutate: (d) => void (buildStep(d).workingDir = '$(workspaces.nope.path)'), want: /\$\(workspaces.nope.path\): no such workspace/ },
  { what: 'an undeclared result', doc: 'tekton', mutate: (d) => void (buildStep(d).script += 'printf %s x > $(results.NOPE.path)\n'), want: /\$\(results.NOPE.path\): no such result/ },
  { what: 'a misspelt reference', doc: 'tekton', mutate: (d) => void (buildStep(d).script += 'cat $(workspaces.source)\n'), want: /\$\(workspaces.source\): not a reference Tekton resolves/ },
  { what: 'an array param with a string default', doc: 'tekton', mutate: (d) => void (d.spec.params!.find((p) => p.name === 'ENV_VARS')!.default = ''), want: /param ENV_VARS: a array param's default must be a list of strings/ },
  { what: 'a string param with a list default', doc: 'tekton', mutate: (d) => void (d.spec.params!.find((p) => p.name === 'CONTEXT')!.default = ['.']), want: /param CONTEXT: a string param's default must be a string/ },
  { what: 'a bad param type', doc: 'tekton', mutate: (d) => void (d.spec.params![0]!.type = 'int'), want: /param IMAGE: type int/ },
  { what: 'a param declared twice', doc: 'tekton', mutate: (d) => void d.spec.params!.push({ name: 'IMAGE', description: 'again' }), want: /param IMAGE: declared twice/ },
  { what: 'a step name that is not a DNS-1123 label', doc: 'tekton', mutate: (d) => void (buildStep(d).name = 'Build_Step'), want: /step Build_Step: the name must be a DNS-1123 label/ },
  { what: 'two steps with one name', doc: 'tekton', mutate: (d) => void (buildStep(d).name = 'copy-engine'), want: /step copy-engine: the name is used twice/ },
  { what: 'a result written with echo', doc: 'tekton', mutate: (d) => void (buildStep(d).script = buildStep(d).script!.replace('printf %s "$PARAM_IMAGE" >', 'echo "$PARAM_IMAGE" >')), want: /result IMAGE_URL written by `echo "\$PARAM_IMAGE" > "\$RESULT_IMAGE_URL"`/ },
  { what: 'a result written with a newline format', doc: 'tekton', mutate: (d) => void (buildStep(d).script = buildStep(d).script!.replace('printf %s "$(cat', 'printf \'%s\\n\' "$(cat')), want: /result IMAGE_DIGEST written by/ },
  { what: 'a result nobody writes', doc: 'tekton', mutate: (d) => void (buildStep(d).script = buildStep(d).script!.split('\n').filter((l) => !l.includes('RESULT_IMAGE_URL')).join('\n')), want: /result IMAGE_URL: no step writes it/ },
  { what: 'a result written straight by --digestfile', doc: 'shipwright', mutate: (d) => void (buildStep(d).args![1] = buildStep(d).args![1]!.replace('--digestfile /oci-s2i-work/digest', '--digestfile "$RESULT_IMAGE_DIGEST"')), want: /result shp-image-digest written by `.*--digestfile "\$RESULT_IMAGE_DIGEST"/ },
  { what: 'capabilities not dropped', doc: 'tekton', mutate: (d) => void (buildStep(d).securityContext.capabilities = { drop: ['NET_RAW'] }), want: /step build securityContext: capabilities.drop must hold ALL/ },
  { what: 'a capability added', doc: 'shipwright', mutate: (d) => void (buildStep(d).securityContext.capabilities = { drop: ['ALL'], add: ['SETFCAP'] }), want: /capabilities.add: SETFCAP: none allowed/ },
  { what: 'privilege escalation allowed', doc: 'tekton', mutate: (d) => void delete buildStep(d).securityContext.allowPrivilegeEscalation, want: /allowPrivilegeEscalation must be false/ },
  { what: 'no seccomp profile', doc: 'tekton', mutate: (d) => void delete buildStep(d).securityContext.seccompProfile, want: /seccompProfile.type must be RuntimeDefault/ },
  { what: 'runAsNonRoot missing', doc: 'shipwright', mutate: (d) => void delete d.spec.steps[0]!.securityContext.runAsNonRoot, want: /step copy-engine securityContext: runAsNonRoot must be true/ },
  { what: 'a forced runAsUser on the builder step', doc: 'tekton', mutate: (d) => void (buildStep(d).securityContext.runAsUser = 1001), want: /runAsUser is forced \(1001\)/ },
  { what: 'no securityContext', doc: 'tekton', mutate: (d) => void delete (d.spec.steps[0] as Record<string, unknown>).securityContext, want: /step copy-engine securityContext: missing/ },
  { what: 'a privileged step', doc: 'shipwright', mutate: (d) => void (buildStep(d).securityContext.privileged = true), want: /securityContext: privileged/ },
  { what: 'a hostPath volume', doc: 'tekton', mutate: (d) => void d.spec.volumes.push({ name: 'host', hostPath: { path: '/var/lib' } }), want: /spec.volumes\[2\].hostPath: host paths are not allowed/ },
  { what: 'a strategy run as root', doc: 'shipwright', mutate: (d) => void (d.spec.securityContext = { runAsUser: 0, runAsGroup: 0 }), want: /spec.securityContext: runs the strategy as root/ },
  { what: 'a volumeMount of no volume', doc: 'tekton', mutate: (d) => void ((buildStep(d).volumeMounts as Array<{ name: string }>)[0]!.name = 'nope'), want: /volumeMount nope: no such volume/ },
  { what: 'a misspelt step field', doc: 'tekton', mutate: (d) => void (d.spec.steps[0]!.sript = d.spec.steps[0]!.script), want: /step copy-engine: unknown field sript/ },
  { what: 'script in a Shipwright step (its steps have none)', doc: 'shipwright', mutate: (d) => void (d.spec.steps[0]!.script = 'true'), want: /step copy-engine: unknown field script/ },
  { what: 'an array parameter with default (Shipwright wants defaults)', doc: 'shipwright', mutate: (d) => void (d.spec.parameters!.find((p) => p.name === 'env-vars')!.default = []), want: /param env-vars: an array parameter takes defaults, not default/ },
  { what: 'a parameter named like a system one', doc: 'shipwright', mutate: (d) => void d.spec.parameters!.push({ name: 'shp-mine', description: 'x' }), want: /param shp-mine: the shp- prefix is Shipwright's/ },
  { what: 'an undeclared Shipwright param', doc: 'shipwright', mutate: (d) => void (buildStep(d).image = '$(params.builder)'), want: /step build-and-push image: \$\(params.builder\): no such param/ },
  { what: 'a result Shipwright does not know', doc: 'shipwright', mutate: (d) => void (buildStep(d).args![1] += '\nprintf %s x > $(results.my-result.path)\n'), want: /no such result/ },
];

t.test('each rule fails on a document mutated to break it', async (t) => {
  for (const m of mutations) {
    const d = m.doc === 'tekton' ? tekton() : shipwright();
    t.same(checkDocument(d, m.doc === 'tekton' ? 'tekton-task' : 'shipwright-strategy'), [], `${m.what}: the unmutated document passes`);
    m.mutate(d);
    const problems = checkDocument(d, m.doc === 'tekton' ? 'tekton-task' : 'shipwright-strategy');
    t.ok(problems.some((p) => m.want.test(p)), `${m.what}: reported`, { problems, want: m.want });
  }
});
