// s2i's onbuild strategy as pure rules (openshift/source-to-image pkg/build/strategies/onbuild): a builder whose
// config has ONBUILD triggers is built as `FROM builder` with the source as the context, so the triggers run
// with it; the scripts s2i found outside the image (assemble, run) are put at the root of that context; the
// generated file adds the source's environment, `RUN sh assemble` when there is one, and an ENTRYPOINT guessed
// from the context's root (run, start, exec, execute, with or without .sh, executable). The pipeline runs it
// (containerfile/onbuild.ts); this file decides the text.
import { S2IError } from '../errors.js';
import { quoteWord } from './as-dockerfile.js';
import type { EnvList } from './environment.js';

/** The ONBUILD triggers of an image config (`config.OnBuild`), blank ones left out. */
export function onBuildTriggers(config: { [k: string]: unknown }): string[] {
  const raw = config.OnBuild;
  return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && x.trim() !== '') : [];
}

/** The users the triggers switch to (`ONBUILD USER x`), which an --allowed-uids policy must allow (s2i's rule). */
export function onBuildUsers(triggers: string[]): string[] {
  const out: string[] = [];
  for (const t of triggers) {
    const m = /^\s*user\s+(\S+)/i.exec(t);
    if (m) out.push(m[1]!);
  }
  return out;
}

const entrypointRe = [/^run(\.sh)?$/, /^start(\.sh)?$/, /^exec(\.sh)?$/, /^execute(\.sh)?$/];

/** An entry at the root of the context, as the entrypoint guess sees it. */
export interface RootEntry {
  name: string;
  isFile: boolean;
  /** Any execute bit set. */
  executable: boolean;
}

/**
 * The entrypoint s2i guesses: the first regular, executable file at the context root (in name order) named
 * run, start, exec or execute, with or without `.sh`. Undefined when there is none.
 */
export function guessEntrypoint(entries: RootEntry[]): string | undefined {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.find((e) => e.isFile && e.executable && entrypointRe.some((r) => r.test(e.name)))?.name;
}

export interface OnBuildContainerfileInput {
  /** FROM: the builder as the engine can resolve it. */
  builderImage: string;
  /** .s2i/environment, -e, -E. */
  env: EnvList;
  /** The labels the S2I build would add (generated, then --label). */
  labels: Record<string, string>;
  /** An assemble script sits at the context root: run it (`RUN sh assemble`, in the WORKDIR the triggers set). */
  assemble: boolean;
  entrypoint: string;
}

/** The generated Containerfile (s2i's CreateDockerfile, plus the labels every oci-s2i build writes). */
export function renderOnBuildContainerfile(input: OnBuildContainerfileInput): string {
  if (/[\s"\\]/.test(input.builderImage) || input.builderImage === '') {
    throw new S2IError('ERR_AS_DOCKERFILE_VALUE', `builder image "${input.builderImage.slice(0, 200)}" cannot be written to a Containerfile`);
  }
  const lines = [`FROM ${input.builderImage}`];
  for (const [k, v] of input.env) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new S2IError('ERR_AS_DOCKERFILE_VALUE', `environment name "${k.slice(0, 100)}" cannot be written to a Containerfile`);
    lines.push(`ENV ${k}=${quoteWord(v, `environment variable ${k}`)}`);
  }
  const labels = Object.entries(input.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (labels.length) lines.push('LABEL ' + labels.map(([k, v]) => `${quoteWord(k, `label name ${k}`)}=${quoteWord(v, `label ${k}`)}`).join(' '));
  if (input.assemble) lines.push('RUN sh assemble');
  lines.push(`ENTRYPOINT ${JSON.stringify([`./${input.entrypoint}`])}`);
  return lines.join('\n') + '\n';
}
