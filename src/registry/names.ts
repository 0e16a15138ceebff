// The names that go into registry URLs: registry host[:port], repository path and tag (or digest), each checked
// before it goes near a URL or a certs.d path. The grammar is src/oci/reference.ts's (the one in src/); this file
// only words the refusals for names that reach the client without passing through parseReference.
import { S2IError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { isValidRegistryHost, isValidRepositoryPath, isValidTag } from '../oci/reference.js';

/** host[:port] (or [IPv6]:port), nothing else: it becomes part of URLs and of a certs.d path. */
export function checkRegistry(registry: string): void {
  if (!isValidRegistryHost(registry)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid registry host "${registry.slice(0, 100)}": expected host[:port]`);
  }
}

export function checkRepository(repository: string): void {
  if (!isValidRepositoryPath(repository)) {
    throw new S2IError(
      'ERR_INVALID_REFERENCE',
      `invalid repository name "${repository.slice(0, 100)}": lowercase letters, digits and separators (. _ __ -) in /-separated parts`,
    );
  }
}

/** A tag or a digest; digests are validated before they go near a URL (CVE-2024-3727). */
export function checkReference(reference: string): void {
  if (reference.includes(':')) parseDigest(reference);
  else if (!isValidTag(reference)) {
    throw new S2IError('ERR_INVALID_REFERENCE', `invalid tag "${reference.slice(0, 140)}": up to 128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
}
