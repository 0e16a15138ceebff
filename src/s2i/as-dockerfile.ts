// --as-dockerfile (S2I-CONTRACT.md): a Containerfile + context that `buildah bud` / `podman build` turns into
// the same application image. Differences from the reference, on purpose: scripts are chosen per script (so
// .s2i/bin overrides apply even when the builder label is image://), RUN/CMD use exec form, the output image
// gets the builder's USER back after assemble, and LABEL/ENV values are quoted so `$`, `"` and `\` survive.

import { mkdir, rm, writeFile } from 'node:fs/promises';
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
}

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
  lines.push(`RUN ${JSON.stringify([scriptPathInImage('assemble', assemble, input.destination)])}`);
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

export interface WriteAsDockerfileInput extends ContainerfileInput {
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
  const text = renderContainerfile(input);
  // A second run into the same directory starts from an empty upload tree: what an earlier run copied (files
  // .s2iignore now excludes, scripts no longer overridden) must not reach the image. A link there is removed,
  // never followed.
  for (const d of ['src', 'scripts']) await rm(path.join(up, d), { recursive: true, force: true });
  await mkdir(path.join(up, 'src'), { recursive: true });
  const copied = await copySource(input.sourceDir, path.join(up, 'src'), input.filter, { keepSymlinks: input.keepSymlinks ?? false });
  const scripts = await materializeScripts(input.scripts, path.join(up, 'scripts'), input.fetchHttp);
  await writeFile(input.containerfile, text);
  return { ...copied, scripts };
}
