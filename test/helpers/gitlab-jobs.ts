// Runs jobs of a .gitlab-ci.yml the way a GitLab Runner's Kubernetes executor would, each in a container shaped
// like a restricted pod (test/helpers/pod.ts): the job's image (variables expanded, as the runner expands them),
// the global and job variables plus the predefined CI_* ones given, the project directory as a volume shared by
// the jobs (so artifacts written by one are there for the next, as the runner restores them), `script` run by
// the image's sh with `set -e`, then `after_script` in a shell of its own, whatever the script's outcome.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { PodHarness, PodProfile, PodResult } from './pod.js';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

export interface GitlabRunOptions {
  /** Predefined variables (CI_PROJECT_DIR, CI_REGISTRY, …); CI_PROJECT_DIR is where the project volume goes. */
  predefined: Record<string, string> & { CI_PROJECT_DIR: string };
  /** Host directory of the project (the checkout, and where artifacts stay between jobs). */
  projectDir: string;
  /** Images to run instead, keyed by the variable a job's image is (`$BUILDER_IMAGE`) or by the expanded reference. */
  images?: Record<string, string>;
  /** Variables that override the file's (as CI/CD settings do). */
  variables?: Record<string, string>;
  profile?: PodProfile;
  harness: PodHarness;
}

export interface GitlabJobRun {
  job: string;
  image: string;
  script: PodResult;
  afterScript?: PodResult;
}

/** $VAR and ${VAR} from `env`; unknown ones are left as written (the runner leaves them to the shell). */
export function expandVariables(s: string, env: Record<string, string>): string {
  return s.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (m, a?: string, b?: string) => env[(a ?? b)!] ?? m);
}

function lines(x: unknown, what: string): string[] {
  if (x === undefined) return [];
  if (!Array.isArray(x) || x.some((l) => typeof l !== 'string')) throw new Error(`${what}: a list of strings`);
  return x as string[];
}

function variables(x: unknown, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(x)) return out;
  for (const [k, v] of Object.entries(x)) {
    const value = isObj(v) ? String(v.value ?? '') : String(v);
    out[k] = expandVariables(value, { ...env, ...out });
  }
  return out;
}

export function readGitlabCi(file: string): Obj {
  const doc = parse(readFileSync(file, 'utf8')) as unknown;
  if (!isObj(doc)) throw new Error(`${file}: not a YAML mapping`);
  return doc;
}

/** Runs `jobs` in order; stops after a job whose script fails (its after_script still runs), as a pipeline would. */
export async function runGitlabJobs(file: string, jobs: string[], o: GitlabRunOptions): Promise<GitlabJobRun[]> {
  const doc = readGitlabCi(file);
  const scripts = o.harness.tempDir('gitlab-scripts-');
  const runs: GitlabJobRun[] = [];
  for (const name of jobs) {
    const job = doc[name];
    if (!isObj(job)) throw new Error(`${file}: no job ${name}`);
    const global = variables(doc.variables, o.predefined);
    const env = { ...o.predefined, ...global, ...(o.variables ?? {}) };
    Object.assign(env, variables(job.variables, env), o.variables ?? {});
    const rawImage = isObj(job.image) ? String(job.image.name) : String(job.image ?? '');
    const expanded = expandVariables(rawImage, env);
    const image = o.images?.[rawImage] ?? o.images?.[expanded] ?? expanded;
    const run = async (kind: string, body: string[]): Promise<PodResult> => {
      const f = path.join(scripts, `${name}-${kind}.sh`);
      writeFileSync(f, `set -e\n${body.join('\n')}\n`, { mode: 0o644 });
      return o.harness.run({
        profile: o.profile ?? 'restricted',
        image,
        // The runner overrides the entrypoint with `entrypoint: [""]` and feeds the script to a shell.
        command: ['sh', `/gitlab-scripts/${path.basename(f)}`],
        volumes: [{ host: o.projectDir, container: o.predefined.CI_PROJECT_DIR }, { host: scripts, container: '/gitlab-scripts', readOnly: true }],
        env,
        workdir: o.predefined.CI_PROJECT_DIR,
        network: 'host',
        timeoutMs: 120_000,
      });
    };
    const script = await run('script', lines(job.script, `${name}.script`));
    const after = lines(job.after_script, `${name}.after_script`);
    const r: GitlabJobRun = { job: name, image, script, ...(after.length ? { afterScript: await run('after', after) } : {}) };
    runs.push(r);
    if (script.code !== 0) break;
  }
  return runs;
}
