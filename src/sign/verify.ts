// Applying the signature policy to one image before anything of it runs (signature/policy_eval.go
// IsRunningImageAllowed): every requirement of the scope that covers the image must accept it. sigstoreSigned
// reads the signatures attached under the cosign tag (only where registries.d says `use-sigstore-attachments`,
// as containers/image) and accepts when one verifies with a policy key, signs this manifest digest and claims an
// identity the policy's signedIdentity accepts (policy_eval_sigstore.go). A refusal is one line naming the image,
// the policy file and the reason.
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { S2IError } from '../errors.js';
import type { Reference } from '../oci/reference.js';
import type { StoredSignature } from './attachment.js';
import { identityAccepted, policyIdentity, policyNamespaces } from './identity.js';
import { loadPublicKeys } from './key.js';
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, verifyPayload } from './payload.js';
import { requirementsFor, type Requirement } from './policy.js';
import { usesSigstoreAttachments, type LoadedPolicy } from './policy-files.js';

export interface ImageToCheck {
  /** The image as the user named it, for messages. */
  name: string;
  /** `docker` for a registry; `oci`, `oci-archive`, `docker-archive` for files. */
  transport: string;
  /** The registry reference (fully qualified, with its tag or digest); docker only. */
  ref?: Reference;
  /** The digest of the top manifest (an index for a multi-platform image), which a signature signs. */
  manifestDigest: string;
  /** The signatures attached to that digest (asked only when a requirement needs them). */
  signatures: () => Promise<StoredSignature[]>;
  /** What a refusal means, for the message (default: nothing of it was run). */
  outcome?: string;
}

/** Throws ERR_POLICY_REJECTED unless the policy accepts `image`; ERR_POLICY_INVALID when the policy cannot be applied. */
export async function enforcePolicy(loaded: LoadedPolicy, image: ImageToCheck): Promise<void> {
  const { policy } = loaded;
  const docker = image.transport === 'docker' && image.ref !== undefined;
  const reqs = requirementsFor(policy, image.transport, docker ? policyIdentity(image.ref!) : undefined, docker ? policyNamespaces(image.ref!) : []);
  for (const req of reqs) {
    const why = await refusal(loaded, req, image);
    if (why !== undefined) {
      throw new S2IError('ERR_POLICY_REJECTED', `${image.name} is refused by the signature policy ${policy.file}: ${why}; ${image.outcome ?? 'nothing of it was run'}`, { step: 'pull' });
    }
  }
}

/** Why `req` refuses the image, or undefined when it accepts it. */
async function refusal(loaded: LoadedPolicy, req: Requirement, image: ImageToCheck): Promise<string | undefined> {
  const file = loaded.policy.file;
  switch (req.type) {
    case 'insecureAcceptAnything':
      return undefined;
    case 'reject':
      return 'the policy rejects every image in this scope (reject)';
    case 'signedBy':
      throw new S2IError('ERR_POLICY_INVALID', `signature policy ${file} asks for signedBy (GPG signatures) for ${image.name}: GPG signatures are not supported by oci-s2i; use a sigstoreSigned requirement with keyPath`);
    case 'sigstoreSigned':
      break;
  }
  if (req.keyless !== undefined) {
    throw new S2IError('ERR_POLICY_INVALID', `signature policy ${file} asks for keyless sigstore verification (${req.keyless}) for ${image.name}: not supported (it needs network trust roots); use sigstoreSigned with keyPath or keyData`);
  }
  const keys = await policyKeys(file, req);
  if (image.transport !== 'docker' || !image.ref) return `a signature was required, but signatures are read from registries only and this image is in ${image.transport}:`;
  const identity = policyIdentity(image.ref);
  if (!usesSigstoreAttachments(loaded.registriesD, identity, policyNamespaces(image.ref))) {
    return `a signature was required, but no registries.d file in ${loaded.registriesD.dir} sets use-sigstore-attachments: true for ${identity} (add \`default-docker: {use-sigstore-attachments: true}\`)`;
  }
  const reasons: string[] = [];
  let other = 0;
  for (const sig of await image.signatures()) {
    if (sig.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
      other++;
      continue;
    }
    const b64 = sig.annotations[SIGNATURE_ANNOTATION];
    if (b64 === undefined) {
      reasons.push(`missing ${SIGNATURE_ANNOTATION} annotation`);
      continue;
    }
    const claims = verifyPayload(keys, sig.payload, b64);
    if (typeof claims === 'string') reasons.push(claims);
    else if (claims.manifestDigest !== image.manifestDigest) reasons.push(`signature for digest ${claims.manifestDigest} does not match`);
    else if (!identityAccepted(req.signedIdentity, image.ref, claims.dockerReference)) reasons.push(`signature for identity ${JSON.stringify(claims.dockerReference)} is not accepted`);
    else return undefined;
  }
  if (reasons.length === 0) return `a signature was required, but no signature exists${other ? ` (${other} sigstore non-signature attachments)` : ''}`;
  return reasons.length === 1 ? reasons[0]! : `none of the signatures were accepted: ${reasons.join('; ')}`;
}

async function policyKeys(file: string, req: Extract<Requirement, { type: 'sigstoreSigned' }>): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  for (const p of req.keyPaths ?? []) {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new S2IError('ERR_POLICY_INVALID', `signature policy ${file}: keyPath ${p} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`}; give the public key file`);
    }
    keys.push(...loadPublicKeys(text, `keyPath ${p} of ${file}`));
  }
  for (const data of req.keyData ?? []) keys.push(...loadPublicKeys(data, `keyData of ${file}`));
  return keys;
}
