import { createScaffold } from '../../s2i/create.js';
import type { Command } from '../command.js';
import { str } from '../command.js';

export const createCommand: Command = {
  name: 'create',
  summary: 'Scaffold a builder image directory for IMAGE-NAME in DIR (Dockerfile, Makefile, s2i/bin scripts, test/). Never overwrites.',
  args: ['IMAGE-NAME', 'DIR'],
  params: [{ name: 'base-image', type: 'string', value: 'IMAGE', description: 'FROM image of the generated Dockerfile', default: 'docker.io/library/busybox:latest' }],
  async run(ctx) {
    const [name, dir] = ctx.positionals as [string, string];
    const base = str(ctx.values['base-image']);
    const r = await createScaffold(name, dir, base ? { baseImage: base } : {});
    if (!ctx.global.quiet) {
      for (const f of r.created) ctx.stdout.write(`created ${f}\n`);
      for (const f of r.kept) ctx.stderr.write(`kept existing ${f}\n`);
    }
    return 0;
  },
};
