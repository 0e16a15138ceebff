// Static checks of a Tekton Task (tekton.dev/v1) or a Shipwright build strategy (shipwright.io/v1beta1) against
// the rules their admission webhooks apply, plus this project's own: every step in the restricted Pod Security
// profile, results written byte for byte. Each check returns problems as one line each, so a test can mutate a
// document and see the one it expects. Tekton's rules: pipeline/docs/tasks.md and pkg/apis/pipeline/v1
// (task_validation.go: param names and types, array params only as whole `[*]` args/command items, variables
// declared); Shipwright's: docs/buildstrategies.md (parameters, system parameters and results, volumes).
import { anyRef, kindOf, paramUses, resultRef, shipwrightSystemResults, stepStrings, taskModel, workspaceRef, type DocKind, type TaskModel } from './task-model.js';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Kubernetes DNS-1123 label: what a step name becomes part of (the container name `step-NAME`). */
export const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Tekton's param name rule (ValidateParameterTypes): letters, digits, `_`, `-`, `.`, starting with a letter or `_`. */
const tektonParamName = /^[a-zA-Z_][a-zA-Z0-9_.-]*$/;

// Fields each API knows; anything else is a typo the webhook would refuse (Tekton rejects unknown fields).
const fields: Record<DocKind, { spec: string[]; step: string[]; param: string[]; volume: string[] }> = {
  'tekton-task': {
    spec: ['description', 'displayName', 'params', 'workspaces', 'results', 'steps', 'volumes', 'stepTemplate', 'sidecars'],
    step: ['name', 'image', 'command', 'args', 'workingDir', 'env', 'envFrom', 'computeResources', 'volumeMounts', 'volumeDevices', 'imagePullPolicy',
      'securityContext', 'script', 'timeout', 'workspaces', 'onError', 'stdoutConfig', 'stderrConfig', 'params', 'results', 'ref', 'when', 'displayName'],
    param: ['name', 'type', 'description', 'default', 'properties', 'enum'],
    volume: ['name', 'emptyDir', 'configMap', 'secret', 'persistentVolumeClaim', 'projected', 'csi', 'downwardAPI'],
  },
  'shipwright-strategy': {
    spec: ['steps', 'parameters', 'securityContext', 'volumes'],
    step: ['name', 'image', 'command', 'args', 'workingDir', 'env', 'resources', 'volumeMounts', 'imagePullPolicy', 'securityContext'],
    param: ['name', 'description', 'type', 'default', 'defaults'],
    volume: ['name', 'description', 'overridable', 'emptyDir', 'configMap', 'secret', 'persistentVolumeClaim', 'projected', 'csi', 'downwardAPI'],
  },
};

const expected: Record<DocKind, { apiVersion: string; kinds: string[] }> = {
  'tekton-task': { apiVersion: 'tekton.dev/v1', kinds: ['Task'] },
  'shipwright-strategy': { apiVersion: 'shipwright.io/v1beta1', kinds: ['ClusterBuildStrategy', 'BuildStrategy'] },
};

/** Every problem of the document, [] when it passes. `kind` says what the file must be (a wrong apiVersion is then a problem, not a different kind). */
export function checkDocument(doc: unknown, kind: DocKind): string[] {
  if (!isObj(doc)) return ['the document is not a YAML mapping'];
  const want = expected[kind];
  if (doc.apiVersion !== want.apiVersion) return [`apiVersion ${String(doc.apiVersion)}: must be ${want.apiVersion}`];
  if (!want.kinds.includes(String(doc.kind))) return [`kind ${String(doc.kind)}: must be ${want.kinds.join(' or ')}`];
  if (kindOf(doc) !== kind) return [`not a ${kind}`];
  const problems = [...shapeProblems(doc, kind)];
  let model: TaskModel;
  try {
    model = taskModel(doc);
  } catch (e) {
    return [...problems, (e as Error).message];
  }
  problems.push(...paramProblems(doc, model), ...referenceProblems(model), ...stepProblems(model), ...resultProblems(model), ...securityProblems(doc, model));
  return problems;
}

function unknownKeys(o: Obj, known: string[], where: string): string[] {
  return Object.keys(o).filter((k) => !known.includes(k)).map((k) => `${where}: unknown field ${k}`);
}

function shapeProblems(doc: Obj, kind: DocKind): string[] {
  const out: string[] = [];
  const f = fields[kind];
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  if (typeof meta.name !== 'string' || !dns1123Subdomain.test(meta.name)) out.push(`metadata.name ${String(meta.name)}: not a DNS-1123 subdomain`);
  if (!isObj(doc.spec)) return [...out, 'spec: missing'];
  out.push(...unknownKeys(doc.spec, f.spec, 'spec'));
  const steps = doc.spec.steps;
  if (!Array.isArray(steps) || steps.length === 0) out.push('spec.steps: at least one step');
  else steps.forEach((s, i) => isObj(s) && out.push(...unknownKeys(s, f.step, `step ${String(s.name ?? i)}`)));
  const params = kind === 'tekton-task' ? doc.spec.params : doc.spec.parameters;
  if (Array.isArray(params)) params.forEach((p, i) => isObj(p) && out.push(...unknownKeys(p, f.param, `param ${String(p.name ?? i)}`)));
  const volumes = doc.spec.volumes;
  if (Array.isArray(volumes)) {
    volumes.forEach((v, i) => isObj(v) && out.push(...unknownKeys(v, f.volume, `volume ${String(v.name ?? i)}`)));
    const names = volumes.map((v) => (isObj(v) ? String(v.name) : ''));
    for (const n of new Set(names.filter((n, i) => names.indexOf(n) !== i))) out.push(`volume ${n}: declared twice`);
  }
  return out;
}

function paramProblems(doc: Obj, model: TaskModel): string[] {
  const out: string[] = [];
  const spec = doc.spec as Obj;
  const raw = ((model.kind === 'tekton-task' ? spec.params : spec.parameters) as unknown[] | undefined) ?? [];
  const seen = new Set<string>();
  for (const p of raw) {
    if (!isObj(p)) continue;
    const name = String(p.name);
    if (seen.has(name)) out.push(`param ${name}: declared twice`);
    seen.add(name);
    if (model.kind === 'tekton-task' && !tektonParamName.test(name)) out.push(`param ${name}: not a valid param name`);
    if (model.kind === 'shipwright-strategy' && name.startsWith('shp-')) out.push(`param ${name}: the shp- prefix is Shipwright's (system parameters)`);
    const type = p.type ?? 'string';
    if (type !== 'string' && type !== 'array') {
      // object params exist in Tekton but nothing here needs one; Shipwright has none.
      out.push(`param ${name}: type ${String(type)} (string or array)`);
      continue;
    }
    const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (model.kind === 'tekton-task') {
      if (p.default !== undefined && (type === 'string' ? typeof p.default !== 'string' : !isStrings(p.default))) {
        out.push(`param ${name}: a ${type} param's default must be ${type === 'string' ? 'a string' : 'a list of strings'}`);
      }
    } else if (type === 'string') {
      if (p.defaults !== undefined) out.push(`param ${name}: a string parameter takes default, not defaults`);
      if (p.default !== undefined && typeof p.default !== 'string') out.push(`param ${name}: default must be a string`);
    } else {
      if (p.default !== undefined) out.push(`param ${name}: an array parameter takes defaults, not default`);
      if (p.defaults !== undefined && !isStrings(p.defaults)) out.push(`param ${name}: defaults must be a list of strings`);
    }
    if (typeof p.description !== 'string' || p.description === '') out.push(`param ${name}: no description`);
  }
  return out;
}

function referenceProblems(model: TaskModel): string[] {
  const out: string[] = [];
  const params = new Map(model.params.map((p) => [p.name, p]));
  const workspaces = new Set(model.workspaces.map((w) => w.name));
  const results = new Set(model.results);
  for (const step of model.steps) {
    for (const { where, value, listItem } of stepStrings(step)) {
      const at = `step ${step.name} ${where}`;
      for (const use of paramUses(value)) {
        const p = params.get(use.name);
        if (!p) {
          out.push(`${at}: ${use.text}: no such param`);
          continue;
        }
        if (p.type === 'array') {
          if (use.index === '') out.push(`${at}: ${use.text}: an array param used as a string (write [*] as a whole args/command item)`);
          else if (use.index === '[*]' && !(listItem && value === use.text)) out.push(`${at}: ${use.text}: [*] only as a whole args/command item`);
        } else if (use.index !== '') {
          out.push(`${at}: ${use.text}: ${use.index} on a string param`);
        }
      }
      for (const m of value.matchAll(workspaceRef)) if (!workspaces.has(m[1]!)) out.push(`${at}: ${m[0]}: no such workspace`);
      for (const m of value.matchAll(resultRef)) if (!results.has(m[1]!)) out.push(`${at}: ${m[0]}: no such result`);
      for (const m of value.matchAll(anyRef)) {
        const known = m[1] === 'context' || [paramUses(m[0]).length > 0, new RegExp(workspaceRef.source).test(m[0]), new RegExp(resultRef.source).test(m[0])].some(Boolean);
        if (!known && ['params', 'workspaces', 'results', 'steps', 'step', 'inputs', 'outputs'].includes(m[1]!)) out.push(`${at}: ${m[0]}: not a reference Tekton resolves`);
      }
    }
  }
  return out;
}

function stepProblems(model: TaskModel): string[] {
  const out: string[] = [];
  const names = model.steps.map((s) => s.name);
  for (const s of model.steps) {
    if (!dns1123Label.test(s.name) || s.name.length > 63) out.push(`step ${s.name}: the name must be a DNS-1123 label (lowercase letters, digits, -; at most 63)`);
    if (s.image.trim() === '') out.push(`step ${s.name}: no image`);
    if (s.script !== undefined && s.command !== undefined) out.push(`step ${s.name}: script and command cannot both be set`);
    if (s.script === undefined && !s.command?.length) out.push(`step ${s.name}: needs a script or a command (the image's entrypoint is not the contract)`);
    const volumes = new Set(model.volumes);
    for (const m of s.volumeMounts) {
      if (!volumes.has(m.name)) out.push(`step ${s.name}: volumeMount ${m.name}: no such volume`);
      if (m.mountPath === '/tekton' || m.mountPath.startsWith('/tekton/')) out.push(`step ${s.name}: volumeMount ${m.mountPath}: /tekton is Tekton's`);
    }
  }
  for (const n of new Set(names.filter((n, i) => names.indexOf(n) !== i))) out.push(`step ${n}: the name is used twice`);
  return out;
}

/**
 * Results are kept byte for byte, and a digest with a newline is not a digest: every line of a step that writes
 * a result (to its $(results.R.path), or to an env var set to it) must be `printf %s ... > FILE`.
 */
function resultProblems(model: TaskModel): string[] {
  const out: string[] = [];
  const written = new Set<string>();
  const declared = model.kind === 'tekton-task' ? model.results : model.results.filter((r) => r === 'shp-image-digest' || r === 'shp-image-size');
  for (const step of model.steps) {
    const vars = new Map<string, string>();
    for (const e of step.env) for (const m of e.value.matchAll(resultRef)) vars.set(e.name, m[1]!);
    const code = [step.script ?? '', ...(step.command ?? []), ...(step.args ?? [])].join('\n');
    for (const line of code.split('\n')) {
      const targets = new Set<string>([...line.matchAll(resultRef)].map((m) => m[1]!));
      for (const [v, r] of vars) if (new RegExp(`\\$\\{?${v}\\b`).test(line)) targets.add(r);
      for (const r of targets) {
        written.add(r);
        const printfS = /\bprintf\s+(?:%s|'%s'|"%s")\s/.test(line) && /\s>\s*\S/.test(line);
        if (!printfS || /\becho\b/.test(line)) out.push(`step ${step.name}: result ${r} written by \`${line.trim()}\`: use printf %s VALUE > FILE (no trailing newline)`);
      }
    }
  }
  for (const r of declared) if (!written.has(r)) out.push(`result ${r}: no step writes it`);
  if (model.kind === 'shipwright-strategy') for (const r of written) if (!shipwrightSystemResults.includes(r)) out.push(`result ${r}: not a Shipwright system result`);
  return out;
}

/** Pod Security "restricted" on every step, and nothing that needs a privilege anywhere in the document. */
function securityProblems(doc: Obj, model: TaskModel): string[] {
  const out: string[] = [];
  for (const s of model.steps) {
    const sc = s.securityContext;
    const at = `step ${s.name} securityContext`;
    if (!sc) {
      out.push(`${at}: missing (restricted: runAsNonRoot, allowPrivilegeEscalation false, drop ALL, RuntimeDefault)`);
      continue;
    }
    if (sc.runAsNonRoot !== true) out.push(`${at}: runAsNonRoot must be true`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities.drop must hold ALL`);
    if (sc.capabilities?.add?.length) out.push(`${at}: capabilities.add: ${sc.capabilities.add.join(',')}: none allowed`);
    if (sc.seccompProfile?.type !== 'RuntimeDefault') out.push(`${at}: seccompProfile.type must be RuntimeDefault`);
    if (sc.privileged === true) out.push(`${at}: privileged`);
    if (sc.runAsUser === 0) out.push(`${at}: runAsUser 0`);
    // The builder step runs as its image's USER: forcing one breaks images made for another, and OpenShift
    // refuses a UID outside the namespace's range.
    if (sc.runAsUser !== undefined) out.push(`${at}: runAsUser is forced (${sc.runAsUser}); leave the image's USER`);
  }
  const spec = doc.spec as Obj;
  if (isObj(spec.securityContext) && spec.securityContext.runAsUser === 0) out.push('spec.securityContext: runs the strategy as root');
  const walk = (x: unknown, where: string): void => {
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, `${where}[${i}]`));
    else if (isObj(x)) {
      for (const [k, v] of Object.entries(x)) {
        if (k === 'hostPath') out.push(`${where}.${k}: host paths are not allowed`);
        if ((k === 'privileged' || k === 'hostNetwork' || k === 'hostPID' || k === 'hostIPC') && v === true) out.push(`${where}.${k}: true`);
        walk(v, `${where}.${k}`);
      }
    }
  };
  walk(doc.spec, 'spec');
  return out;
}
