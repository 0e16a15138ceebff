// Commit, the third part of a build: the new layer (the upper dir after assemble, or the runtime-image stage),
// the builder layers the format cannot carry recompressed, then config + manifest, checked against the importer
// profile, stored and tagged locally. Nothing is pushed here (push.ts).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { S2IError } from '../errors.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { parseManifestDocument } from '../oci/manifest.js';
import { compatibilityProblems, type CompatProfile } from '../image/compat.js';
import { append } from '../image/append.js';
import { outputAnnotations } from '../image/annotations.js';
import { mergeLabels } from '../image/config.js';
import { formatReference, qualified } from '../oci/reference.js';
import { layerMediaType, type BuiltManifest } from '../image/manifest.js';
import { epochToRfc3339 } from '../image/reproducible.js';
import { defaultGzipBackend } from '../layer/compress.js';
import { writeLayerFile, type LayerResult } from '../layer/write.js';
import { mergeEnvStrings } from '../s2i/environment.js';
import { outputLabels } from '../s2i/plan.js';
import { scriptPathInImage } from '../s2i/scripts.js';
import type { Assembled } from './assemble.js';
import type { Engine } from './context.js';
import { formatLayersFor } from './convert-layers.js';
import { writeCopiedRootfsLayer, type CopiedRootfs } from './copied-rootfs.js';
import type { BuildOptions } from './options.js';
import type { Prepared, Sandbox } from './prepare.js';
import { locationName, type PulledImage } from './pull.js';
import { assertParentAlive, pushTargetOf } from './push.js';
import { keepUnnamed } from '../store/local-images.js';
import { removeTrees } from './remove.js';
import { runtimeStage } from './runtime-stage.js';
import { generateSbom, type SbomDocument, type SbomLayer } from '../sbom/index.js';
import { upperNodesOwnedBy } from './single-id.js';
import type { Steps } from './steps.js';

/** A new layer with more entries than this has its upper dir removed in the background while the build pushes
 * (below it, removing it at the end costs less than starting a process). */
const BACKGROUND_REMOVAL_ENTRIES = 100;

export interface Committed {
  /** The image the new layer went on (the builder, or the runtime image). */
  base: PulledImage;
  layer: LayerResult;
  labels: Record<string, string>;
  manifest: BuiltManifest;
  /** Every blob of the result: layers in order, then the config. */
  blobs: Descriptor[];
  /** The config digest. */
  imageId: string;
  /** The image's `created` (RFC 3339): its config's, its annotations', its provenance's when deterministic. */
  created: string;
  /** The SBOM being made (--sbom, a pushed build), from the same trees the layers were written from. */
  sbom?: Promise<SbomDocument>;
}

/** The image's `created`: --timestamp / SOURCE_DATE_EPOCH, else now. */
export function createdOf(opts: Pick<BuildOptions, 'timestamp'>): string {
  return opts.timestamp !== undefined ? epochToRfc3339(opts.timestamp) : new Date().toISOString();
}

function wantsSbom(opts: BuildOptions): boolean {
  return pushTargetOf(opts) !== undefined && opts.attest !== undefined && opts.attest.sbom !== 'none';
}

/** Starts the SBOM of the result (never an unhandled rejection: its failure is reported where it is awaited). */
export function startSbom(engine: Engine, opts: BuildOptions, name: string, created: string, layers: SbomLayer[]): Promise<SbomDocument> {
  const a = opts.attest!;
  const p = generateSbom({
    format: a.sbom === 'cyclonedx' ? 'cyclonedx' : 'spdx',
    subject: { name },
    layers,
    created,
    tool: { name: 'oci-s2i', version: a.engineVersion },
    cacheDir: path.join(engine.root, 'sbom'),
  });
  p.catch(() => {});
  return p;
}

/** Options of every layer a build writes or recompresses (reproducible: pako, mtimes clamped). */
export function layerOptionsOf(opts: Pick<BuildOptions, 'timestamp' | 'reproducible'>): { mtimeClamp?: number; backend: 'pako' | ReturnType<typeof defaultGzipBackend> } {
  return {
    ...(opts.timestamp !== undefined ? { mtimeClamp: opts.timestamp } : {}),
    // The fastest gzip of this installation (libdeflate or zlib blocks on every core, deterministic output).
    backend: opts.reproducible ? 'pako' : defaultGzipBackend(),
  };
}

export async function commitBuild(engine: Engine, steps: Steps, sandbox: Sandbox, opts: BuildOptions, p: Prepared, a: Assembled): Promise<Committed> {
  const newLayerType = layerMediaType(opts.format, opts.compression);
  const layerOpts = layerOptionsOf(opts);
  const level = opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : {};
  const { rootfs, plan } = p;
  let base: PulledImage;
  let layerFile: string;
  let layer: LayerResult;
  let runPath: string;
  let createdBy: string;
  let configEnv: string[];
  let sbom: Promise<SbomDocument> | undefined;
  const created = createdOf(opts);
  if (opts.runtimeImage) {
    const rt = await runtimeStage({
      engine,
      steps,
      runtime: sandbox.runtime,
      workDir: path.join(p.buildDir, 'runtime'),
      builderRootfs: rootfs.merged,
      builderLabels: p.builder.config.config?.Labels ?? {},
      ref: opts.runtimeImage.image,
      policy: opts.runtimeImage.pullPolicy,
      ...(opts.platform ? { platform: opts.platform } : {}),
      artifacts: opts.runtimeImage.artifacts,
      ...(opts.scriptsUrl ? { scriptsUrl: opts.scriptsUrl } : {}),
      sourceDir: p.source.dir,
      ...(opts.destination ? { destinationFlag: opts.destination } : {}),
      ...(opts.runtimeImage.assembleRuntimeUser ? { assembleRuntimeUser: opts.runtimeImage.assembleRuntimeUser } : {}),
      env: [...p.env, ...opts.buildEnv],
      network: opts.network,
      capDrop: opts.capDrop,
      restricted: sandbox.restricted,
      ...(p.hostsFile ? { hostsFile: p.hostsFile } : {}),
      compression: opts.compression,
      ...level,
      layerOptions: layerOpts,
      sbom: wantsSbom(opts),
    });
    await rootfs.unmount();
    ({ base, layerFile, layer, runPath, createdBy } = rt);
    // The SBOM of the result: the runtime image's layers (not the builder's) and the new layer's tree (the staged
    // artifacts, or the assemble-runtime upper dir), read while the build commits and pushes.
    if (wantsSbom(opts)) {
      const layers: SbomLayer[] = [...base.layers.map((l) => ({ diffID: l.diffID, dir: l.dir })), { diffID: layer.diffID, dir: rt.tree }];
      sbom = startSbom(engine, opts, p.targetName ?? locationName(opts.target), created, layers);
    }
    configEnv = mergeEnvStrings(base.config.config?.Env ?? [], p.env);
  } else {
    await rootfs.unmount();
    base = p.builder;
    runPath = scriptPathInImage('run', p.scripts.get('run')!, plan.destination);
    createdBy = `oci-s2i build: ${a.assemblePath}`;
    configEnv = plan.persistentEnv;
    layerFile = path.join(p.buildDir, 'layer.tar');
    const write = { compression: opts.compression, ...level, ...layerOpts };
    layer = await steps.run('layer', () =>
      rootfs.kind === 'copy'
        ? writeCopiedRootfsLayer(rootfs as CopiedRootfs, layerFile, write, p.recordOwner)
        : writeLayerFile(rootfs.upper, layerFile, {
            ...write,
            overlayWhiteouts: true,
            ...(p.recordOwner ? { nodes: upperNodesOwnedBy(rootfs.upper, p.builder.layers.map((l) => l.dir), p.recordOwner) } : {}),
          }),
    );
    // The SBOM reads the builder's unpacked layers and the new layer's tree while the build commits and pushes.
    if (wantsSbom(opts)) {
      const layers: SbomLayer[] = [
        ...base.layers.map((l) => ({ diffID: l.diffID, dir: l.dir })),
        rootfs.kind === 'copy' ? { diffID: layer.diffID, dir: rootfs.merged, rootfs: {} } : { diffID: layer.diffID, dir: rootfs.upper },
      ];
      sbom = startSbom(engine, opts, p.targetName ?? locationName(opts.target), created, layers);
    }
    // Upper and work dirs are done with (once the SBOM has read them): unless tiny, they go away in a child process
    // during commit and push.
    if (!opts.saveTempDir && layer.entries > BACKGROUND_REMOVAL_ENTRIES) {
      const read = sbom?.catch(() => undefined);
      p.scratch.removal = read ? read.then(() => removeTrees(rootfs.scratchDirs())) : removeTrees(rootfs.scratchDirs());
    }
  }
  const layerDesc: Descriptor = { mediaType: newLayerType, digest: layer.digest, size: layer.size };
  await engine.store.adopt(layerDesc, layerFile); // written and digested in one pass just now: linked, not re-read
  const labels = outputLabels(plan, base.config.config?.Labels ?? {}, a.metadataLabels);

  // Builder layers the format cannot carry (zstd, plain tar → Docker) become gzip, diffIDs unchanged.
  const baseLayers = await steps.run('convert layers', () => formatLayersFor(engine, base, opts.format, { workDir: path.join(p.buildDir, 'convert'), backend: layerOpts.backend }));
  const image = await steps.run('commit', () =>
    commitImage(engine, opts, {
      base,
      baseLayers,
      layer,
      layerDesc,
      runPath,
      env: configEnv,
      labels,
      createdBy,
      target: p.targetName,
      comment: `source-to-image build of ${p.source.location} with ${p.builderName}`,
      source: sourceFacts(p.source),
      created,
    }),
  );
  return { base, layer, ...image, ...(sbom ? { sbom } : {}) };
}

export interface CommitInput {
  base: PulledImage;
  /** The base's layer descriptors as the output carries them (converted for the format). */
  baseLayers: Descriptor[];
  layer: LayerResult;
  layerDesc: Descriptor;
  runPath: string;
  env: string[];
  labels: Record<string, string>;
  createdBy: string;
  comment: string;
  /** The local tag (the destination as the user named it); undefined: listed in the store unnamed (no TAG). */
  target: string | undefined;
  /** Where the source came from (credentials cut out of a URL) and its commit: the source and revision annotations. */
  source: { uri: string; revision?: string | undefined };
  /** The image's `created` (createdOf); absent: --timestamp, else now. */
  created?: string;
}

/** The source as the annotations and the provenance name it: a URL's user and password never leave the build. */
export function sourceFacts(s: { location: string; git?: { id?: string | undefined } | undefined }): { uri: string; revision?: string } {
  const uri = path.isAbsolute(s.location) ? pathToFileURL(s.location).href : withoutCredentials(s.location);
  return { uri, ...(s.git?.id ? { revision: s.git.id } : {}) };
}

export function withoutCredentials(location: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return location;
  try {
    const u = new URL(location);
    if (u.username === '' && u.password === '') return location;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return location.replace(/\/\/[^/@]*@/, '//');
  }
}

/** The base image's name in its annotation: fully qualified for a registry image, the location as given otherwise. */
export function baseNameOf(base: Pick<PulledImage, 'location' | 'ref' | 'name'>): string {
  return base.location.transport === 'docker' ? formatReference(qualified(base.ref)) : base.name;
}

/** Refuses (nothing stored or pushed) a result the importer `profile` would reject, each problem warned. */
export function checkImporter(engine: Engine, profile: CompatProfile, manifest: { bytes: Buffer; mediaType: string }, config: ImageConfig): void {
  const problems = compatibilityProblems(profile, parseManifestDocument(manifest.bytes, manifest.mediaType), config);
  if (problems.length === 0) return;
  for (const p of problems) engine.onProgress({ type: 'log', level: 'warn', message: `${p.problem}: ${p.fix}` });
  throw new S2IError(
    'ERR_IMAGE_INCOMPATIBLE',
    `the image would not import into ${profile}, so nothing was pushed: ${problems.map((p) => `${p.problem} (${p.fix})`).join('; ')}; or build with --check none`,
    { step: 'commit' },
  );
}

/**
 * New config (Cmd = run, Env, Labels; User and the rest kept from the base) + manifest, checked against the
 * importer profile (nothing is stored or tagged when it fails), then stored and tagged locally.
 */
export async function commitImage(
  engine: Engine,
  opts: Pick<BuildOptions, 'format' | 'check' | 'timestamp' | 'annotations' | 'labels'>,
  c: CommitInput,
): Promise<{ manifest: BuiltManifest; blobs: Descriptor[]; labels: Record<string, string>; created: string; imageId: string }> {
  const now = c.created ?? createdOf(opts);
  const annotations = outputAnnotations(
    { source: c.source.uri, revision: c.source.revision, created: now, baseName: baseNameOf(c.base), baseDigest: c.base.manifestDescriptor.digest },
    opts.annotations,
  );
  // A Docker manifest has no annotations: the same keys go into the labels (a --label of the same name still wins).
  const labels = opts.format === 'docker' ? mergeLabels(c.labels, annotations, opts.labels) : c.labels;
  const { config, configBytes, configDescriptor: configDesc, layers, manifest } = append(
    { config: c.base.config, layers: c.baseLayers },
    { descriptor: c.layerDesc, diffID: c.layer.diffID },
    { history: { created: now, created_by: c.createdBy, comment: c.comment }, fields: { Cmd: [c.runPath], Env: c.env, Labels: labels } },
    opts.format,
    opts.format === 'oci' ? { annotations } : {},
  );
  if (opts.check) checkImporter(engine, opts.check, manifest, config);
  await engine.store.putBytes(configBytes, configDesc.mediaType);
  await engine.store.putBytes(manifest.bytes, manifest.mediaType);
  assertParentAlive('tagged');
  if (c.target !== undefined) await engine.store.tag(manifest.descriptor, c.target);
  else await keepUnnamed(engine.root, manifest.descriptor);
  return { manifest, blobs: [...layers, configDesc], labels, created: now, imageId: configDesc.digest };
}
