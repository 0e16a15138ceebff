// The names that go into registry URLs, after distribution/reference: registry host[:port], repository path
// and tag. Each is checked before it goes near a URL or a certs.d path.
import { S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';

const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const repositoryRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const hostLabel = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const registryRe = new RegExp(`^(?:${hostLabel}(?:\\.${hostLabel})*|\\[[0-9A-Fa-f:.]+\\])(?::\\d{1,5})?$`);

/** host[:port] (or [IPv6]:port), nothing else: it becomes part of URLs and of a certs.d path. */
export function checkRegistry(registry: string): void {
  if (!registryRe.test(registry)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid registry host "${registry.slice(0, 100)}": expected host[:port]`);
  }
}

export function checkRepository(repository: string): void {
  if (repository.length > 255 || !repositoryRe.test(repository)) {
    throw new S2IError(
      'ERR_INVALID_REFERENCE',
      `invalid repository name "${repository.slice(0, 100)}": lowercase letters, digits and separators (. _ __ -) in /-separated parts`,
    );
  }
}

export function isRepositoryName(s: string): boolean {
  return repositoryRe.test(s);
}

export function isTag(s: string): boolean {
  return tagRe.test(s);
}

/** A tag or a digest; digests are validated before they go near a URL (CVE-2024-3727). */
export function checkReference(reference: string): void {
  if (reference.includes(':')) parseDigest(reference);
  else if (!tagRe.test(reference)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid tag "${reference.slice(0, 140)}": up to 128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
}
