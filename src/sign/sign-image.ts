// Signing a pushed image: the simple-signing payload naming the reference as pushed (`host/repo:tag`, the identity
// a policy's matchRepoDigestOrExact compares with what a user pulls) and the manifest digest, signed with the key
// and attached under the cosign tag of that digest in the repository the image went to (registries.conf's
// location for the name, as the push).
import { formatReference, qualified, type Reference } from '../oci/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { pushTarget } from '../registry/registries-rules.js';
import { attachSignature } from './attachment.js';
import type { SigningKey } from './key.js';
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signBytes, signaturePayload } from './payload.js';

/** Signs the image `ref` names (its manifest `manifestDigest`) and attaches the signature; returns the identity signed. */
export async function signImage(client: RegistryClient, ref: Reference, manifestDigest: string, key: SigningKey): Promise<string> {
  const identity = formatReference(qualified(ref));
  const target = pushTarget(await client.registries(), ref);
  const repo = client.repository(target.ref.registry, target.ref.repository, { insecure: target.insecure });
  const payload = signaturePayload(identity, manifestDigest, 'oci-s2i', Math.floor(Date.now() / 1000));
  await attachSignature(repo, manifestDigest, {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    payload,
    annotations: { [SIGNATURE_ANNOTATION]: signBytes(key.privateKey, payload) },
  });
  return identity;
}
