// `build --as-dockerfile PATH`: instead of building, write a Containerfile + context for buildah/podman.
// Only the builder's manifest and config are fetched (labels, USER, Env); no layer, no sandbox, no namespace.
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { workingDirOf } from '../oci/image-path.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { buildEnvironment } from '../s2i/environment.js';
import { resolveScripts, type ScriptName } from '../s2i/scripts.js';
import { planFlags, planS2I, outputLabels } from '../s2i/plan.js';
import { makeSourceFilter } from '../s2i/ignore.js';
import { Label, mergeLabels } from '../s2i/labels.js';
import { writeAsDockerfile } from '../s2i/as-dockerfile.js';
import { makeDirs } from '../sys/make-dirs.js';
import { openEngine, type EngineOptions } from './context.js';
import { injectionsUnder, type Injection } from './injections.js';
import { pullImage } from './pull.js';
import { prepareSource, type PreparedSource } from './source.js';
import type { BuildOptions } from './options.js';

type Shared = 'ref' | 'contextDir' | 'platform' | 'pullPolicy' | 'env' | 'envFiles' | 'scriptsUrl' | 'imageScriptsUrl' | 'copy' | 'submodules' | 'destination' | 'assembleUser' | 'allowedUids' | 'labels' | 'applicationName' | 'description' | 'exclude' | 'keepSymlinks';

export interface AsDockerfileOptions extends EngineOptions, Pick<BuildOptions, Shared> {
  /** The application; none for `generate` (s2i's: the Containerfile's upload/src is left empty, to be filled). */
  source?: string;
  /** Path of the Containerfile to write; its directory becomes the build context. */
  asDockerfile: string;
  /** A registry image: the Containerfile's FROM. */
  builder: Reference;
  /** BUILDER as the user wrote it (label io.openshift.s2i.build.image); default: the full reference. */
  builderName?: string;
  /** The TAG as written, if any. */
  tag?: string;
  /** --inject SRC:DST (parsed; a relative or empty DST is under the builder's WORKDIR). */
  injections?: Injection[];
  /** --incremental: save-artifacts is looked for, and the previous image (`--incremental-from`, else TAG) as written. */
  incremental?: { previousImage?: string };
}

export interface AsDockerfileResult {
  containerfile: string;
  files: number;
  bytes: number;
}

/** `--as-dockerfile PATH`: PATH itself, or `PATH/Dockerfile` when PATH ends in `/` (as s2i) or is a directory. */
export function containerfilePath(given: string): string {
  const abs = path.resolve(given);
  let dir = given.endsWith('/');
  try {
    dir ||= statSync(abs, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    // ENOTDIR and the like: not a directory; making its parent reports the problem.
  }
  return dir ? path.join(abs, 'Dockerfile') : abs;
}

/**
 * The labels s2i's Dockerfile adds for `--scripts-url` and `--destination` (over generated and --label ones), and
 * `--assemble-user`, so the image says where its scripts, uploads and assemble user are when it is used as a
 * builder again. A `file://` scripts URL names a directory of this host, which means nothing in the image (and
 * a builder label naming one is refused): it is not written.
 */
function flagLabels(o: Pick<AsDockerfileOptions, 'scriptsUrl' | 'destination' | 'assembleUser'>): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.scriptsUrl && !o.scriptsUrl.startsWith('file:')) out[Label.scriptsUrl] = o.scriptsUrl;
  if (o.destination) out[Label.destination] = o.destination;
  if (o.assembleUser) out[Label.assembleUser] = o.assembleUser;
  return out;
}

/** Where s2i's --as-dockerfile expects the builder's scripts when nothing else names them. */
const defaultImageScriptsDir = '/usr/libexec/s2i';

export async function writeBuildAsDockerfile(opts: AsDockerfileOptions): Promise<AsDockerfileResult> {
  const builderRef = opts.builder;
  const engine = await openEngine(opts);
  const work = await mkdtemp(path.join(engine.root, 'as-dockerfile-'));
  try {
    const source: PreparedSource = opts.source === undefined ? await noSource(work) : await prepareSource({ source: opts.source, ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}), submodules: opts.submodules !== false, copy: opts.copy === true, onWarning: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) }, work);
    const builder = await pullImage(engine, builderRef, { metadataOnly: true, policy: opts.pullPolicy, ...(opts.platform ? { platform: opts.platform } : {}) });
    const cfg = builder.config.config ?? {};
    const labels = cfg.Labels ?? {};
    const env = await buildEnvironment({ sourceDir: source.dir, env: opts.env, envFiles: opts.envFiles });
    // The same plan as a build's (s2i/plan.ts): allowed-UIDs verdict, destination, users, added labels.
    const plan = planS2I(
      { labels, env: cfg.Env ?? [], user: cfg.User },
      {
        builderName: opts.builderName ?? formatReference(builderRef),
        tag: opts.tag,
        source,
        ...planFlags(opts),
        env,
      },
    );
    const optional: ScriptName[] = opts.incremental ? ['save-artifacts'] : [];
    const scripts = await resolveScripts({ ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}), ...(opts.imageScriptsUrl ? { imageScriptsUrl: opts.imageScriptsUrl } : {}), sourceDir: source.dir, imageLabels: labels, imageEnv: cfg.Env ?? [], needed: [], optional: ['assemble', 'run', ...optional] });
    // s2i's --as-dockerfile trusts the builder for what no place provides: its default scripts directory.
    for (const name of ['assemble', 'run'] as const) {
      if (scripts.has(name)) continue;
      const p = path.posix.join(defaultImageScriptsDir, name);
      opts.onProgress?.({ type: 'log', level: 'warn', message: `no ${name} script found (source .s2i/bin, the scripts URLs, the builder's labels): the Containerfile runs ${p}, which the builder must have (as s2i)` });
      scripts.set(name, { kind: 'image', path: p });
    }
    const containerfile = containerfilePath(opts.asDockerfile);
    // bounded: Node's recursive mkdir spins under /proc
    await makeDirs(path.dirname(containerfile)).catch((e: NodeJS.ErrnoException) => {
      throw new S2IError('ERR_BAD_PATH', `--as-dockerfile ${opts.asDockerfile}: cannot create the directory ${path.dirname(containerfile)} (${e.code ?? e.message}); pick another path`, { cause: e });
    });
    const previous = opts.incremental?.previousImage;
    const workdir = (opts.injections ?? []).length > 0 ? workingDirOf(builder.config, 'the builder image') || '/' : '/';
    const injections = injectionsUnder(opts.injections ?? [], workdir);
    const r = await writeAsDockerfile({
      containerfile,
      builderImage: formatReference(builderRef),
      destination: plan.destination,
      assembleUser: plan.assembleUser,
      imageUser: plan.imageUser,
      labels: mergeLabels(outputLabels(plan, {}), flagLabels(opts)),
      env,
      scripts,
      ...(previous ? { incremental: { previousImage: previous } } : {}),
      ...(injections.length ? { injections } : {}),
      sourceDir: source.dir,
      filter: await makeSourceFilter(source.dir, opts.exclude),
      keepSymlinks: opts.keepSymlinks ?? false,
    });
    return { containerfile, files: r.files, bytes: r.bytes };
  } finally {
    await rm(work, { recursive: true, force: true });
    await engine.close();
  }
}

/** `generate`: no application; an empty directory stands for it (no source labels: an empty location is omitted). */
async function noSource(work: string): Promise<PreparedSource> {
  const dir = path.join(work, 'no-source');
  await mkdir(dir);
  return { dir, location: '', isGit: false };
}
