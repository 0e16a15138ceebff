// The signature policy applied to an image the pipeline is about to use (builder, runtime image, previous image,
// the image `run` and `usage` start, `build-image`'s FROM images, the sources of `copy` and `sync`): sign/verify.ts decides; this gives it the image's signatures, read from the
// repository that served the image (a mirror's signatures are the mirror's, as containers/image reads them).
import type { Reference } from '../oci/reference.js';
import { readSignatures } from '../sign/attachment.js';
import { enforcePolicy } from '../sign/verify.js';
import type { Engine } from './context.js';

export interface PolicySubject {
  name: string;
  transport: string;
  ref?: Reference;
  manifestDigest: string;
  /** The registry repository its signatures are read from. */
  where?: { host: string; repository: string };
  /** What a refusal means, for the message (default: nothing of it was run). */
  outcome?: string;
}

/** Throws when the policy (an engine's, or one `copy`/`sync` loaded) refuses the image; nothing when there is no policy. */
export async function checkPolicy(engine: Pick<Engine, 'policy' | 'client'>, image: PolicySubject): Promise<void> {
  if (!engine.policy) return;
  const where = image.where;
  await enforcePolicy(engine.policy, {
    name: image.name,
    transport: image.transport,
    ...(image.ref ? { ref: image.ref } : {}),
    manifestDigest: image.manifestDigest,
    ...(image.outcome ? { outcome: image.outcome } : {}),
    signatures: async () => (where ? readSignatures(engine.client.repository(where.host, where.repository), image.manifestDigest) : []),
  });
}
