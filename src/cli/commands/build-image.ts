import { buildImage } from '../../containerfile/execute.js';
import { writeDigestFile } from '../../pipeline/build.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Command } from '../command.js';
import { str, list, oneOf } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { makeRenderer } from '../render.js';
import { policyOptions, policyParams } from '../sign-flags.js';

export const buildImageCommand: Command = {
  name: 'build-image',
  summary:
    'Build an image (e.g. an S2I builder) from CONTEXT/Containerfile and push it as TAG (a registry reference, oci:DIR:TAG or docker-archive:FILE). No daemon needed.',
  args: ['CONTEXT', 'TAG'],
  params: [
    { name: 'file', short: 'f', type: 'string', value: 'FILE', description: 'the Containerfile (default CONTEXT/Containerfile, else CONTEXT/Dockerfile)' },
    { name: 'build-arg', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'value of an ARG (NAME alone: from the environment)' },
    { name: 'format', type: 'string', value: 'docker|oci', description: 'manifest format (default docker; oci for oci: destinations)' },
    { name: 'squash', type: 'boolean', description: 'one new layer for all instructions instead of one per instruction' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'base image platform to pick from a manifest list/index (default: this host)' },
    { name: 'pull-policy', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the base image manifest from its registry', default: 'if-not-present' },
    { name: 'runtime', type: 'string', value: 'runc|crun|PATH', description: 'OCI runtime for RUN (default: crun where it runs: cgroup v2 hosts, and as root everywhere; else runc)' },
    { name: 'network', type: 'string', value: 'host|none', description: 'network for RUN', default: 'host' },
    { name: 'digestfile', type: 'string', value: 'FILE', description: 'write the manifest digest to FILE' },
    { name: 'no-push', type: 'boolean', description: 'keep the result in the local store only' },
    ...policyParams,
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const [contextDir, tag] = ctx.positionals as [string, string];
    const format = oneOf('format', str(v.format), ['docker', 'oci'] as const);
    const network = oneOf('network', str(v.network), ['host', 'none'] as const);
    const pullPolicy = oneOf('pull-policy', str(v['pull-policy']), ['always', 'if-not-present', 'never'] as const);
    const platform = str(v.platform);
    const onProgress = makeRenderer(ctx.global, ctx.stderr);
    const opt = <T>(k: string, val: T | undefined) => (val === undefined ? {} : { [k]: val });
    const result = await buildImage({
      contextDir,
      tag,
      ...opt('file', str(v.file)),
      buildArgs: list(v['build-arg']),
      ...opt('format', format),
      squash: v.squash === true,
      noPush: v['no-push'] === true,
      ...opt('platform', platform ? parsePlatform(platform) : undefined),
      ...opt('pullPolicy', pullPolicy),
      ...opt('runtime', str(v.runtime)),
      ...opt('network', network),
      ...opt('root', str(v.root)),
      registry: registryOptions(v),
      policy: policyOptions(v),
      onProgress,
      signal: ctx.signal,
    });
    const digestFile = str(v.digestfile);
    if (digestFile) await writeDigestFile(digestFile, result.digest);
    if (ctx.global.json) {
      ctx.stdout.write(
        JSON.stringify({ reference: result.reference, digest: result.digest, layers: result.layers, timings: result.timings, pushed: result.output?.pushed, push: result.output?.push }) + '\n',
      );
    } else {
      if (!ctx.global.quiet) ctx.stderr.write(`Image built${result.output?.pushed ? '' : ' (kept in the local store)'}: ${result.reference}\n`);
      ctx.stdout.write(result.digest + '\n');
    }
    return 0;
  },
};
