// `oci-s2i images`: the images of the local store (spec/store-format.md "Local images"): what builds without a
// registry TAG made, what `tag` named, and what pulls and builds fetched (as podman lists pulled images).
import { parseReference } from '../../oci/reference.js';
import { openLocalImages } from '../../pipeline/local-images.js';
import { listLocalImages, shortId, type LocalImage } from '../../store/local-images.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { rootParam } from '../registry-flags.js';
import { ago, humanBytes, table } from '../render.js';

/** A stored name as REPOSITORY and TAG (a name that is not a reference, e.g. an `oci:` build target: all of it). */
function split(img: LocalImage): { repository: string; tag: string } {
  if (img.name === undefined) return { repository: '<none>', tag: '<none>' };
  try {
    const ref = parseReference(img.name);
    return { repository: `${ref.registry}/${ref.repository}`, tag: ref.tag ?? '<none>' };
  } catch {
    return { repository: img.name, tag: '<none>' };
  }
}

export const imagesCommand: Command = {
  name: 'images',
  summary: 'List the images of the local store: builds without a registry TAG (localhost/NAME:TAG, or unnamed), tagged, and pulled images, with their image ID (the config digest), created time and compressed size. -q: the image IDs only.',
  args: [],
  params: [{ name: 'no-trunc', type: 'boolean', description: 'show whole image IDs (sha256:<64 hex>)' }, rootParam],
  async run(ctx) {
    const { root } = await openLocalImages(str(ctx.values.root));
    const images = await listLocalImages(root);
    const full = ctx.values['no-trunc'] === true;
    const id = (i: LocalImage): string => (full ? i.id : shortId(i.id));
    if (ctx.global.json) {
      const rows = images.map((i) => ({ name: i.name ?? null, ...split(i), id: i.id, digest: i.descriptor.digest, mediaType: i.descriptor.mediaType, created: i.created ?? null, size: i.size }));
      ctx.stdout.write(JSON.stringify(rows) + '\n');
      return 0;
    }
    if (ctx.global.quiet) {
      const ids = [...new Set(images.map(id))];
      ctx.stdout.write(ids.map((x) => `${x}\n`).join(''));
      return 0;
    }
    const now = Date.now();
    const created = (i: LocalImage): string => {
      const d = i.created !== undefined ? new Date(i.created) : undefined;
      return d && !Number.isNaN(d.getTime()) ? ago(d, now) : '-';
    };
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...images.map((i) => [split(i).repository, split(i).tag, id(i), created(i), humanBytes(i.size)])];
    ctx.stdout.write(table(rows));
    return 0;
  },
};
