// `generate BUILDER FILE` (s2i's `generate`, pkg/cmd/cli/cmd/generate.go): the Containerfile `build --as-dockerfile
// FILE` writes for BUILDER, without an application: its context's upload/src is left empty, for the application
// to be put there before another tool (buildah, podman, docker, kaniko) builds it. The same writer as
// --as-dockerfile (cli/commands/build.ts writeContainerfile), so the two cannot drift.
import { S2IError } from '../../errors.js';
import type { Command } from '../command.js';
import { asDockerfileOptions, buildOptionsFromValues } from '../build-options.js';
import { registryParams } from '../registry-flags.js';
import { makeRenderer } from '../render.js';
import { buildParams, writeContainerfile } from './build.js';

/** s2i's generate takes -e, -q and the assemble user; the flags of --as-dockerfile that need no application go along. */
const taken = ['env', 'environment-file', 'assemble-user', 'scripts-url', 'image-scripts-url', 'destination', 'allowed-uids', 'label', 'application-name', 'description', 'platform', 'pull-policy', 'incremental'];

export const generateCommand: Command = {
  name: 'generate',
  summary: "Write the Containerfile (Dockerfile) of the BUILDER image to FILE, as `build --as-dockerfile FILE` writes it but with no application: put it in upload/src next to FILE, then build FILE with buildah, podman or docker (s2i's `generate`).",
  args: ['BUILDER', 'FILE'],
  params: [...buildParams.filter((p) => taken.includes(p.name)), ...registryParams],
  async run(ctx) {
    const [builder, file] = ctx.positionals as [string | undefined, string | undefined];
    if (!builder || !file) throw new S2IError('ERR_USAGE', 'generate takes BUILDER FILE; see `oci-s2i generate --help`');
    const v = { ...ctx.values, 'as-dockerfile': file };
    const { target: _target, asDockerfile: _file, ...o } = buildOptionsFromValues(v, undefined);
    return await writeContainerfile(ctx, { ...asDockerfileOptions({ ...o, asDockerfile: file }, undefined, builder, undefined, v), onProgress: makeRenderer(ctx.global, ctx.stderr), signal: ctx.signal });
  },
};
