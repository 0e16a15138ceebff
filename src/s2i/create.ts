// `create <image-name> <dir>`: scaffold a builder image directory. Never overwrites: files that exist are kept
// and reported.

import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { makeDirs } from '../sys/make-dirs.js';
import { scaffoldFiles } from './create-templates.js';

/** Base image of the scaffold's Dockerfile: small, and has sh + httpd so the scaffold passes its test as is. */
export const defaultScaffoldBase = 'docker.io/library/busybox:latest';

export interface CreateOptions {
  baseImage?: string;
}

export interface CreateResult {
  /** Paths (relative to dir) written now. */
  created: string[];
  /** Paths that already existed and were left alone. */
  kept: string[];
}

const nameRe = /^[a-z0-9][a-z0-9._\/:@-]*$/i;

export async function createScaffold(imageName: string, dir: string, opts: CreateOptions = {}): Promise<CreateResult> {
  if (!nameRe.test(imageName) || imageName.length > 255) {
    throw new S2IError('ERR_CREATE_NAME', `"${imageName}" is not a usable image name; use letters, digits and . _ - / : @ (e.g. my-builder)`);
  }
  const base = opts.baseImage ?? defaultScaffoldBase;
  if (!nameRe.test(base)) throw new S2IError('ERR_CREATE_NAME', `base image "${base}" is not a usable image reference`);
  const out: CreateResult = { created: [], kept: [] };
  for (const f of scaffoldFiles) {
    const target = path.join(dir, f.path);
    try {
      await makeDirs(path.dirname(target)); // bounded: Node's recursive mkdir spins under /proc
    } catch (e) {
      throw new S2IError('ERR_CREATE_WRITE', `cannot create directory ${path.dirname(target)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pick another directory`, { cause: e });
    }
    const text = f.text.replaceAll('{{IMAGE_NAME}}', imageName).replaceAll('{{BASE_IMAGE}}', base);
    try {
      // 'wx' fails if the path exists: no check-then-write race, never an overwrite.
      await writeFile(target, text, { flag: 'wx', mode: f.mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        out.kept.push(f.path);
        continue;
      }
      throw new S2IError('ERR_CREATE_WRITE', `cannot write ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    await chmod(target, f.mode); // the umask may have narrowed the mode
    out.created.push(f.path);
  }
  return out;
}
