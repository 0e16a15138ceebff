// .dockerignore / .containerignore (Dockerfile reference, ".dockerignore file"): `#` comments, patterns with Go
// filepath.Match syntax plus `**`, a leading `/` ignored, `!` exceptions, the last matching line wins, and a
// pattern that matches a directory excludes everything under it. Read from `<Containerfile>.dockerignore` next
// to the Containerfile, else `.containerignore`, else `.dockerignore` in the context.
import path from 'node:path';
import { S2IError } from '../errors.js';
import { readInputFile } from '../sys/input-file.js';
import { globToRegExp } from '../s2i/glob.js';

export type IgnoreMatcher = (rel: string) => boolean;

export function makeIgnoreMatcher(text: string, file = '.dockerignore'): IgnoreMatcher | undefined {
  const rules: Array<{ re: RegExp; exception: boolean }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    const clean = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (clean === '' || clean === '.') return;
    try {
      rules.push({ re: globToRegExp(clean), exception });
    } catch (e) {
      throw new S2IError('ERR_IGNORE_SYNTAX', `${file}:${i + 1}: ${(e as Error).message}`);
    }
  });
  if (rules.length === 0) return undefined;
  return (rel: string) => {
    const parts = rel.split('/');
    let excluded = false;
    for (const r of rules) {
      // The path itself or any parent directory matching counts.
      let hit = false;
      for (let n = parts.length; n >= 1 && !hit; n--) hit = r.re.test(parts.slice(0, n).join('/'));
      if (hit) excluded = !r.exception;
    }
    return excluded;
  };
}

export async function loadIgnore(contextDir: string, containerfile: string): Promise<IgnoreMatcher | undefined> {
  for (const f of [`${containerfile}.dockerignore`, path.join(contextDir, '.containerignore'), path.join(contextDir, '.dockerignore')]) {
    let text: string;
    try {
      // Not readFile: a FIFO in the context would block the build forever (sys/input-file.ts).
      text = (await readInputFile(f, { what: 'ignore file', code: 'ERR_IGNORE_UNREADABLE' })).toString('utf8');
    } catch (e) {
      if (e instanceof S2IError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new S2IError('ERR_IGNORE_UNREADABLE', `cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return makeIgnoreMatcher(text, path.basename(f));
  }
  return undefined;
}
