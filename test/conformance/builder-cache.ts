// The fake builders of sti-fake.ts are built by buildah once per checkout, not once per test file: each image
// is kept in build/test-cache/sti-fake/<key> as a `dir:` image (its manifest and config as buildah wrote them,
// docker format, so ONBUILD survives), where <key> hashes its Dockerfile, its build context and its parent's key.
// A test file copies the images it needs into its own registry with skopeo.
//
// The Dockerfiles of sti-fake and of the images FROM it name the port of the scripts server, so their keys
// depend on that port: a file reuses the port of an earlier run for which most of its images are cached when it
// can still bind it, and picks a new free port when it cannot (another file holds it: a new set of images is
// built for the new port); a file none of whose images names the port takes a fresh one. Holding the port is what keeps two files from building the same port's images at once; the images that
// do not depend on the port (busybox, the scripts images) are built under a lock file (pid inside; a dead
// holder's lock is taken over): one file builds, the others wait for it. An entry is written in a temp dir and
// renamed into place, so a killed build never leaves a half-written image.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../helpers/cli.js';

const run = promisify(execFile);
const cacheRoot = path.join(projectRoot, 'build', 'test-cache', 'sti-fake');

/** Listens on `port` of 127.0.0.1; false when the port is taken. */
function listenOn(server: http.Server, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES') resolve(false);
      else reject(e);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

/**
 * Binds the scripts server to a port. With `cached` (how many of the caller's images are cached for a port), the
 * port of an earlier run with the most of them, when it is free, else a new free port (remembered for later runs);
 * without (no image of the caller names the port), a new free port, not remembered.
 */
export async function listenScriptsServer(server: http.Server, cached: ((port: number) => number) | null): Promise<number> {
  mkdirSync(cacheRoot, { recursive: true });
  const known = cached
    ? readdirSync(cacheRoot)
        .map((n) => /^port-(\d+)$/.exec(n)?.[1])
        .filter((p): p is string => p !== undefined)
        .map((p) => ({ port: Number(p), hits: cached(Number(p)) }))
        .sort((a, b) => b.hits - a.hits || a.port - b.port)
    : [];
  for (const k of known) if (await listenOn(server, k.port)) return k.port;
  if (!(await listenOn(server, 0))) throw new Error('the scripts server found no free port');
  const port = (server.address() as { port: number }).port;
  if (cached) writeFileSync(path.join(cacheRoot, `port-${port}`), '');
  return port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding `lock` (a file created exclusively with our pid in it); waits while a live process holds it. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(lock, 'utf8').trim() || '0');
      // An empty file: its holder is between creating and writing it; wait for the pid like for a live one.
      if (holder > 0 && !alive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is still held by pid ${holder} after 10 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Per private buildah store (its runner function): the keys of the images already in it. */
const loaded = new WeakMap<object, Set<string>>();

export interface CachedImage {
  /** The `dir:` image. */
  dir: string;
  key: string;
}

export interface ImageRecipe {
  /** Local name buildah tags the result with (what the Dockerfiles of the images FROM it name). */
  local: string;
  /** The build context: file name → content (Dockerfile included) and mode. */
  files: Record<string, { body: string | Buffer; mode?: number }>;
  parent?: { local: string; image: CachedImage };
}

/** Where the recipe's image is (or will be) in the cache: its key hashes the name, the context and the parent's key. */
export function cacheEntry(recipe: ImageRecipe): CachedImage {
  const h = createHash('sha256');
  h.update(JSON.stringify({ local: recipe.local, parent: recipe.parent?.image.key ?? null }));
  for (const [n, f] of Object.entries(recipe.files).sort(([a], [b]) => a.localeCompare(b))) {
    h.update(`\0${n}\0${f.mode ?? 0o644}\0`);
    h.update(f.body);
  }
  const key = h.digest('hex');
  return { dir: path.join(cacheRoot, key), key };
}

/**
 * The image the recipe describes, from the cache, else built with buildah (`buildah` runs in the caller's private
 * store; `ctxDir` is a fresh directory for the context) and stored in the cache.
 */
export async function cachedImage(recipe: ImageRecipe, ctxDir: string, buildah: (...args: string[]) => Promise<string>): Promise<CachedImage> {
  const { dir, key } = cacheEntry(recipe);
  if (existsSync(dir)) return { dir, key };
  mkdirSync(cacheRoot, { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    if (existsSync(dir)) return { dir, key };
    for (const [n, f] of Object.entries(recipe.files)) {
      mkdirSync(path.dirname(path.join(ctxDir, n)), { recursive: true });
      writeFileSync(path.join(ctxDir, n), f.body, { mode: f.mode ?? 0o644 });
    }
    const inStore = loaded.get(buildah) ?? new Set<string>();
    loaded.set(buildah, inStore);
    if (recipe.parent && !inStore.has(recipe.parent.image.key)) {
      const id = await buildah('pull', '-q', `dir:${recipe.parent.image.dir}`);
      await buildah('tag', id.split('\n').pop()!, recipe.parent.local);
      inStore.add(recipe.parent.image.key);
    }
    // ONBUILD needs the docker format (OCI image configs have no OnBuild field).
    await buildah('bud', '--isolation', 'chroot', '-q', '--pull-never', '--format', 'docker', '-f', path.join(ctxDir, 'Dockerfile'), '-t', recipe.local, ctxDir);
    const tmp = path.join(cacheRoot, `tmp-${process.pid}-${key.slice(0, 12)}`);
    rmSync(tmp, { recursive: true, force: true });
    await buildah('push', '-q', recipe.local, `dir:${tmp}`);
    renameSync(tmp, dir);
    inStore.add(key);
    return { dir, key };
  });
}

/** Copies a cached image into a registry (plain HTTP) under `ref`. */
export async function pushCached(image: CachedImage, ref: string): Promise<void> {
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `dir:${image.dir}`, `docker://${ref}`]);
}
