// S2I planning as a pure function (issue 11): what a build does with a builder, decided from the builder's
// config and the typed options alone, with no I/O. `build` and `--as-dockerfile` both take their destination,
// users, environment, allowed-UID verdict and labels from here, so the two cannot drift apart.
// Scripts are not planned here: finding them reads the source tree, the image and maybe the network.
import type { UidRange } from './allowed-uids.js';
import { checkUser } from './allowed-uids.js';
import { assembleUser as pickAssembleUser, destinationPaths, resolveDestination } from './destination.js';
import { mergeEnvStrings, type EnvList } from './environment.js';
import { Label, generatedLabels, mergeLabels, type GitInfo } from './labels.js';
import { onBuildTriggers, onBuildUsers } from './onbuild.js';

/** PATH of assemble when neither the builder nor the build sets one (the runtimes' usual default). */
export const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the plan reads of the builder image's config. */
export interface BuilderFacts {
  labels: Record<string, string>;
  env: string[];
  /** The image USER ('' or undefined: root). */
  user?: string | undefined;
  /** ONBUILD triggers (s2i/onbuild.ts): the users they switch to are checked against --allowed-uids. */
  onBuild?: string[] | undefined;
}

export interface S2IPlanOptions {
  /** The builder as the user named it (label io.openshift.s2i.build.image). */
  builderName: string;
  /** The output as the user named it (display-name label when no application name); none for --as-dockerfile without a tag. */
  tag?: string | undefined;
  source: { location: string; contextDir?: string | undefined; git?: GitInfo | undefined };
  /** --destination */
  destination?: string | undefined;
  /** --assemble-user */
  assembleUser?: string | undefined;
  /** --allowed-uids, parsed; empty or absent: no policy. */
  allowedUids?: UidRange[] | undefined;
  /** --label K=V, parsed. */
  labels?: Record<string, string> | undefined;
  applicationName?: string | undefined;
  description?: string | undefined;
  /** .s2i/environment, -e, -E: persists into the image. */
  env: EnvList;
  /** --build-env: assemble only, never in the image. */
  buildEnv?: EnvList | undefined;
}

/** The plan's inputs that come straight from the user's flags (build and --as-dockerfile take the same ones). */
export type S2IFlagOptions = Pick<S2IPlanOptions, 'destination' | 'assembleUser' | 'allowedUids' | 'labels' | 'applicationName' | 'description'>;

/** Those flags picked out of a command's options, so every command hands the plan the same set. */
export function planFlags(o: S2IFlagOptions): S2IFlagOptions {
  return {
    destination: o.destination,
    assembleUser: o.assembleUser,
    allowedUids: o.allowedUids,
    labels: o.labels,
    applicationName: o.applicationName,
    description: o.description,
  };
}

export interface S2IPlan {
  /** Upload destination (`--destination` → label → /tmp) and where source, scripts and artifacts go under it. */
  destination: string;
  paths: { src: string; scripts: string; artifacts: string };
  /** USER spec assemble runs as (`--assemble-user` → label → image USER). */
  assembleUser: string;
  /** The image USER, kept as the output's USER. */
  imageUser: string;
  /** Env of the output image: builder env + build env (later wins, first position kept). */
  persistentEnv: string[];
  /** Env of assemble: the above + --build-env, with a default PATH when none is set. */
  assembleEnv: string[];
  /** Labels the build adds (generated, then --label); image_metadata.json and the base go around them. */
  addedLabels: Record<string, string>;
}

/**
 * Plans an S2I build. Throws the allowed-UIDs verdict (ERR_USER_NOT_ALLOWED, exit 15) and bad destinations
 * (ERR_DESTINATION) — the same errors, in the same order, whichever command asks.
 */
export function planS2I(builder: BuilderFacts, opts: S2IPlanOptions): S2IPlan {
  const ranges = opts.allowedUids ?? [];
  if (ranges.length > 0) {
    checkUser(builder.user, ranges, 'image USER');
    if (builder.labels[Label.assembleUser]) checkUser(builder.labels[Label.assembleUser], ranges, `label ${Label.assembleUser}`);
    if (opts.assembleUser) checkUser(opts.assembleUser, ranges, '--assemble-user');
    for (const u of onBuildUsers(builder.onBuild ?? [])) checkUser(u, ranges, 'ONBUILD USER');
  }
  const destination = resolveDestination(opts.destination, builder.labels);
  const persistentEnv = mergeEnvStrings(builder.env, opts.env);
  const assembleEnv = mergeEnvStrings(persistentEnv, opts.buildEnv ?? []);
  if (!assembleEnv.some((e) => e.startsWith('PATH='))) assembleEnv.unshift(defaultPath);
  const generated = generatedLabels({
    builderImage: opts.builderName,
    sourceLocation: opts.source.location,
    ...(opts.source.contextDir ? { contextDir: opts.source.contextDir } : {}),
    ...(opts.tag ? { tag: opts.tag } : {}),
    ...(opts.applicationName ? { appName: opts.applicationName } : {}),
    ...(opts.description ? { description: opts.description } : {}),
    ...(opts.source.git ? { git: opts.source.git } : {}),
  });
  return {
    destination,
    paths: destinationPaths(destination),
    assembleUser: pickAssembleUser(opts.assembleUser, builder.labels, builder.user),
    imageUser: builder.user ?? '',
    persistentEnv,
    assembleEnv,
    addedLabels: mergeLabels(generated, opts.labels ?? {}),
  };
}

/** The output image's labels: base image's < the plan's (generated < --label) < image_metadata.json's. */
export function outputLabels(plan: S2IPlan, base: Record<string, string>, metadata: Record<string, string> = {}): Record<string, string> {
  return mergeLabels(base, plan.addedLabels, metadata);
}

/**
 * One warning line when the builder has ONBUILD triggers that this build does not run (--block-onbuild, or
 * --isolation in-image): s2i's onbuild strategy would run them. Undefined when there are none.
 */
export function onBuildWarning(config: { [k: string]: unknown }, builderName: string, why: string): string | undefined {
  const triggers = onBuildTriggers(config);
  if (triggers.length === 0) return undefined;
  const shown = triggers.map((x) => x.replace(/\s+/g, ' ').trim()).join('; ');
  return `builder ${builderName} has ${triggers.length} ONBUILD trigger${triggers.length === 1 ? '' : 's'} that this build does not run (${why}): ${shown.length > 400 ? `${shown.slice(0, 399)}…` : shown}`;
}
