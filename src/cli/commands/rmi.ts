// `oci-s2i rmi NAME|ID…`: removes local images' names (spec/store-format.md "Local images"). Unlike podman, the
// blobs and unpacked layers stay (the layer cache is shared by every image and build): what no name reaches any
// more is removed by `oci-s2i cache prune`, which never removes what a running build or run uses.
import { S2IError } from '../../errors.js';
import { openLocalImages } from '../../pipeline/local-images.js';
import { findLocalImage, removeLocalImage, shortId } from '../../store/local-images.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { rootParam } from '../registry-flags.js';
import { withoutLocalPrefix } from './tag.js';

export const rmiCommand: Command = {
  name: 'rmi',
  summary: 'Remove local images by name (that name only) or image ID (every name of it; an ID with several names needs --force). Every argument is looked up before anything is removed. The space is freed by `oci-s2i cache prune`.',
  args: ['IMAGE...'],
  params: [{ name: 'force', short: 'f', type: 'boolean', description: 'remove an image ID that has several names (all of them)' }, rootParam],
  async run(ctx) {
    const { root } = await openLocalImages(str(ctx.values.root));
    const names = new Set<string>();
    const unnamed = new Set<string>();
    for (const arg of ctx.positionals) {
      const img = await findLocalImage(root, withoutLocalPrefix(arg));
      if (img.by === 'name' && img.name !== undefined) {
        names.add(img.name);
        continue;
      }
      if (img.names.length > 1 && ctx.values.force !== true) {
        throw new S2IError('ERR_LOCAL_IMAGE_CONFLICT', `image ${shortId(img.id)} has ${img.names.length} names (${img.names.join(', ')}): remove them by name, or all at once with --force`);
      }
      for (const n of img.names) names.add(n);
      for (const d of img.unnamed) unnamed.add(d);
    }
    const removed = await removeLocalImage(root, [...names], [...unnamed]);
    if (ctx.global.json) ctx.stdout.write(JSON.stringify({ untagged: removed }) + '\n');
    else {
      ctx.stdout.write(removed.map((n) => `Untagged: ${n}\n`).join(''));
      if (!ctx.global.quiet) ctx.stderr.write('Blobs and layers no name uses any more are removed by `oci-s2i cache prune`\n');
    }
    return 0;
  },
};
