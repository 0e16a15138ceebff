import { S2IError, ExitCode } from '../../errors.js';
import { build, writeDigestFile } from '../../build/build.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Command } from '../command.js';
import { str, list, oneOf, intFlag } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { makeRenderer } from '../render.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'Build SOURCE with the BUILDER image\'s assemble script and push the result as TAG. No daemon needed.',
  args: ['SOURCE', 'BUILDER', 'TAG'],
  needsNamespace: true,
  params: [
    { name: 'format', type: 'string', value: 'docker|oci', description: 'manifest format of the result (docker for OpenShift <= 4.6 and old Quay)', default: 'docker' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'builder platform to pick from a manifest list/index (default: this host)' },
    { name: 'pull-policy', type: 'string', value: 'always|if-not-present|never', description: 'when to fetch the builder manifest from its registry', default: 'if-not-present' },
    { name: 'runtime', type: 'string', value: 'runc|crun|PATH', description: 'OCI runtime (default: crun on cgroup v2 hosts, else runc)' },
    { name: 'env', short: 'e', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'environment for assemble, kept in the image' },
    { name: 'environment-file', short: 'E', type: 'string', multiple: true, value: 'FILE', description: 'file of NAME=VALUE lines, order kept' },
    { name: 'build-env', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'environment for assemble only, never stored in the image' },
    { name: 'scripts-url', short: 's', type: 'string', value: 'URL', description: 'where to find S2I scripts: image:///path, file://dir, http(s)://…' },
    { name: 'destination', short: 'd', type: 'string', value: 'DIR', description: 'where source and scripts go in the image (default: label, else /tmp)' },
    { name: 'assemble-user', type: 'string', value: 'UID[:GID]', description: 'user that runs assemble (default: label, else the image USER)' },
    { name: 'label', type: 'string', multiple: true, value: 'NAME=VALUE', description: 'label for the output image' },
    { name: 'application-name', short: 'n', type: 'string', value: 'NAME', description: 'application name (io.k8s.display-name)' },
    { name: 'description', type: 'string', value: 'TEXT', description: 'image description (io.k8s.description)' },
    { name: 'network', type: 'string', value: 'host|none', description: 'network for assemble', default: 'host' },
    { name: 'cap-drop', type: 'string', multiple: true, value: 'CAP', description: 'capability to drop for assemble (ALL for every one)' },
    { name: 'exclude', type: 'string', value: 'REGEX', description: 'source paths to leave out', default: '(^|/)\\.git(/|$)' },
    { name: 'compression', type: 'string', value: 'gzip|zstd|none', description: 'compression of the new layer', default: 'gzip' },
    { name: 'compression-level', type: 'string', value: 'N', description: 'compression level (gzip 1-9, zstd 1-19)' },
    { name: 'digestfile', type: 'string', value: 'FILE', description: 'write the pushed manifest digest to FILE' },
    { name: 'no-push', type: 'boolean', description: 'keep the result in the local store only' },
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const [source, builder, tag] = ctx.positionals as [string, string, string];
    const format = oneOf('format', str(v.format), ['docker', 'oci'] as const) ?? 'docker';
    const compression = oneOf('compression', str(v.compression), ['gzip', 'zstd', 'none'] as const) ?? 'gzip';
    if (format === 'docker' && compression === 'zstd') {
      throw new S2IError('ERR_USAGE', '--compression zstd cannot be used with --format docker (Docker images have no zstd layers): use --format oci or --compression gzip', {
        exitCode: ExitCode.usage,
      });
    }
    const network = oneOf('network', str(v.network), ['host', 'none'] as const);
    const pullPolicy = oneOf('pull-policy', str(v['pull-policy']), ['always', 'if-not-present', 'never'] as const);
    const level = intFlag('compression-level', str(v['compression-level']), compression === 'zstd' ? 1 : 0, compression === 'zstd' ? 19 : 9);
    const platform = str(v.platform);
    const onProgress = makeRenderer(ctx.global, ctx.stderr);
    const controller = new AbortController();
    ctx.signal.addEventListener('abort', () => controller.abort(), { once: true });
    const opt = <T>(k: string, val: T | undefined) => (val === undefined ? {} : { [k]: val });
    const result = await build({
      source,
      builder,
      tag,
      format,
      compression,
      ...opt('compressionLevel', level),
      ...opt('platform', platform ? parsePlatform(platform) : undefined),
      ...opt('pullPolicy', pullPolicy),
      ...opt('runtime', str(v.runtime)),
      env: list(v.env),
      envFiles: list(v['environment-file']),
      buildEnv: list(v['build-env']),
      ...opt('scriptsUrl', str(v['scripts-url'])),
      ...opt('destination', str(v.destination)),
      ...opt('assembleUser', str(v['assemble-user'])),
      labels: list(v.label),
      ...opt('applicationName', str(v['application-name'])),
      ...opt('description', str(v.description)),
      ...opt('network', network),
      capDrop: list(v['cap-drop']),
      ...opt('exclude', str(v.exclude)),
      ...opt('root', str(v.root)),
      noPush: v['no-push'] === true,
      registry: registryOptions(v),
      onProgress,
      signal: controller.signal,
    });
    const digestFile = str(v.digestfile);
    if (digestFile) await writeDigestFile(digestFile, result.digest);
    if (ctx.global.json) {
      ctx.stdout.write(JSON.stringify({ reference: result.reference, digest: result.digest, layer: result.layer, timings: result.timings, push: result.push }) + '\n');
    } else {
      if (!ctx.global.quiet) ctx.stderr.write(`Build completed successfully: ${result.reference}\n`);
      ctx.stdout.write(result.digest + '\n');
    }
    return 0;
  },
};
