// `oci-s2i pull IMAGE`: fetch an image into the local store and unpack its layers into the layer cache, as a
// build does first (src/pipeline/pull-command.ts). Prints the manifest digest (the whole result with --json).
import { runPull } from '../../pipeline/pull-command.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Command } from '../command.js';
import { str, oneOf } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { policyOptions, policyParams } from '../sign-flags.js';
import { makeRenderer } from '../render.js';

export const pullCommand: Command = {
  name: 'pull',
  summary: 'Fetch IMAGE (a registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]) and unpack its layers into the cache, as a build does first: builds that use it then start warm.',
  args: ['IMAGE'],
  params: [
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'platform to pick from a manifest list/index' },
    {
      name: 'pull-policy', short: 'p', type: 'string', value: 'always|if-not-present|never',
      description: 'when to ask the registry for the manifest (layers already unpacked are never fetched again)', default: 'always',
    },
    ...policyParams,
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const platform = str(v.platform);
    const policy = oneOf('pull-policy', str(v['pull-policy']), ['always', 'if-not-present', 'never'] as const);
    const root = str(v.root);
    const r = await runPull({
      image: ctx.positionals[0]!,
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      ...(policy ? { pullPolicy: policy } : {}),
      ...(root ? { root } : {}),
      registry: registryOptions(v),
      policy: policyOptions(v),
      onProgress: makeRenderer(ctx.global, ctx.stderr),
      signal: ctx.signal,
    });
    if (ctx.global.json) ctx.stdout.write(JSON.stringify(r) + '\n');
    else {
      if (!ctx.global.quiet) ctx.stderr.write(`Pulled ${r.image}: ${r.layers.length} layers unpacked in the cache\n`);
      ctx.stdout.write(`${r.digest}\n`);
    }
    return 0;
  },
};
