// --as-dockerfile (S2I-CONTRACT.md): a Containerfile + context that `buildah bud` / `podman build` turns into
// the same application image. Differences from the reference, on purpose: scripts are chosen per script (so
// .s2i/bin overrides apply even when the builder label is image://), RUN/CMD use exec form, the output image
// gets the builder's USER back after assemble, and LABEL/ENV values are quoted so `$`, `"` and `\` survive.

import { chmod, copyFile, cp, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { type ScriptName, type ScriptSource, scriptPathInImage, materializeScripts } from './scripts.js';
import { copySource, type SourceFilter } from './ignore.js';
import { destinationPaths } from './destination.js';

export interface ContainerfileInput {
  builderImage: string;
  /** Upload destination inside the image (resolveDestination). */
  destination: string;
  /** User assemble runs as ('' = root). A `user:group` spec is used as given for --chown. */
  assembleUser: string;
  /** The builder's USER, restored after assemble so the output image runs as the builder intended. */
  imageUser?: string;
  /** Final label set (builder labels are inherited; pass generated + --label here). */
  labels: Record<string, string>;
  env: Array<[string, string]>;
  scripts: Map<ScriptName, ScriptSource>;
  /** Previous image for an incremental build; ignored without a save-artifacts script. */
  incremental?: { previousImage: string };
  /** Context-relative directory holding src/ and scripts/ (default "upload"). */
  uploadDir?: string;
  /**
   * --inject, staged under `<upload>/injections/<n>`: bound into the assemble RUN, copied to `destination`
   * (a directory's contents, or the file itself), removed again in the same RUN, so in no layer.
   */
  injections?: StagedInjection[];
}

export interface StagedInjection {
  destination: string;
  /** The source is a single file (copied to `destination` itself). */
  file: boolean;
  /** Relative paths of the files and links of a directory source, and of its directories. */
  files: string[];
  dirs: string[];
}

/**
 * Where injection n is bound during the assemble RUN: under /dev, which the RUN's container has on a tmpfs of
 * its own, so the mount point the builder makes is in no layer (one under /tmp would be).
 */
const injectionMount = (n: number): string => `/run/.s2i-injection-${n}`;

/** Where save-artifacts writes its tar in the cached stage (s2i uses the same path). */
const artifactsTar = '/tmp/artifacts.tar';

/** A double-quoted Containerfile word: backslash, quote and `$` escaped (LABEL/ENV expand variables). */
export function quoteWord(s: string, what: string): string {
  if (/[\r\n]/.test(s)) {
    throw new S2IError('ERR_AS_DOCKERFILE_VALUE', `${what} contains a line break, which a Containerfile cannot hold; remove it`);
  }
  return '"' + s.replace(/[\\"$]/g, (c) => '\\' + c) + '"';
}

/** A bare Containerfile token (image ref, path, user) must not contain whitespace or line breaks. */
function token(s: string, what: string): string {
  if (s === '' || /\s/.test(s)) throw new S2IError('ERR_AS_DOCKERFILE_VALUE', `${what} "${s}" is empty or contains whitespace; it cannot be written to a Containerfile`);
  return s;
}

function chownUser(user: string): string {
  const u = user === '' ? '0' : user;
  return token(u.includes(':') ? u : `${u}:0`, 'assemble user');
}

export function renderContainerfile(input: ContainerfileInput): string {
  const up = input.uploadDir ?? 'upload';
  const dest = destinationPaths(input.destination);
  const assemble = input.scripts.get('assemble');
  const run = input.scripts.get('run');
  if (!assemble || !run) throw new S2IError('ERR_SCRIPT_MISSING', 'renderContainerfile needs resolved "assemble" and "run" scripts');
  const user = input.assembleUser;
  const chown = chownUser(user);
  const userLine = `USER ${token(user === '' ? '0' : user, 'assemble user')}`;
  const uploaded = [...input.scripts].filter(([, s]) => s.kind !== 'image').map(([n]) => n);
  const lines: string[] = [];

  const save = input.scripts.get('save-artifacts');
  const incremental = input.incremental && save ? input.incremental : undefined;
  if (incremental && save) {
    lines.push(`FROM ${token(incremental.previousImage, 'previous image')} AS cached`);
    const savePath = scriptPathInImage('save-artifacts', save, input.destination);
    if (save.kind !== 'image') {
      lines.push('# save-artifacts from the source or a scripts URL, run in the previous image');
      lines.push(`COPY --chown=${chown} ${up}/scripts/save-artifacts ${savePath}`);
    }
    lines.push(userLine);
    const sp = shq(savePath);
    lines.push(`RUN if [ -x ${sp} ]; then ${sp} > ${artifactsTar}; else touch ${artifactsTar}; fi`);
    lines.push('');
  }

  lines.push(`FROM ${token(input.builderImage, 'builder image')}`);
  const labels = Object.entries(input.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (labels.length) {
    lines.push('LABEL ' + labels.map(([k, v]) => `${quoteWord(k, `label name ${k}`)}=${quoteWord(v, `label ${k}`)}`).join(' \\\n      '));
  }
  if (input.env.length) {
    lines.push(
      'ENV ' +
        input.env
          .map(([k, v]) => {
            if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) throw new S2IError('ERR_AS_DOCKERFILE_VALUE', `environment name "${k}" cannot be written to a Containerfile`);
            return `${k}=${quoteWord(v, `environment variable ${k}`)}`;
          })
          .join(' \\\n    '),
    );
  }
  if (uploaded.length) lines.push(`COPY --chown=${chown} ${up}/scripts ${dest.scripts}`);
  lines.push(`COPY --chown=${chown} ${up}/src ${dest.src}`);
  if (incremental) lines.push(`COPY --from=cached --chown=${chown} ${artifactsTar} ${artifactsTar}`);
  lines.push(userLine);
  if (incremental) {
    lines.push(`RUN if [ -s ${artifactsTar} ]; then mkdir -p ${shq(dest.artifacts)} && tar -xf ${artifactsTar} -C ${shq(dest.artifacts)}; fi && rm -f ${artifactsTar}`);
  }
  const assemblePath = scriptPathInImage('assemble', assemble, input.destination);
  const injections = input.injections ?? [];
  if (injections.length === 0) {
    lines.push(`RUN ${JSON.stringify([assemblePath])}`);
  } else {
    // As s2i: the injected files are copied in before assemble and removed after it, here in one RUN with
    // the files bound from the context, so no layer ever holds them. assemble's exit status is kept.
    const mounts = injections.map((_, n) => `--mount=type=bind,source=${up}/injections/${n},target=${injectionMount(n)}`);
    const sh: string[] = [];
    injections.forEach((inj, n) => {
      const dst = token(inj.destination, 'injection destination');
      if (inj.file) {
        const parent = shq(path.posix.dirname(dst));
        sh.push(`{ [ -e ${parent} ] || c${n}=1; mkdir -p ${parent} && cp ${injectionMount(n)}/file ${shq(dst)}; } || exit 1`);
      } else {
        sh.push(`{ [ -e ${shq(dst)} ] || c${n}=1; mkdir -p ${shq(dst)} && cp -R ${injectionMount(n)}/. ${shq(dst)}/; } || exit 1`);
      }
    });
    sh.push(`${shq(assemblePath)}; rc=$?`);
    injections.forEach((inj, n) => {
      const dst = inj.destination;
      if (inj.file) {
        sh.push(`rm -f ${shq(dst)}`);
        sh.push(`[ -z "$c${n}" ] || rmdir ${shq(path.posix.dirname(dst))} 2>/dev/null`);
      } else {
        for (const f of inj.files) sh.push(`rm -f ${shq(path.posix.join(dst, f))}`);
        for (const d of [...inj.dirs].sort((a, b) => b.length - a.length)) sh.push(`rmdir ${shq(path.posix.join(dst, d))} 2>/dev/null`);
        sh.push(`[ -z "$c${n}" ] || rmdir ${shq(dst)} 2>/dev/null`);
      }
    });
    sh.push('exit $rc');
    lines.push(`RUN ${mounts.join(' ')} \\\n    ${sh.join('; \\\n    ')}`);
  }
  if (input.imageUser !== undefined && input.imageUser !== user) {
    lines.push(`USER ${token(input.imageUser === '' ? '0' : input.imageUser, 'image user')}`);
  }
  lines.push(`CMD ${JSON.stringify([scriptPathInImage('run', run, input.destination)])}`);
  return lines.join('\n') + '\n';
}

/** Single-quote for /bin/sh. */
function shq(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface WriteAsDockerfileInput extends Omit<ContainerfileInput, 'injections'> {
  /** --inject SRC:DST, DST absolute. */
  injections?: Array<{ source: string; destination: string }>;
  /** Path of the Containerfile to write; its directory is the build context. */
  containerfile: string;
  sourceDir: string;
  filter: SourceFilter;
  keepSymlinks?: boolean;
  fetchHttp?: (url: string) => Promise<Buffer | undefined>;
}

/** Write the Containerfile and its context (<upload>/src, <upload>/scripts). */
export async function writeAsDockerfile(input: WriteAsDockerfileInput): Promise<{ files: number; bytes: number; scripts: ScriptName[] }> {
  const ctx = path.dirname(path.resolve(input.containerfile));
  const up = path.join(ctx, input.uploadDir ?? 'upload');
  const staged = input.injections?.length ? await stageInjections(input.injections, path.join(up, 'injections')) : undefined;
  const text = renderContainerfile({ ...input, ...(staged ? { injections: staged } : { injections: [] }) });
  // A second run into the same directory starts from an empty upload tree: what an earlier run copied (files
  // .s2iignore now excludes, scripts no longer overridden) must not reach the image. A link there is removed,
  // never followed.
  for (const d of ['src', 'scripts', ...(staged ? [] : ['injections'])]) await rm(path.join(up, d), { recursive: true, force: true });
  await mkdir(path.join(up, 'src'), { recursive: true });
  const copied = await copySource(input.sourceDir, path.join(up, 'src'), input.filter, { keepSymlinks: input.keepSymlinks ?? false });
  const scripts = await materializeScripts(input.scripts, path.join(up, 'scripts'), input.fetchHttp);
  await writeFile(input.containerfile, text);
  return { ...copied, scripts };
}

/**
 * Copies each injection to `<dir>/<n>` (a file as `<n>/file`), readable by any user so that a non-root assemble
 * user can copy it in the RUN; `dir` itself is 0700, so on this host only its owner reaches them.
 */
async function stageInjections(injections: Array<{ source: string; destination: string }>, dir: string): Promise<StagedInjection[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const out: StagedInjection[] = [];
  for (const [n, inj] of injections.entries()) {
    const to = path.join(dir, String(n));
    const st = await lstat(inj.source);
    await mkdir(to, { mode: 0o755 });
    if (!st.isDirectory()) {
      await copyFile(inj.source, path.join(to, 'file'));
      await chmod(path.join(to, 'file'), (st.mode & 0o777) | 0o444);
      out.push({ destination: inj.destination, file: true, files: [], dirs: [] });
      continue;
    }
    await cp(inj.source, to, { recursive: true, verbatimSymlinks: true });
    const files: string[] = [];
    const dirs: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const e of await readdir(path.join(to, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        const abs = path.join(to, r);
        if (e.isDirectory()) {
          dirs.push(r);
          await chmod(abs, ((await lstat(abs)).mode & 0o777) | 0o555);
          await walk(r);
        } else {
          files.push(r);
          if (e.isFile()) await chmod(abs, ((await lstat(abs)).mode & 0o777) | 0o444);
        }
      }
    };
    await walk('');
    await chmod(to, 0o755);
    out.push({ destination: inj.destination, file: false, files, dirs });
  }
  return out;
}
