// s2i's onbuild strategy (openshift/source-to-image pkg/build/strategies/onbuild), chosen by `build` when the
// builder's config has ONBUILD triggers (and not --block-onbuild): the source (after .s2iignore and --exclude) is
// the context; assemble and run found outside the image (--scripts-url, .s2i/bin, an http(s) label) are put at
// its root; a generated Containerfile (s2i/onbuild.ts) runs `FROM builder`, whose triggers run with that context,
// then `sh assemble` when there is one, and sets the ENTRYPOINT guessed from the context's root. It runs on the
// Containerfile executor (execute.ts) and ends as every build does: the format asked for, the generated and
// --label labels, pushed (or kept with --no-push).
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { BuildOptions } from '../pipeline/options.js';
import type { OnBuildStrategy } from '../pipeline/build.js';
import type { OnBuildHandOff } from '../pipeline/prepare.js';
import { locationName } from '../pipeline/pull.js';
import { copySource, makeSourceFilter } from '../s2i/ignore.js';
import { guessEntrypoint, renderOnBuildContainerfile, type RootEntry } from '../s2i/onbuild.js';
import { materializeScripts, resolveScripts, type ScriptName, type ScriptSource } from '../s2i/scripts.js';
import { loadIgnore } from './ignore.js';
import { parseContainerfile } from './parse.js';
import { runContainerfile } from './execute.js';

/** Flags the onbuild strategy has no use for (s2i ignores them there too): named in one warning line. */
function ignoredFlags(opts: BuildOptions): string[] {
  const out: string[] = [];
  if (opts.incremental) out.push('--incremental');
  if (opts.binds.length) out.push('--inject/-v');
  if (opts.capDrop.length) out.push('--cap-drop');
  if (opts.addHosts.length) out.push('--add-host');
  if (opts.assembleUser) out.push('--assemble-user');
  if (opts.buildEnv.length) out.push('--build-env');
  if (opts.destination) out.push('--destination');
  if (opts.compression !== 'gzip') out.push('--compression');
  if (opts.timestamp !== undefined) out.push('--timestamp');
  return out;
}

export const onBuildStrategy: OnBuildStrategy = async (engine, steps, sandbox, opts, h: OnBuildHandOff) => {
  const warn = (message: string) => engine.onProgress({ type: 'log', level: 'warn', message });
  if (opts.runtimeImage) {
    throw new S2IError('ERR_USAGE', `builder ${h.builderName} has ONBUILD triggers, and s2i's onbuild strategy has no runtime image: leave out --runtime-image, or give --block-onbuild to build with the S2I scripts`);
  }
  engine.onProgress({ type: 'log', level: 'info', message: `builder ${h.builderName} has ${h.triggers.length} ONBUILD trigger${h.triggers.length === 1 ? '' : 's'}: building as s2i's onbuild strategy does (the triggers run with the source as context)` });
  const ignored = ignoredFlags(opts);
  if (ignored.length) warn(`the onbuild strategy does not use ${ignored.join(', ')} (as s2i); give --block-onbuild to build with the S2I scripts instead`);

  const context = path.join(h.buildDir, 'onbuild-context');
  await steps.run('inject source', async () => {
    await copySource(h.source.dir, context, await makeSourceFilter(h.source.dir, opts.exclude), { keepSymlinks: opts.keepSymlinks ?? false });
  });
  const imgConfig = h.builder.config.config ?? {};
  // assemble and run, both optional; those the image holds stay there (s2i copies only what it downloaded).
  const scripts = await steps.run('scripts', () =>
    resolveScripts({
      ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
      ...(opts.imageScriptsUrl ? { imageScriptsUrl: opts.imageScriptsUrl } : {}),
      sourceDir: h.source.dir,
      imageLabels: imgConfig.Labels ?? {},
      imageEnv: imgConfig.Env ?? [],
      needed: [],
      optional: ['assemble', 'run'],
    }),
  );
  const outside = new Map<ScriptName, ScriptSource>([...scripts].filter(([, s]) => s.kind !== 'image'));
  const staging = path.join(h.buildDir, 'onbuild-scripts');
  for (const name of await materializeScripts(outside, staging)) {
    // A source entry of that name (a symlink above all) is replaced, never written through.
    await rm(path.join(context, name), { recursive: true, force: true });
    await copyFile(path.join(staging, name), path.join(context, name), constants.COPYFILE_EXCL);
  }

  const entries: RootEntry[] = [];
  for (const name of await readdir(context)) {
    const st = await lstat(path.join(context, name));
    entries.push({ name, isFile: st.isFile(), executable: (st.mode & 0o111) !== 0 });
  }
  const entrypoint = guessEntrypoint(entries);
  if (!entrypoint) {
    throw new S2IError(
      'ERR_SCRIPT_MISSING',
      `builder ${h.builderName} has ONBUILD triggers, and s2i's onbuild strategy needs an entrypoint: add an executable run, start, exec or execute (.sh) at the source root, give --scripts-url with a run script, or give --block-onbuild to build with the S2I scripts`,
    );
  }
  const text = renderOnBuildContainerfile({
    builderImage: locationName(opts.builder),
    env: h.env,
    labels: h.plan.addedLabels,
    assemble: entries.some((e) => e.name === 'assemble' && e.isFile),
    entrypoint,
  });
  const file = path.join(h.buildDir, 'Containerfile.onbuild');
  await mkdir(h.buildDir, { recursive: true });
  await writeFile(file, text);
  // A local TAG (no registry, `local:NAME`) is kept in the store under its name, as --no-push keeps a registry TAG.
  if (h.targetName === undefined) {
    throw new S2IError('ERR_USAGE', `builder ${h.builderName} has ONBUILD triggers (s2i's onbuild strategy), whose result is kept under a name: give a TAG (or --block-onbuild to build it with the S2I scripts, unnamed)`);
  }
  const local = opts.target.transport === 'local';
  const result = await runContainerfile(engine, steps, {
    parsed: parseContainerfile(text, 'Containerfile.onbuild'),
    file: 'Containerfile.onbuild',
    contextDir: context,
    buildArgs: new Map(),
    runtime: sandbox.runtime,
    format: opts.format,
    squash: false,
    network: opts.network,
    ...(opts.platform ? { platform: opts.platform } : {}),
    pullPolicy: opts.pullPolicy,
    ignored: await loadIgnore(context, file),
    runOnBuild: true,
    check: opts.check,
    tag: h.targetName,
    noPush: local || (opts.noPush ?? false),
  });
  const layer = result.layers[result.layers.length - 1];
  return {
    reference: result.reference,
    digest: result.digest,
    imageId: (JSON.parse(result.manifest.bytes.toString('utf8')) as { config: { digest: string } }).config.digest,
    manifest: result.manifest,
    ...(layer ? { layer } : {}),
    labels: result.config.config?.Labels ?? {},
    timings: steps.timings,
    runtime: sandbox.runtime.name,
    incremental: false,
    ...(result.output?.push ? { push: result.output.push } : {}),
    ...(opts.saveTempDir ? { tempDir: h.buildDir } : {}),
  };
};
