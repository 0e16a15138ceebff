// Upload destination and assemble user (S2I-CONTRACT.md "Destination", "Assemble user").

import path from 'node:path';
import { S2IError } from '../errors.js';
import { Label } from './labels.js';

export const defaultDestination = '/tmp';

/** --destination → label io.openshift.s2i.destination (then the deprecated io.s2i.destination) → /tmp. */
export function resolveDestination(flag: string | undefined, labels: Record<string, string>): string {
  const raw = flag || labels[Label.destination] || labels[Label.destinationDeprecated] || defaultDestination;
  if (!raw.startsWith('/')) {
    const from = flag ? '--destination' : `label ${Label.destination}`;
    throw new S2IError('ERR_DESTINATION', `${from} "${raw}" is not an absolute path; use an absolute directory such as /tmp`);
  }
  const p = path.posix.normalize(raw);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** Where uploads land under the destination. */
export function destinationPaths(dest: string): { src: string; scripts: string; artifacts: string } {
  return {
    src: path.posix.join(dest, 'src'),
    scripts: path.posix.join(dest, 'scripts'),
    artifacts: path.posix.join(dest, 'artifacts'),
  };
}

/** --assemble-user → label io.openshift.s2i.assemble-user → image User ('' = root). */
export function assembleUser(flag: string | undefined, labels: Record<string, string>, imageUser: string | undefined): string {
  return (flag || labels[Label.assembleUser] || imageUser || '').trim();
}

/** --assemble-runtime-user → label io.openshift.s2i.assemble-runtime-user → runtime image User. */
export function assembleRuntimeUser(flag: string | undefined, labels: Record<string, string>, imageUser: string | undefined): string {
  return (flag || labels[Label.assembleRuntimeUser] || imageUser || '').trim();
}
