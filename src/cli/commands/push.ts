// `oci-s2i push LOCAL [DEST]`: a local image (a build without a registry TAG, `tag`, a pull) written to DEST by
// the one writer, as `copy local:LOCAL DEST` (every copy flag applies: --format, --authfile, --creds,
// --tls-verify, --digestfile, --retry, …). Without DEST, LOCAL's own name, when it names a registry.
import { S2IError } from '../../errors.js';
import { parseReference } from '../../oci/reference.js';
import { openLocalImages } from '../../pipeline/local-images.js';
import { findLocalImage, LOCAL_REGISTRY } from '../../store/local-images.js';
import { parseImageLocation, type ImageLocation } from '../../transport/parse.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { copyParams, runCopy } from './copy.js';
import { withoutLocalPrefix } from './tag.js';

export const pushCommand: Command = {
  name: 'push',
  summary: 'Push the local image LOCAL (a name or image ID) to DEST (a registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]); without DEST, to the registry its name names. The copy flags apply (--format converts).',
  args: ['LOCAL', 'DEST?'],
  params: copyParams,
  async run(ctx) {
    const [localArg, destArg] = ctx.positionals as [string, string | undefined];
    const name = withoutLocalPrefix(localArg);
    const src: ImageLocation = { transport: 'local', name };
    if (destArg !== undefined) return runCopy(ctx, src, parseImageLocation(destArg));
    const { root } = await openLocalImages(str(ctx.values.root));
    const img = await findLocalImage(root, name);
    const own = img.by === 'name' ? img.name : img.names.length === 1 ? img.names[0] : undefined;
    let ref;
    try {
      ref = own !== undefined ? parseReference(own) : undefined;
    } catch {
      ref = undefined;
    }
    if (own === undefined || ref === undefined || ref.registry === LOCAL_REGISTRY) {
      const what = own ?? `image ${localArg}`;
      throw new S2IError('ERR_USAGE', `${what} names no registry to push to: give a DEST, e.g. \`oci-s2i push ${localArg} quay.io/NAMESPACE/APP:TAG\``);
    }
    return runCopy(ctx, src, { transport: 'docker', ref });
  },
};
