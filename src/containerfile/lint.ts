// Checks that need no image: run before the base image is pulled, so a typo on line 40 fails in milliseconds
// instead of after the first RUN. Pure. The executor checks the same things again after substitution.
import { syntaxError, type Containerfile, type Instruction } from './parse.js';
import { expandWord, splitWords, WordError } from './words.js';

const chmodRe = /^[0-7]{3,4}$/;
const portRe = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i;
const urlRe = /^[a-z][a-z0-9+.-]*:\/\//i;

export function lintContainerfile(cf: Containerfile, file: string): void {
  for (const ins of cf.instructions) lintInstruction(ins, cf.escape, file);
}

function lintInstruction(ins: Instruction, escape: string, file: string): void {
  const fail = (msg: string) => syntaxError(file, ins.line, msg);
  const words = ins.json ?? splitWords(ins.args, escape);
  // Substitution syntax: every word must expand (values do not matter here).
  if (!['RUN', 'CMD', 'ENTRYPOINT', 'SHELL'].includes(ins.keyword)) {
    for (const w of [...words, ...ins.flags.map((f) => f.value ?? '')]) {
      try {
        expandWord(w, () => 'x', escape);
      } catch (e) {
        // Every variable is "set" here, so only syntax errors are left.
        if (e instanceof WordError) throw fail(`cannot substitute variables in "${w.slice(0, 80)}": ${e.message}`);
        throw e;
      }
    }
  }
  const literal = (s: string) => !s.includes('$');
  switch (ins.keyword) {
    case 'COPY':
    case 'ADD': {
      if (words.length < 2) throw fail(`${ins.keyword} needs at least one source and a destination`);
      const chmod = ins.flags.find((f) => f.name === 'chmod')?.value;
      if (chmod !== undefined && literal(chmod) && !chmodRe.test(chmod)) throw fail(`--chmod=${chmod.slice(0, 20)} is not an octal mode such as 755 or 0644`);
      const sources = words.slice(0, -1);
      const dest = words[words.length - 1]!;
      const url = sources.find((s) => urlRe.test(s));
      if (url) throw fail(`${ins.keyword}: "${url.slice(0, 80)}" is a URL: only local files from the build context can be copied`);
      if (sources.length > 1 && literal(dest) && !dest.endsWith('/')) {
        throw fail(`${ins.keyword}: with more than one source file the destination must be a directory and end with "/" (got "${dest.slice(0, 80)}")`);
      }
      return;
    }
    case 'EXPOSE':
      for (const p of words) {
        if (!literal(p)) continue;
        const m = portRe.exec(p);
        if (!m || Number(m[1]) > 65535 || (m[2] !== undefined && (Number(m[2]) > 65535 || Number(m[2]) < Number(m[1])))) {
          throw fail(`invalid port "${p.slice(0, 40)}": use PORT[/tcp|udp|sctp] or FROM-TO[/PROTO]`);
        }
      }
      return;
    case 'ENV':
    case 'LABEL': {
      if (!words[0]!.includes('=')) {
        if (!/^\S+\s+\S/.test(ins.args.trim())) throw fail(`${ins.keyword} ${words[0]!.slice(0, 60)} needs a value: use ${ins.keyword} NAME=VALUE`);
        return;
      }
      const bad = words.find((w) => !w.includes('=') || w.startsWith('='));
      if (bad !== undefined) throw fail(`"${bad.slice(0, 60)}" is not NAME=VALUE`);
      return;
    }
    case 'ARG':
      for (const w of words) {
        const name = w.split('=')[0]!;
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw fail(`invalid ARG name "${name.slice(0, 60)}"`);
      }
      return;
  }
}
