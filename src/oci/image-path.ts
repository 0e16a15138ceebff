// Paths an image supplies (config WorkingDir, S2I labels naming directories) are checked where they enter the
// engine: absolute, no `..` component, no NUL. Everything that later acts on the host with them also resolves
// them inside the root (src/sys/in-root.ts); this check makes a crafted value fail loudly and early instead of
// being clamped silently (issue 16: a runtime image whose WorkingDir held `..` wrote artifacts onto the host).
import { S2IError } from '../errors.js';
import type { ImageConfig } from './types.js';

/** `value` as a clean absolute path ('/a/b', no trailing slash); ERR_UNSAFE_PATH naming `what` otherwise. */
export function imagePath(value: string, what: string): string {
  const bad = (why: string) =>
    new S2IError('ERR_UNSAFE_PATH', `${what} ${JSON.stringify(value)} ${why}; the image must name an absolute path without ".." (rebuild it or override the value)`, { step: 'workdir' });
  if (value.includes('\0')) throw bad('contains a NUL byte');
  if (!value.startsWith('/')) throw bad('is not an absolute path');
  const comps = value.split('/').filter((c) => c !== '' && c !== '.');
  if (comps.includes('..')) throw bad('contains a ".." component');
  return '/' + comps.join('/');
}

/** The image's WorkingDir, checked ('/' when unset). */
export function workingDirOf(config: Pick<ImageConfig, 'config'>, what = 'the image'): string {
  const wd = config.config?.WorkingDir;
  return wd ? imagePath(wd, `WorkingDir of ${what}`) : '/';
}
