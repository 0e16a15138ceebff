// Runs the steps of a Tekton Task or a Shipwright build strategy, in order, each in a container shaped like the
// pod's (test/helpers/pod.ts), the way Tekton's pod would: one container per step from the step's image,
// variables substituted as Tekton substitutes them, the script written to /tekton/scripts and run as the
// container's command (its #! picks the shell; without one Tekton's `#!/bin/sh` + `set -e` is put first), the
// step's securityContext mapped to a pod profile, emptyDir volumes and /workspace shared by all steps as host
// temp dirs, workspaces as the host dirs given, results read back from /tekton/results. A failing step ends
// the run, as in Tekton. No cluster: what is tested is the YAML file itself, its scripts and the images.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PodHarness, type PodProfile, type PodResult, type PodVolume } from './pod.js';
import { readTaskModel, shipwrightSystemParams, workspaceRoot, type SecurityContext, type StepDecl, type TaskModel } from './task-model.js';

export type ParamValue = string | string[];

export interface RunTaskOptions {
  params?: Record<string, ParamValue>;
  /**
   * Images to run instead of the ones a step names, keyed by the parameter a step's image is (`ENGINE_IMAGE` for
   * `image: $(params.ENGINE_IMAGE)`) or by the reference after substitution. The parameter's value elsewhere
   * (e.g. BUILDER_IMAGE given to oci-s2i) is not changed.
   */
  images?: Record<string, string>;
  /** Host directories bound to the workspaces, by name; optional ones left out are unbound. */
  workspaces?: Record<string, string>;
  /** Run every step in this profile instead of the one its securityContext maps to (e.g. OpenShift's random UID). */
  profile?: PodProfile;
  /** Default host: the tests' registries listen on loopback. */
  network?: 'host' | 'none' | 'default';
  /** Per step; default 120 s. */
  timeoutMs?: number;
  /** A harness to run in (closed by its owner); default: one of its own, closed when the run ends. */
  harness?: PodHarness;
}

export interface StepRun {
  name: string;
  image: string;
  profile: PodProfile;
  result: PodResult;
}

export interface TaskRunResult {
  /** Results as written, byte for byte (a missing file is a missing key). */
  results: Record<string, string>;
  steps: StepRun[];
  /** The step that failed; the steps after it did not run. */
  failed?: StepRun;
}

const tektonPaths = { results: '/tekton/results', scripts: '/tekton/scripts', home: '/tekton/home' };

/** The pod profile a step's securityContext asks for (restricted: what Pod Security "restricted" requires). */
export function profileFor(sc: SecurityContext | undefined): { profile: PodProfile; user?: string } {
  const user = sc?.runAsUser !== undefined ? `${sc.runAsUser}${sc.runAsGroup !== undefined ? `:${sc.runAsGroup}` : ''}` : undefined;
  const withUser = <T extends object>(o: T): T & { user?: string } => (user !== undefined ? { ...o, user } : o);
  if (sc?.privileged) return withUser({ profile: 'privileged' as const });
  const restricted = sc?.runAsNonRoot === true && sc.allowPrivilegeEscalation === false && (sc.capabilities?.drop ?? []).includes('ALL')
    && sc.seccompProfile?.type === 'RuntimeDefault' && !(sc.capabilities?.add?.length);
  if (restricted) return withUser({ profile: 'restricted' as const });
  if (sc && Object.keys(sc).some((k) => k !== 'runAsUser' && k !== 'runAsGroup')) {
    throw new Error(`securityContext ${JSON.stringify(sc)}: only the restricted one, privileged, or none is mapped to a pod profile`);
  }
  return withUser({ profile: 'root-default' as const });
}

/** Tekton's variable substitution over one string: every reference must resolve (an unknown one is an error, as the webhook says). */
export class Substitution {
  constructor(
    private readonly params: Map<string, ParamValue>,
    private readonly vars: Map<string, string>,
  ) {}

  string(s: string, where: string): string {
    return s.replace(/\$\((params(?:\.[A-Za-z0-9_-]+|\[(['"])[^'"]+\2\])(?:\[\*\]|\[\d+\])?|[a-z]+\.[A-Za-z0-9_.-]+)\)/g, (ref, body: string) => {
      if (body.startsWith('params')) {
        const m = /^params(?:\.([A-Za-z0-9_-]+)|\[(['"])([^'"]+)\2\])(\[\*\]|\[(\d+)\])?$/.exec(body)!;
        const name = (m[1] ?? m[3])!;
        const v = this.params.get(name);
        if (v === undefined) throw new Error(`${where}: ${ref}: no such param`);
        if (m[4] === '[*]') throw new Error(`${where}: ${ref}: an array is expanded only as a whole command/args item`);
        if (m[5] !== undefined) {
          if (!Array.isArray(v)) throw new Error(`${where}: ${ref}: not an array`);
          const item = v[Number(m[5])];
          if (item === undefined) throw new Error(`${where}: ${ref}: index out of range`);
          return item;
        }
        if (Array.isArray(v)) throw new Error(`${where}: ${ref}: an array param used as a string`);
        return v;
      }
      const v = this.vars.get(body);
      if (v === undefined) throw new Error(`${where}: ${ref}: unknown variable`);
      return v;
    });
  }

  /** A command or args list: an item that is exactly `$(params.X[*])` becomes the array's items. */
  list(items: string[], where: string): string[] {
    return items.flatMap((item, i) => {
      const m = /^\$\(params(?:\.([A-Za-z0-9_-]+)|\[(['"])([^'"]+)\2\])\[\*\]\)$/.exec(item);
      if (m) {
        const v = this.params.get((m[1] ?? m[3])!);
        if (!Array.isArray(v)) throw new Error(`${where}[${i}]: ${item}: not an array param`);
        return v;
      }
      return [this.string(item, `${where}[${i}]`)];
    });
  }
}

/** Param values: the given ones, else the declared defaults; a missing value is an error, as for a TaskRun. */
function paramValues(model: TaskModel, given: Record<string, ParamValue>): Map<string, ParamValue> {
  const out = new Map<string, ParamValue>();
  for (const p of model.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) throw new Error(`param ${p.name}: no value and no default`);
    if (p.type === 'array' !== Array.isArray(v)) throw new Error(`param ${p.name}: a ${p.type} param given ${JSON.stringify(v)}`);
    out.set(p.name, v);
  }
  for (const k of Object.keys(given)) if (!out.has(k)) throw new Error(`param ${k}: not declared by ${model.name}`);
  return out;
}

/** The run's own directories: results, scripts, home, /workspace and each emptyDir, all under the harness's temp dirs. */
function runDirs(pods: PodHarness, model: TaskModel): { results: string; scripts: string; home: string; workspace: string; volumes: Map<string, string> } {
  const scripts = pods.tempDir('scripts-');
  chmodSync(scripts, 0o755);
  return {
    results: pods.tempDir('results-'),
    scripts,
    home: pods.tempDir('home-'),
    workspace: pods.tempDir('workspace-'),
    volumes: new Map(model.volumes.map((v) => [v, pods.tempDir(`volume-${v}-`)])),
  };
}

async function runModel(model: TaskModel, opts: RunTaskOptions): Promise<TaskRunResult> {
  if (model.otherVolumes.length > 0) throw new Error(`volumes ${model.otherVolumes.join(', ')}: only emptyDir volumes are run here`);
  const pods = opts.harness ?? new PodHarness();
  try {
    const params = paramValues(model, opts.params ?? {});
    const dirs = runDirs(pods, model);
    const vars = new Map<string, string>();
    const mounts: PodVolume[] = [
      { host: dirs.workspace, container: workspaceRoot },
      { host: dirs.results, container: tektonPaths.results },
      { host: dirs.home, container: tektonPaths.home },
      { host: dirs.scripts, container: tektonPaths.scripts, readOnly: true },
    ];
    for (const w of model.workspaces) {
      const host = opts.workspaces?.[w.name];
      if (host === undefined && !w.optional) throw new Error(`workspace ${w.name}: not bound`);
      vars.set(`workspaces.${w.name}.bound`, String(host !== undefined));
      vars.set(`workspaces.${w.name}.path`, host !== undefined ? w.mountPath : '');
      vars.set(`workspaces.${w.name}.claim`, '');
      vars.set(`workspaces.${w.name}.volume`, host !== undefined ? `ws-${w.name}` : '');
      if (host !== undefined) mounts.push({ host, container: w.mountPath, readOnly: w.readOnly });
    }
    for (const r of model.results) vars.set(`results.${r}.path`, `${tektonPaths.results}/${r}`);
    for (const k of Object.keys(opts.workspaces ?? {})) if (!model.workspaces.some((w) => w.name === k)) throw new Error(`workspace ${k}: not declared`);
    vars.set('context.task.name', model.name);
    vars.set('context.taskRun.name', `${model.name}-run`);
    const sub = new Substitution(params, vars);

    const runs: StepRun[] = [];
    for (const [i, step] of model.steps.entries()) {
      const run = await runStep(pods, step, i, sub, mounts, dirs, opts);
      runs.push(run);
      if (run.result.code !== 0 || run.result.timedOut) return { results: readResults(model, dirs.results), steps: runs, failed: run };
    }
    return { results: readResults(model, dirs.results), steps: runs };
  } finally {
    if (!opts.harness) pods.close();
  }
}

async function runStep(
  pods: PodHarness, step: StepDecl, index: number, sub: Substitution, shared: PodVolume[],
  dirs: ReturnType<typeof runDirs>, opts: RunTaskOptions,
): Promise<StepRun> {
  const where = `step ${step.name}`;
  const resolved = sub.string(step.image, `${where} image`);
  const paramImage = /^\$\(params\.([A-Za-z0-9_-]+)\)$/.exec(step.image)?.[1];
  const image = (paramImage !== undefined ? opts.images?.[paramImage] : undefined) ?? opts.images?.[resolved] ?? resolved;
  let command: string[];
  const args = sub.list(step.args ?? [], `${where} args`);
  if (step.script !== undefined) {
    if (step.command) throw new Error(`${where}: script and command cannot both be set`);
    let text = sub.string(step.script, `${where} script`);
    if (!text.startsWith('#!')) text = `#!/bin/sh\nset -e\n${text}`;
    const file = `script-${index}-${step.name}`;
    writeFileSync(path.join(dirs.scripts, file), text, { mode: 0o755 });
    command = [`${tektonPaths.scripts}/${file}`, ...args];
  } else {
    const cmd = sub.list(step.command ?? [], `${where} command`);
    // Without a command Tekton runs the image's entrypoint with the args: the harness cannot ask podman for
    // only the args, so a step must name its command.
    if (cmd.length === 0) throw new Error(`${where}: needs a script or a command`);
    command = [...cmd, ...args];
  }
  const env = Object.fromEntries(step.env.map((e) => [e.name, sub.string(e.value, `${where} env ${e.name}`)]));
  const volumes = [...shared];
  for (const m of step.volumeMounts) {
    const host = dirs.volumes.get(m.name);
    if (host === undefined) throw new Error(`${where}: volumeMount ${m.name}: no such volume`);
    volumes.push({ host, container: m.mountPath, ...(m.readOnly ? { readOnly: true } : {}) });
  }
  const mapped = profileFor(step.securityContext);
  const profile = opts.profile ?? mapped.profile;
  const result = await pods.run({
    profile,
    image,
    command,
    ...(mapped.user !== undefined && opts.profile === undefined ? { user: mapped.user } : {}),
    volumes,
    env,
    workdir: step.workingDir !== undefined ? sub.string(step.workingDir, `${where} workingDir`) : workspaceRoot,
    network: opts.network ?? 'host',
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  return { name: step.name, image, profile, result };
}

function readResults(model: TaskModel, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of model.results) {
    const f = path.join(dir, r);
    if (existsSync(f)) out[r] = readFileSync(f, 'utf8');
  }
  return out;
}

/** Runs a Tekton Task file as a TaskRun with these params and workspaces would. */
export async function runTektonTask(file: string, opts: RunTaskOptions = {}): Promise<TaskRunResult> {
  const model = readTaskModel(file);
  if (model.kind !== 'tekton-task') throw new Error(`${file}: not a Tekton Task`);
  return runModel(model, opts);
}

export interface ShipwrightRunOptions extends RunTaskOptions {
  /** Host directory of the Build's source (Shipwright clones it to /workspace/source). */
  source: string;
  /** Build.spec.source.contextDir. */
  contextDir?: string;
  /** Build.spec.output.image. */
  outputImage: string;
  /** Build.spec.output.insecure. */
  insecure?: boolean;
}

/** Runs a Shipwright build strategy file as a BuildRun would: the shp-* system params filled from the Build. */
export async function runShipwrightStrategy(file: string, opts: ShipwrightRunOptions): Promise<TaskRunResult> {
  const model = readTaskModel(file);
  if (model.kind !== 'shipwright-strategy') throw new Error(`${file}: not a Shipwright build strategy`);
  const root = `${workspaceRoot}/source`;
  const system: Record<string, string> = {
    'shp-source-root': root,
    'shp-source-context': opts.contextDir ? path.posix.join(root, opts.contextDir) : root,
    'shp-output-image': opts.outputImage,
    'shp-output-insecure': String(opts.insecure ?? false),
    'shp-output-directory': `${workspaceRoot}/output-image`,
  };
  for (const k of Object.keys(opts.params ?? {})) if (shipwrightSystemParams.includes(k)) throw new Error(`param ${k}: a system parameter, set from the Build`);
  mkdirSync(opts.source, { recursive: true });
  return runModel(model, { ...opts, params: { ...system, ...(opts.params ?? {}) }, workspaces: { source: opts.source } });
}
