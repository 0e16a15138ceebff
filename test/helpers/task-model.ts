// A Tekton Task (tekton.dev/v1) or a Shipwright (Cluster)BuildStrategy (shipwright.io/v1beta1) read into one
// shape: its parameters, workspaces, results, volumes and steps. The YAML file in integrations/ is the input
// (never a copy), so what the tests run and check is what users install. Only the fields these integrations use
// are modelled; the API rules themselves are checked by yaml-rules.ts on the document as parsed.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export type DocKind = 'tekton-task' | 'shipwright-strategy';

export interface ParamDecl {
  name: string;
  type: 'string' | 'array' | 'object';
  /** The declared default (Tekton `default`; Shipwright `default` for a string, `defaults` for an array). */
  default?: string | string[];
  /** A value the platform supplies (Shipwright's shp-* system parameters). */
  system?: boolean;
}

export interface WorkspaceDecl {
  name: string;
  optional: boolean;
  mountPath: string;
  readOnly: boolean;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type?: string };
}

export interface StepDecl {
  name: string;
  image: string;
  script?: string;
  command?: string[];
  args?: string[];
  env: Array<{ name: string; value: string }>;
  workingDir?: string;
  securityContext?: SecurityContext;
  volumeMounts: VolumeMount[];
}

export interface TaskModel {
  kind: DocKind;
  name: string;
  params: ParamDecl[];
  workspaces: WorkspaceDecl[];
  results: string[];
  /** Volumes by name. */
  volumes: string[];
  /** The ones that are not emptyDir (the only kind the step runner provides). */
  otherVolumes: string[];
  steps: StepDecl[];
}

/** Tekton's workspace root: workspaces mount at /workspace/NAME unless they say otherwise. */
export const workspaceRoot = '/workspace';

/** Shipwright's system parameters (docs/buildstrategies.md "System parameters"), all strings. */
export const shipwrightSystemParams = ['shp-source-root', 'shp-source-context', 'shp-output-image', 'shp-output-insecure', 'shp-output-directory'];
/** Shipwright's system results ("System results"). */
export const shipwrightSystemResults = ['shp-image-digest', 'shp-image-size', 'shp-error-reason', 'shp-error-message'];

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const strings = (x: unknown, what: string): string[] => {
  if (x === undefined) return [];
  if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw new Error(`${what}: a list of strings`);
  return x as string[];
};

export function kindOf(doc: unknown): DocKind {
  if (!isObj(doc)) throw new Error('not a YAML mapping');
  if (doc.apiVersion === 'tekton.dev/v1' && doc.kind === 'Task') return 'tekton-task';
  if (doc.apiVersion === 'shipwright.io/v1beta1' && (doc.kind === 'ClusterBuildStrategy' || doc.kind === 'BuildStrategy')) return 'shipwright-strategy';
  throw new Error(`unsupported document: apiVersion ${String(doc.apiVersion)}, kind ${String(doc.kind)}`);
}

export function parseYamlFile(file: string): unknown {
  return parse(readFileSync(file, 'utf8'));
}

function step(raw: unknown, template: Obj): StepDecl {
  if (!isObj(raw)) throw new Error('a step is not a mapping');
  // Tekton's stepTemplate: the step's own fields win; env is merged by name.
  const s: Obj = { ...template, ...raw };
  const env = new Map<string, string>();
  for (const e of [...((template.env as unknown[]) ?? []), ...((raw.env as unknown[]) ?? [])]) {
    if (!isObj(e) || typeof e.name !== 'string') throw new Error('env: entries need a name');
    env.set(e.name, typeof e.value === 'string' ? e.value : '');
  }
  if (typeof s.name !== 'string' || typeof s.image !== 'string') throw new Error('a step needs a name and an image');
  return {
    name: s.name,
    image: s.image,
    ...(typeof s.script === 'string' ? { script: s.script } : {}),
    ...(s.command !== undefined ? { command: strings(s.command, `${s.name}.command`) } : {}),
    ...(s.args !== undefined ? { args: strings(s.args, `${s.name}.args`) } : {}),
    env: [...env].map(([name, value]) => ({ name, value })),
    ...(typeof s.workingDir === 'string' ? { workingDir: s.workingDir } : {}),
    ...(isObj(s.securityContext) ? { securityContext: s.securityContext as SecurityContext } : {}),
    volumeMounts: ((s.volumeMounts as unknown[]) ?? []).map((m) => {
      if (!isObj(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') throw new Error(`${s.name as string}: volumeMounts need name and mountPath`);
      return { name: m.name, mountPath: m.mountPath, ...(m.readOnly === true ? { readOnly: true } : {}) };
    }),
  };
}

function param(raw: unknown, kind: DocKind): ParamDecl {
  if (!isObj(raw) || typeof raw.name !== 'string') throw new Error('a param needs a name');
  const type = raw.type === undefined ? 'string' : raw.type;
  if (type !== 'string' && type !== 'array' && type !== 'object') throw new Error(`param ${raw.name}: type ${String(type)}`);
  const def = kind === 'shipwright-strategy' && type === 'array' ? raw.defaults : raw.default;
  return { name: raw.name, type, ...(def !== undefined ? { default: def as string | string[] } : {}) };
}

/** The model of a parsed document (tests mutate documents before this to see the rules fail). */
export function taskModel(doc: unknown): TaskModel {
  const kind = kindOf(doc);
  const d = doc as Obj;
  const spec = isObj(d.spec) ? d.spec : {};
  const meta = isObj(d.metadata) ? d.metadata : {};
  const template = isObj(spec.stepTemplate) ? spec.stepTemplate : {};
  // Shipwright's volumes carry their source beside the name, as Kubernetes volumes do.
  const rawVolumes = ((spec.volumes as unknown[]) ?? []).map((v) => {
    if (!isObj(v) || typeof v.name !== 'string') throw new Error('a volume needs a name');
    return { name: v.name, emptyDir: isObj(v.emptyDir) };
  });
  const volumes = rawVolumes.map((v) => v.name);
  const otherVolumes = rawVolumes.filter((v) => !v.emptyDir).map((v) => v.name);
  if (kind === 'tekton-task') {
    return {
      kind,
      name: String(meta.name ?? ''),
      params: ((spec.params as unknown[]) ?? []).map((p) => param(p, kind)),
      workspaces: ((spec.workspaces as unknown[]) ?? []).map((w) => {
        if (!isObj(w) || typeof w.name !== 'string') throw new Error('a workspace needs a name');
        return { name: w.name, optional: w.optional === true, mountPath: typeof w.mountPath === 'string' ? w.mountPath : `${workspaceRoot}/${w.name}`, readOnly: w.readOnly === true };
      }),
      results: ((spec.results as unknown[]) ?? []).map((r) => (isObj(r) && typeof r.name === 'string' ? r.name : '')),
      volumes,
      otherVolumes,
      steps: ((spec.steps as unknown[]) ?? []).map((s) => step(s, template)),
    };
  }
  const declared = ((spec.parameters as unknown[]) ?? []).map((p) => param(p, kind));
  return {
    kind,
    name: String(meta.name ?? ''),
    params: [...declared, ...shipwrightSystemParams.filter((n) => !declared.some((p) => p.name === n)).map((name): ParamDecl => ({ name, type: 'string', system: true }))],
    workspaces: [{ name: 'source', optional: false, mountPath: `${workspaceRoot}/source`, readOnly: false }],
    results: [...shipwrightSystemResults],
    volumes,
    otherVolumes,
    steps: ((spec.steps as unknown[]) ?? []).map((s) => step(s, {})),
  };
}

export function readTaskModel(file: string): TaskModel {
  return taskModel(parseYamlFile(file));
}

// References, as Tekton's substitution finds them (pkg/substitution): $(params.NAME), $(params['NAME']),
// $(params["NAME"]), with [*] or [N] on an array; $(workspaces.NAME.path|bound|claim|volume); $(results.NAME.path).
export const paramRef = /\$\(params(?:\.([A-Za-z0-9_-]+)|\[(['"])([^'"]+)\2\])(\[\*\]|\[\d+\])?\)/g;
export const workspaceRef = /\$\(workspaces\.([A-Za-z0-9_-]+)\.(path|bound|claim|volume)\)/g;
export const resultRef = /\$\(results\.([A-Za-z0-9_-]+)\.path\)/g;
/** Anything that looks like a variable reference: what none of the above matches is malformed or unknown. */
export const anyRef = /\$\(([a-z]+)[.[][^)]*\)/g;

export interface ParamUse {
  name: string;
  /** '' for a whole value, '[*]' or '[N]'. */
  index: string;
  text: string;
}

export function paramUses(s: string): ParamUse[] {
  return [...s.matchAll(paramRef)].map((m) => ({ name: (m[1] ?? m[3])!, index: m[4] ?? '', text: m[0] }));
}

/** Every string of a step where Tekton substitutes variables, with where it is (for messages and array rules). */
export function stepStrings(s: StepDecl): Array<{ where: string; value: string; listItem: boolean }> {
  const out: Array<{ where: string; value: string; listItem: boolean }> = [{ where: 'image', value: s.image, listItem: false }];
  if (s.script !== undefined) out.push({ where: 'script', value: s.script, listItem: false });
  s.command?.forEach((v, i) => out.push({ where: `command[${i}]`, value: v, listItem: true }));
  s.args?.forEach((v, i) => out.push({ where: `args[${i}]`, value: v, listItem: true }));
  for (const e of s.env) out.push({ where: `env ${e.name}`, value: e.value, listItem: false });
  if (s.workingDir !== undefined) out.push({ where: 'workingDir', value: s.workingDir, listItem: false });
  return out;
}
