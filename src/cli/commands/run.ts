import { runImage } from '../../pipeline/run-image.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Command } from '../command.js';
import { str, list, oneOf } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { policyOptions, policyParams } from '../sign-flags.js';
import { makeRenderer } from '../render.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run IMAGE rootless (host network) to test it, as `podman run` would; Ctrl-C stops it. Changes are discarded.',
  args: ['IMAGE', 'COMMAND...'],
  params: [
    { name: 'user', short: 'u', type: 'string', value: 'UID[:GID]', description: 'user to run as (default: the image USER)' },
    { name: 'env', short: 'e', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'extra environment' },
    { name: 'entrypoint', type: 'string', value: 'PATH', description: 'replace the image entrypoint ("" for none)' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'platform to pick from a manifest list/index' },
    { name: 'pull-policy', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the manifest', default: 'if-not-present' },
    { name: 'runtime', type: 'string', value: 'runc|crun|PATH', description: 'OCI runtime' },
    { name: 'network', type: 'string', value: 'host|none', description: 'network namespace', default: 'host' },
    ...policyParams,
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const [image, ...command] = ctx.positionals as [string, ...string[]];
    const opt = <T>(k: string, val: T | undefined) => (val === undefined ? {} : { [k]: val });
    const platform = str(v.platform);
    return await runImage({
      image,
      command,
      ...opt('user', str(v.user)),
      env: list(v.env),
      ...opt('entrypoint', str(v.entrypoint)),
      ...opt('platform', platform ? parsePlatform(platform) : undefined),
      ...opt('pullPolicy', oneOf('pull-policy', str(v['pull-policy']), ['always', 'if-not-present', 'never'] as const)),
      ...opt('runtime', str(v.runtime)),
      ...opt('network', oneOf('network', str(v.network), ['host', 'none'] as const)),
      ...opt('root', str(v.root)),
      registry: registryOptions(v),
      policy: policyOptions(v),
      onProgress: makeRenderer(ctx.global, ctx.stderr),
      signal: ctx.signal,
    });
  },
};
