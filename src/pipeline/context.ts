// What every build step shares: the store, the layer cache, the registry client, progress and cancellation.
import os from 'node:os';
import path from 'node:path';
import { BlobStore } from '../store/blob-store.js';
import { LayerCache } from '../store/layer-cache.js';
import { prepareStoreRoot } from '../store/store-paths.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { noProgress, type ProgressSink } from '../events.js';
import { loadPolicy, type LoadedPolicy, type PolicyFileOptions } from '../sign/policy-files.js';

export interface EngineOptions {
  /**
   * Cache root; default $XDG_CACHE_HOME/oci-s2i or ~/.cache/oci-s2i. Made private (0700) when opened: the unpacked
   * layers and build dirs below it hold setuid files and devices (store/store-root.ts).
   */
  root?: string;
  registry?: Omit<RegistryClientOptions, 'onProgress' | 'signal'>;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  /**
   * The signature policy's files (`--signature-policy`, `--registries.d`; containers-policy.json(5)): given, every
   * image pulled is checked against the policy before anything of it runs (sign/verify.ts).
   */
  policy?: PolicyFileOptions;
  /** The policy `policy` names, read already by a caller that had to read it before the store root existed
   *  (`{ policy: undefined }`: none applies); `policy` is then not read again. */
  loadedPolicy?: { policy: LoadedPolicy | undefined };
}

export interface Engine {
  root: string;
  store: BlobStore;
  cache: LayerCache;
  client: RegistryClient;
  onProgress: ProgressSink;
  signal: AbortSignal;
  /** The policy every pulled image must satisfy (absent: no policy file exists and none was named). */
  policy?: LoadedPolicy;
  close(): Promise<void>;
}

export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'oci-s2i');
}

export async function openEngine(opts: EngineOptions = {}): Promise<Engine> {
  const root = path.resolve(opts.root ?? defaultRoot());
  const onProgress = opts.onProgress ?? noProgress;
  const signal = opts.signal ?? new AbortController().signal;
  // Read and checked before anything else: a policy that cannot be used fails the command before any pull.
  const policy = opts.loadedPolicy ? opts.loadedPolicy.policy : opts.policy ? await loadPolicy(opts.policy) : undefined;
  await prepareStoreRoot(root);
  const store = await BlobStore.open(root);
  const cache = await LayerCache.open(root);
  const client = new RegistryClient({ ...opts.registry, onProgress, signal });
  return {
    root,
    store,
    cache,
    client,
    onProgress,
    signal,
    ...(policy ? { policy } : {}),
    async close() {
      await client.close();
    },
  };
}
