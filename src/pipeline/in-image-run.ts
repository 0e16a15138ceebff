// Runs a script of an in-image build (in-image.ts) as a plain child process of the engine, in this container:
// no runtime, no namespace. Its environment is the builder's (the plan's assemble environment) over the one the
// container gave the engine, without the engine's own variables; it runs in its own process group, so that an
// interrupted build (SIGINT/SIGTERM) ends it with everything it started, and it is killed when the engine exits.
import { spawn } from 'node:child_process';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import type { RunResult } from '../sandbox/runtime.js';
import type { ResolvedUser } from '../s2i/user.js';

export interface DirectRunInput {
  args: string[];
  /** NAME=VALUE strings: laid over the engine's environment. */
  env: string[];
  cwd: string;
  /** Run as this user (the engine is root); default: as the engine. */
  user?: ResolvedUser;
  signal?: AbortSignal;
  onProgress: ProgressSink;
}

/** The engine's own variables, never passed to a build script. */
const ENGINE_ENV = /^(OCI_S2I_|NODE_|UV_THREADPOOL_SIZE$|REGISTRY_AUTH_FILE$)/;

/** Lines kept for the error message of a failed script. */
const TAIL_LINES = 20;

export function scriptEnvironment(over: readonly string[], base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !ENGINE_ENV.test(k)) env[k] = v;
  for (const e of over) {
    const i = e.indexOf('=');
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

export async function runDirect(input: DirectRunInput): Promise<RunResult> {
  input.signal?.throwIfAborted();
  const child = spawn(input.args[0]!, input.args.slice(1), {
    cwd: input.cwd,
    env: scriptEnvironment(input.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: killed as a whole
    ...(input.user ? { uid: input.user.uid, gid: input.user.gid } : {}),
  });
  const killGroup = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  };
  const tail: string[] = [];
  let partial = '';
  const keep = (stream: 'stdout' | 'stderr', data: Buffer) => {
    const lines = (partial + data.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    tail.push(...lines);
    if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
    input.onProgress({ type: 'output', stream, data });
  };
  child.stdout.on('data', (d: Buffer) => keep('stdout', d));
  child.stderr.on('data', (d: Buffer) => keep('stderr', d));
  input.signal?.addEventListener('abort', killGroup, { once: true });
  process.once('exit', killGroup);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (e) => reject(new S2IError('ERR_RUNTIME_START', `cannot start ${input.args[0]}: ${e.message}`, { cause: e })));
      child.once('close', (c, s) => resolve({ code: c, signal: s }));
    });
    if (partial) tail.push(partial);
    // What the script left running in its group (a daemon it started) does not outlive the step.
    killGroup();
    return { exitCode: code ?? 128, signal, tail };
  } finally {
    input.signal?.removeEventListener('abort', killGroup);
    process.removeListener('exit', killGroup);
  }
}
