// Containerfile/Dockerfile parser for the subset builder images use (Dockerfile reference, "Format", "Parser
// directives", "Escape"). Pure: text in, instructions out; variables are substituted later by the executor,
// which knows the ARG/ENV values at each step. Every error names the file and line.
import { S2IError } from '../errors.js';

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** First and last line (1-based) the instruction spans. */
  line: number;
  endLine: number;
  /** Leading `--name=value` / `--name` flags (COPY, ADD, FROM, RUN), in order. */
  flags: Array<{ name: string; value: string | undefined }>;
  /** Argument text after the flags, continuation lines joined (escape char and newline removed). */
  args: string;
  /** The exec (JSON array) form, when the arguments are a JSON array of strings. */
  json?: string[];
}

export interface Containerfile {
  /** Escape character from the `# escape=` directive: `\` (default) or a backtick. */
  escape: string;
  instructions: Instruction[];
}

/** Instructions the executor implements. */
export const supportedInstructions = new Set([
  'FROM', 'ARG', 'ENV', 'LABEL', 'COPY', 'ADD', 'RUN', 'USER', 'WORKDIR', 'CMD', 'ENTRYPOINT', 'EXPOSE',
  'VOLUME', 'STOPSIGNAL', 'SHELL', 'MAINTAINER',
]);

/** Real Dockerfile instructions we refuse, with why. */
const unsupported: Record<string, string> = {
  ONBUILD: 'ONBUILD triggers are not supported by oci-s2i build-image; remove the line',
  HEALTHCHECK: 'HEALTHCHECK is not supported by oci-s2i build-image (OpenShift uses probes instead); remove the line',
};

/** Flags each instruction accepts; anything else is an error naming the line. */
const allowedFlags: Record<string, string[]> = {
  FROM: ['platform'],
  COPY: ['chown', 'chmod'],
  ADD: ['chown', 'chmod'],
  RUN: [],
};

/** What flags we know but do not support, with the fix. */
const unsupportedFlags: Record<string, string> = {
  from: 'multi-stage builds (COPY --from) are not supported',
  link: 'COPY --link is not supported; remove the flag',
  mount: 'RUN --mount is not supported; copy what you need with COPY instead',
  network: 'RUN --network is not supported; use `oci-s2i build-image --network`',
  security: 'RUN --security is not supported',
  checksum: 'ADD --checksum is only for URLs, which are not supported',
  'keep-git-dir': 'ADD of git repositories is not supported',
  exclude: 'COPY --exclude is not supported',
  parents: 'COPY --parents is not supported',
};

export function syntaxError(file: string, line: number, message: string): S2IError {
  return new S2IError('ERR_CONTAINERFILE_SYNTAX', `${file}:${line}: ${message}`);
}

const directiveRe = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const knownDirectives = new Set(['escape', 'syntax', 'check']);

export function parseContainerfile(text: string, file = 'Containerfile'): Containerfile {
  if (text.includes('\0')) throw syntaxError(file, 1, 'the file contains NUL bytes: it is not a text Containerfile');
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  // Parser directives: only at the very top, before any comment, blank line or instruction.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = directiveRe.exec(lines[i]!);
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (!knownDirectives.has(name)) break;
    if (seen.has(name)) throw syntaxError(file, i + 1, `the "${name}" parser directive is given twice`);
    seen.add(name);
    if (name === 'escape') {
      const v = m[2]!;
      if (v !== '\\' && v !== '`') throw syntaxError(file, i + 1, `invalid escape character "${v}": use \\ or \``);
      escape = v;
    }
  }
  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const isComment = (l: string) => /^\s*#/.test(l);
  const isBlank = (l: string) => /^\s*$/.test(l);

  const instructions: Instruction[] = [];
  let fromCount = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    const first = lines[i++]!;
    if (isComment(first) || isBlank(first)) continue;
    let text = first.replace(/^\s+/, '');
    let open = continuation.test(text);
    if (open) text = text.replace(continuation, '');
    let endLine = startLine;
    while (open && i < lines.length) {
      const l = lines[i++]!;
      if (isComment(l)) continue;
      if (isBlank(l)) continue; // an empty continuation line is allowed (deprecated) by Docker
      endLine = i;
      open = continuation.test(l);
      text += open ? l.replace(continuation, '') : l;
    }
    instructions.push(parseInstruction(text, startLine, endLine, file, escape));
    const ins = instructions[instructions.length - 1]!;
    if (ins.keyword === 'FROM' && ++fromCount > 1) {
      throw syntaxError(file, startLine, 'a second FROM: multi-stage builds are not supported by oci-s2i build-image; use one stage');
    }
  }
  const firstReal = instructions.find((x) => x.keyword !== 'ARG');
  if (!firstReal) throw syntaxError(file, 1, 'no FROM instruction: a Containerfile must start with FROM (ARG may come before it)');
  if (firstReal.keyword !== 'FROM') {
    throw syntaxError(file, firstReal.line, `${firstReal.keyword} before FROM: a Containerfile must start with FROM (only ARG may come before it)`);
  }
  return { escape, instructions };
}

/**
 * A base image's ONBUILD triggers (config.OnBuild, one instruction each) as instructions, numbered from 1 and
 * named by `where` in errors. FROM, MAINTAINER and ONBUILD cannot be triggers (Dockerfile reference, ONBUILD).
 */
export function parseTriggers(triggers: string[], where: string): Instruction[] {
  return triggers.map((t, i) => {
    const text = t.trim();
    const keyword = (/^\S+/.exec(text)?.[0] ?? '').toUpperCase();
    if (keyword === 'FROM' || keyword === 'MAINTAINER' || keyword === 'ONBUILD') {
      throw syntaxError(where, i + 1, `${keyword} is not allowed as an ONBUILD trigger; rebuild the base image without it`);
    }
    if (/[\r\n]/.test(text)) throw syntaxError(where, i + 1, 'an ONBUILD trigger spans lines; rebuild the base image with one instruction per trigger');
    return parseInstruction(text, i + 1, i + 1, where, '\\');
  });
}

function parseInstruction(text: string, line: number, endLine: number, file: string, escape: string): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  const word = m?.[1] ?? '';
  let rest = (m?.[2] ?? '').trim();
  const keyword = word.toUpperCase();
  if (unsupported[keyword]) throw syntaxError(file, line, unsupported[keyword]!);
  if (!supportedInstructions.has(keyword)) {
    throw syntaxError(file, line, `unknown instruction "${word.slice(0, 40)}"`);
  }
  const flags: Instruction['flags'] = [];
  if (keyword in allowedFlags) {
    for (;;) {
      const f = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
      if (!f) break;
      const name = f[1]!.toLowerCase();
      if (!allowedFlags[keyword]!.includes(name)) {
        throw syntaxError(file, line, unsupportedFlags[name] ?? `unknown flag --${name} for ${keyword}`);
      }
      if (f[2] === undefined || f[2] === '') throw syntaxError(file, line, `${keyword} --${name} needs a value: --${name}=VALUE`);
      if (flags.some((x) => x.name === name)) throw syntaxError(file, line, `${keyword} --${name} is given twice`);
      flags.push({ name, value: f[2] });
      rest = rest.slice(f[0].length);
    }
  }
  const ins: Instruction = { keyword, line, endLine, flags, args: rest };
  if (rest.startsWith('[')) {
    const json = parseJsonArray(rest);
    if (json) ins.json = json;
  }
  if (!ins.json && (keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD') && hasHeredoc(rest)) {
    throw syntaxError(file, line, `heredocs (<<WORD) are not supported by oci-s2i build-image; put the text in a file and COPY it`);
  }
  checkArity(ins, file, escape);
  return ins;
}

/** The JSON exec form: an array of strings, else undefined (Docker then falls back to the shell form). */
function parseJsonArray(s: string): string[] | undefined {
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* shell form */
  }
  return undefined;
}

function hasHeredoc(s: string): boolean {
  // `<<EOF`, `<<-EOF`, `<<"EOF"`; not the here-string `<<<`.
  return /(^|[^<])<<-?\s*(["']?)[A-Za-z_][A-Za-z0-9_-]*\2/.test(s);
}

function checkArity(ins: Instruction, file: string, _escape: string): void {
  const k = ins.keyword;
  const empty = ins.args.trim() === '' && !ins.json;
  const needs = ['FROM', 'ARG', 'ENV', 'LABEL', 'COPY', 'ADD', 'RUN', 'USER', 'WORKDIR', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'SHELL', 'MAINTAINER'];
  if (empty && needs.includes(k)) throw syntaxError(file, ins.line, `${k} needs arguments`);
  if (k === 'SHELL' && (!ins.json || ins.json.length === 0)) {
    throw syntaxError(file, ins.line, 'SHELL needs the JSON form, e.g. SHELL ["/bin/sh", "-c"]');
  }
  if (ins.json && ins.json.length === 0 && (k === 'RUN' || k === 'COPY' || k === 'ADD')) throw syntaxError(file, ins.line, `${k} needs arguments`);
  if (k === 'FROM') {
    const w = ins.args.trim().split(/\s+/);
    if (!(w.length === 1 || (w.length === 3 && w[1]!.toUpperCase() === 'AS'))) {
      throw syntaxError(file, ins.line, 'FROM takes IMAGE or IMAGE AS NAME');
    }
    if (w.length === 3 && !/^[a-z][a-z0-9-_.]*$/i.test(w[2]!)) throw syntaxError(file, ins.line, `invalid stage name "${w[2]}"`);
  }
}
