import { readRebuildSpec, rebuildRef } from '../../pipeline/rebuild.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { registryOptions } from '../registry-flags.js';
import { policyOptions } from '../sign-flags.js';
import { buildParams, runBuild } from './build.js';

export const rebuildCommand: Command = {
  name: 'rebuild',
  summary: 'Build IMAGE again from its labels (builder, source location, commit ref, context dir; a local repository: the commit recorded, never its current HEAD); push as NEW-TAG or IMAGE.',
  args: ['IMAGE', 'NEW-TAG?'],
  params: buildParams.filter((p) => !['ref', 'context-dir', 'use-config', 'as-dockerfile'].includes(p.name)),
  async run(ctx) {
    const [image, newTag] = ctx.positionals as [string, string | undefined];
    const spec = await readRebuildSpec(image, { ...(str(ctx.values.root) ? { root: str(ctx.values.root)! } : {}), registry: registryOptions(ctx.values), policy: policyOptions(ctx.values), signal: ctx.signal });
    const values = { ...ctx.values };
    const ref = await rebuildRef(image, spec);
    if (ref) values.ref = ref;
    if (spec.contextDir) values['context-dir'] = spec.contextDir;
    if (!ctx.global.quiet) ctx.stderr.write(`Rebuilding ${image} from ${spec.source}${values.ref ? `#${String(values.ref)}` : ''} with ${spec.builder}\n`);
    return runBuild(ctx, spec.source, spec.builder, newTag ?? image, values);
  },
};
