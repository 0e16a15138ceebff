import { runUsage } from '../../pipeline/usage.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Command } from '../command.js';
import { str, list, oneOf } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { policyOptions, policyParams } from '../sign-flags.js';
import { makeRenderer } from '../render.js';

export const usageCommand: Command = {
  name: 'usage',
  summary: 'Run the BUILDER image\'s usage script and print what it says.',
  args: ['BUILDER'],
  params: [
    { name: 'scripts-url', short: 's', type: 'string', value: 'URL', description: 'where to find the usage script: image:///path, file://dir, http(s)://…' },
    { name: 'destination', short: 'd', type: 'string', value: 'DIR', description: 'where downloaded scripts go in the image' },
    { name: 'assemble-user', type: 'string', value: 'UID[:GID]', description: 'user that runs the script (default: label, else the image USER)' },
    { name: 'env', short: 'e', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'environment for the script' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'platform to pick from a manifest list/index' },
    { name: 'pull-policy', short: 'p', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the builder manifest', default: 'if-not-present' },
    { name: 'runtime', type: 'string', value: 'runc|crun|PATH', description: 'OCI runtime' },
    ...policyParams,
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const platform = str(v.platform);
    const opt = <T>(k: string, val: T | undefined) => (val === undefined ? {} : { [k]: val });
    return await runUsage({
      builder: ctx.positionals[0]!,
      ...opt('scriptsUrl', str(v['scripts-url'])),
      ...opt('destination', str(v.destination)),
      ...opt('assembleUser', str(v['assemble-user'])),
      env: list(v.env),
      ...opt('platform', platform ? parsePlatform(platform) : undefined),
      ...opt('pullPolicy', oneOf('pull-policy', str(v['pull-policy']), ['always', 'if-not-present', 'never'] as const)),
      ...opt('runtime', str(v.runtime)),
      ...opt('root', str(v.root)),
      registry: registryOptions(v),
      policy: policyOptions(v),
      onProgress: makeRenderer(ctx.global, ctx.stderr),
      signal: ctx.signal,
      stdout: ctx.stdout,
    });
  },
};
