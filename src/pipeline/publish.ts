// A committed build to its destination: the push, the signature and the attestations. The attestations do not wait
// for the push: they are made (the SBOM has been running since the layer was written) and their blobs uploaded while
// the image's layers go up; only their manifests wait for the image's (attest/attach.ts `subjectWritten`), so a
// failed push leaves no attachment naming a digest the registry lacks. The signature follows the image's manifest.
// A layout is written after the push instead: its writes put index.json back as they found it when they fail, so
// two writers of one layout at once could undo each other's tag.
import type { AttachResult } from '../attest/attach.js';
import type { ImageLocation } from '../transport/parse.js';
import { attestBuild, type AttestFacts } from './attest.js';
import type { Engine } from './context.js';
import type { BuildOptions } from './options.js';
import { pushImage, signPushed, type PushInput, type PushStats } from './push.js';
import type { Steps } from './steps.js';

export async function publishBuild(
  engine: Engine,
  steps: Steps,
  opts: BuildOptions,
  target: ImageLocation,
  image: Omit<PushInput, 'target'>,
  facts: Omit<AttestFacts, 'pushed'>,
): Promise<{ push: PushStats; attached?: AttachResult | undefined }> {
  const pushed = steps.run('push', () => pushImage(engine, { ...image, target }));
  const attest = (): Promise<AttachResult | undefined> => steps.run('attest', () => attestBuild(engine, opts, { ...facts, pushed }));
  const alongside = Boolean(opts.attest) && target.transport === 'docker';
  const attesting = alongside ? attest() : undefined;
  let push: PushStats;
  try {
    push = await pushed;
  } catch (e) {
    // The attestations write no manifest after a failed push; they end before the build's cleanups run.
    await attesting?.catch(() => undefined);
    throw e;
  }
  try {
    // The signature after the manifest it signs is in the registry (--sign-by-sigstore-private-key).
    const key = opts.signingKey;
    if (key) await steps.run('sign', () => signPushed(engine, target, image.manifest.digest, key));
  } catch (e) {
    await attesting?.catch(() => undefined);
    throw e;
  }
  return { push, attached: alongside ? await attesting : opts.attest ? await attest() : undefined };
}
