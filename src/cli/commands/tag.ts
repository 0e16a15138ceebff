// `oci-s2i tag SOURCE NEW`: one more name for a local image (spec/store-format.md "Local images").
import { openLocalImages } from '../../pipeline/local-images.js';
import { findLocalImage, localName } from '../../store/local-images.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { rootParam } from '../registry-flags.js';

/** `local:NAME` and NAME name the same local image. */
export function withoutLocalPrefix(s: string): string {
  return s.startsWith('local:') ? s.slice('local:'.length) : s;
}

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Give the local image SOURCE (a name or image ID) the name NEW: a name without a registry is localhost/NAME:TAG (as podman names it); a name that was another image\'s moves to this one.',
  args: ['SOURCE', 'NEW'],
  params: [rootParam],
  async run(ctx) {
    const [srcArg, newArg] = ctx.positionals as [string, string];
    // The new name is checked before the store is opened: a bad name changes nothing.
    const name = localName(withoutLocalPrefix(newArg));
    const { root, store } = await openLocalImages(str(ctx.values.root));
    const img = await findLocalImage(root, withoutLocalPrefix(srcArg));
    await store.tag(img.descriptor, name);
    if (ctx.global.json) ctx.stdout.write(JSON.stringify({ name, id: img.id, digest: img.descriptor.digest }) + '\n');
    else if (!ctx.global.quiet) ctx.stderr.write(`Tagged ${img.id} as ${name}\n`);
    return 0;
  },
};
