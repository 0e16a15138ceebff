// Runtime images (S2I-CONTRACT.md "Runtime image"): after assemble, SRC paths are copied out of the builder
// rootfs into DST under the runtime image's WORKDIR. With an `assemble-runtime` script the runtime image is
// pulled and the script runs on top of it; without one the artifacts become ONE layer appended to the
// runtime image, and only its manifest and config are fetched (its blobs are mounted/skipped at push) — unless an
// SBOM is wanted: then its layers are unpacked into the layer cache too (once; a warm build reads them there).
import { cp, mkdir, chown } from 'node:fs/promises';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { Platform } from '../oci/types.js';
import type { ImageLocation } from '../transport/parse.js';
import type { Runtime } from '../sandbox/runtime.js';
import { fileInRoot, chownTree, ensureDirInRoot } from '../sandbox/rootfs.js';
import { writeLayerFile, type LayerResult, type WriteLayerOptions } from '../layer/write.js';
import type { Compression } from '../layer/compress.js';
import { resolveScripts, materializeScripts, scriptPathInImage } from '../s2i/scripts.js';
import { resolveDestination, destinationPaths, assembleRuntimeUser } from '../s2i/destination.js';
import { Label } from '../s2i/labels.js';
import type { ResolvedUser } from '../s2i/user.js';
import type { Engine } from './context.js';
import { pullImage, unpackLayers, type PulledImage, type PullPolicy } from './pull.js';
import { mountRootfs, resolveUser, runScript, copyIntoRoot, assembleFailed } from './sandbox-run.js';
import type { Steps } from './steps.js';
import { workingDirOf } from '../oci/image-path.js';

export interface RuntimeArtifact {
  /** Absolute path in the builder after assemble. */
  source: string;
  /** Directory relative to the runtime WORKDIR ('.' = WORKDIR). */
  destination: string;
}

/** `SRC[:DST]` items, `;`-separated inside one value (flag or assemble-input-files label). */
export function parseRuntimeArtifacts(values: string[], what: string): RuntimeArtifact[] {
  return values
    .flatMap((v) => v.split(';'))
    .map((v) => v.trim())
    .filter(Boolean)
    .map((item) => {
      const colon = item.indexOf(':');
      const source = colon < 0 ? item : item.slice(0, colon);
      const destination = colon < 0 ? '.' : item.slice(colon + 1) || '.';
      const bad = (why: string) => new S2IError('ERR_RUNTIME_ARTIFACT', `${what} "${item}": ${why}; use /absolute/source[:relative/destination]`);
      if (!source.startsWith('/')) throw bad('the source must be an absolute path in the builder');
      if (destination.startsWith('/')) throw bad('the destination must be relative to the runtime image WORKDIR');
      if (destination.split('/').includes('..') || source.split('/').includes('..')) throw bad('".." is not allowed');
      return { source: path.posix.normalize(source), destination: path.posix.normalize(destination) };
    });
}

export interface RuntimeStageInput {
  engine: Engine;
  steps: Steps;
  runtime: Runtime;
  workDir: string;
  builderRootfs: string;
  builderLabels: Record<string, string>;
  ref: ImageLocation;
  policy: PullPolicy;
  platform?: Platform;
  /** -a, parsed; empty: the assemble-input-files label (runtime image, else builder). */
  artifacts: RuntimeArtifact[];
  scriptsUrl?: string;
  sourceDir: string;
  destinationFlag?: string;
  assembleRuntimeUser?: string;
  /** Environment of assemble-runtime (runtime Env + build env). */
  env: Array<[string, string]>;
  network: 'host' | 'none';
  capDrop: string[];
  restricted: boolean;
  hostsFile?: string;
  compression: Compression;
  level?: number;
  /** Reproducibility options of the new layer (mtimeClamp, backend). */
  layerOptions?: Pick<WriteLayerOptions, 'mtimeClamp' | 'backend'>;
  /** An SBOM will be made: the runtime image's layers are unpacked (and leased for the build) even for a plain append. */
  sbom?: boolean;
}

export interface RuntimeStageResult {
  base: PulledImage;
  layer: LayerResult;
  layerFile: string;
  runPath: string;
  createdBy: string;
  /** True when the runtime image's layers were pulled (assemble-runtime, a named user, or an SBOM wanted). */
  pulledLayers: boolean;
  /** The new layer as a tree, kept until the build dir goes: the staged artifacts (a plain tree), or the overlay
   * upper dir after assemble-runtime (whiteouts as char devices 0:0). */
  tree: string;
}

function numericUser(spec: string): { uid: number; gid: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(spec || '0');
  return m ? { uid: Number(m[1]), gid: m[2] ? Number(m[2]) : 0 } : undefined;
}

export async function runtimeStage(input: RuntimeStageInput): Promise<RuntimeStageResult> {
  const { engine, steps } = input;
  const base = await steps.run('pull runtime image', () =>
    pullImage(engine, input.ref, { policy: input.policy, metadataOnly: true, ...(input.platform ? { platform: input.platform } : {}) }),
  );
  const cfg = base.config.config ?? {};
  const labels = cfg.Labels ?? {};
  const workdir = workingDirOf(base.config, 'the runtime image');
  const fromLabel = labels[Label.assembleInputFiles] ?? input.builderLabels[Label.assembleInputFiles];
  const mapping = input.artifacts.length > 0 ? input.artifacts : parseRuntimeArtifacts(fromLabel ? [fromLabel] : [], `label ${Label.assembleInputFiles}`);
  if (mapping.length === 0) {
    throw new S2IError('ERR_RUNTIME_ARTIFACT', `no runtime artifacts: give -a /path/in/builder[:dir] or set the ${Label.assembleInputFiles} label`);
  }
  const destination = resolveDestination(input.destinationFlag, labels);
  const userSpec = assembleRuntimeUser(input.assembleRuntimeUser, labels, cfg.User);
  const scripts = await resolveScripts({
    ...(input.scriptsUrl ? { scriptsUrl: input.scriptsUrl } : {}),
    sourceDir: input.sourceDir,
    imageLabels: labels,
    imageEnv: cfg.Env ?? [],
    needed: ['run'],
    optional: ['assemble-runtime'],
  });
  const assembleRuntime = scripts.get('assemble-runtime');
  const runPath = scriptPathInImage('run', scripts.get('run')!, destination);

  // The artifacts, laid out as they will appear in the runtime image: <staging>/<workdir>/<dst>/<name>.
  const staging = path.join(input.workDir, 'staging');
  const stagedWorkdir = path.join(staging, ...workdir.split('/').filter(Boolean));
  await mkdir(stagedWorkdir, { recursive: true, mode: 0o755 });
  await steps.run('copy runtime artifacts', async () => {
    for (const a of mapping) {
      const host = await fileInRoot(input.builderRootfs, a.source);
      if (!host) throw new S2IError('ERR_RUNTIME_ARTIFACT', `runtime artifact ${a.source} does not exist in the builder after assemble`, { step: 'commit' });
      const dir = path.join(stagedWorkdir, ...a.destination.split('/').filter((c) => c && c !== '.'));
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await cp(host, path.join(dir, path.posix.basename(a.source)), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    }
  });

  let user = numericUser(userSpec) as ResolvedUser | undefined;
  // Layers are needed to run assemble-runtime, to see whether an image:// one exists, or to resolve a named user.
  const needLayers = assembleRuntime !== undefined || user === undefined;
  if (!needLayers) {
    // Registry-native append: one layer with the artifacts (and uploaded scripts), no runtime layer pulled.
    const u = user!;
    await chownTree(stagedWorkdir, u.uid, u.gid);
    for (let d = path.dirname(stagedWorkdir); d.startsWith(staging) && d !== staging; d = path.dirname(d)) await chown(d, 0, 0);
    await uploadScripts(scripts, input.workDir, staging, destination, u);
    const layerFile = path.join(input.workDir, 'layer.tar');
    const layer = await steps.run('layer', () => writeLayerFile(staging, layerFile, { compression: input.compression, ...(input.level !== undefined ? { level: input.level } : {}), ...input.layerOptions, overlayWhiteouts: false }));
    if (input.sbom) await pullRuntimeLayers(input, base);
    return { base, layer, layerFile, runPath, createdBy: `oci-s2i build: runtime artifacts ${mapping.map((m) => m.source).join(' ')}`, pulledLayers: input.sbom === true, tree: staging };
  }

  await pullRuntimeLayers(input, base);
  const rootfs = await mountRootfs(steps, input.workDir, base.layers.map((l) => l.dir));
  user = await resolveUser(rootfs.merged, userSpec);
  let present = assembleRuntime;
  if (present?.kind === 'image' && !(await fileInRoot(rootfs.merged, present.path))) present = undefined;
  await chownTree(stagedWorkdir, user.uid, user.gid);
  await copyIntoRoot(rootfs.merged, stagedWorkdir, workdir, undefined, 'follow');
  const scriptsStaging = path.join(input.workDir, 'scripts');
  if ((await materializeScripts(scripts, scriptsStaging)).length > 0) {
    await copyIntoRoot(rootfs.merged, scriptsStaging, destinationPaths(destination).scripts, { uid: user.uid, gid: 0 });
  }
  if (present) {
    const scriptPath = scriptPathInImage('assemble-runtime', present, destination);
    const env = [...(cfg.Env ?? []).filter((e) => !input.env.some(([k]) => e.startsWith(k + '='))), ...input.env.map(([k, v]) => `${k}=${v}`)];
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    await ensureDirInRoot(rootfs.merged, workdir);
    const result = await steps.run('assemble-runtime', () =>
      runScript({
        runtime: input.runtime,
        rootfs: rootfs.merged,
        bundleDir: path.join(input.workDir, 'bundle'),
        storeRoot: engine.root,
        id: `oci-s2i-rt-${path.basename(path.dirname(input.workDir))}`,
        args: [scriptPath],
        env,
        cwd: workdir,
        user: user!,
        network: input.network,
        capDrop: input.capDrop,
        signal: engine.signal,
        onProgress: engine.onProgress,
        restricted: input.restricted,
        ...(input.hostsFile ? { hostsFile: input.hostsFile } : {}),
      }),
    );
    if (engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
    if (result.exitCode !== 0) throw assembleFailed(result, `assemble-runtime (${scriptPath})`);
  }
  await rootfs.unmount();
  const layerFile = path.join(input.workDir, 'layer.tar');
  const layer = await steps.run('layer', () => writeLayerFile(rootfs.upper, layerFile, { compression: input.compression, ...(input.level !== undefined ? { level: input.level } : {}), ...input.layerOptions, overlayWhiteouts: true }));
  return { base, layer, layerFile, runPath, createdBy: present ? `oci-s2i build: assemble-runtime` : 'oci-s2i build: runtime artifacts', pulledLayers: true, tree: rootfs.upper };
}

/** The runtime image's layers unpacked in the layer cache (fetched only when missing), leased until the build ends. */
async function pullRuntimeLayers(input: RuntimeStageInput, base: PulledImage): Promise<void> {
  const { engine, steps } = input;
  base.layers = await steps.run('pull runtime layers', () => unpackLayers(engine, base.manifest.layers, base.config.rootfs.diff_ids, base.source ? () => base.source! : undefined));
  const lease = await engine.cache.lease(base.layers.map((l) => l.diffID));
  steps.defer('release runtime image lease', () => lease.release());
}

async function uploadScripts(scripts: Awaited<ReturnType<typeof resolveScripts>>, workDir: string, staging: string, destination: string, user: { uid: number }): Promise<void> {
  const tmp = path.join(workDir, 'scripts');
  const written = await materializeScripts(scripts, tmp);
  if (written.length === 0) return;
  const dir = path.join(staging, ...destinationPaths(destination).scripts.split('/').filter(Boolean));
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await cp(tmp, dir, { recursive: true });
  await chownTree(dir, user.uid, 0);
}
