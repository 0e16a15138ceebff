// libuv's thread pool runs Node's file system, crypto and zlib work and our native deflate (parallel gzip's
// blocks). It has 4 threads unless UV_THREADPOOL_SIZE says otherwise, read once, when the pool first starts —
// which in a Node process is before any of our code could set it (loading ES modules reads files on the pool).
// So the launchers set it for the Node processes they start: bin/oci-s2i (the shell launcher) and the Node
// launchers that start the namespaced CLI (cli/launch.ts, sandbox/namespace.ts). No imports but node:os: the
// launcher loads it before anything else.
import { availableParallelism } from 'node:os';

export const POOL_SIZE_ENV = 'UV_THREADPOOL_SIZE';

/** libuv's own ceiling for the pool. */
const MAX_POOL = 1024;

/**
 * `env` with UV_THREADPOOL_SIZE set to the number of cores when there are more than libuv's default 4 and the
 * caller has not set it: parallel gzip then uses every core. A value the caller set is kept as it is.
 */
export function withPoolSize(env: NodeJS.ProcessEnv, cores: number = availableParallelism()): NodeJS.ProcessEnv {
  if (env[POOL_SIZE_ENV] !== undefined && env[POOL_SIZE_ENV] !== '') return env;
  if (!(cores > 4)) return env;
  return { ...env, [POOL_SIZE_ENV]: String(Math.min(cores, MAX_POOL)) };
}
