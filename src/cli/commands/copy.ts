// `oci-s2i copy SRC DST`: copy an image between registries, OCI layouts, archives and the local store, converting the
// format.
import { S2IError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import { compatProfiles, type CompatProfile } from '../../image/compat.js';
import { copyImage } from '../../transport/copy.js';
import { openDestination, openSource } from '../../transport/open.js';
import { parseImageLocation, type ImageLocation } from '../../transport/parse.js';
import { openLocalImages } from '../../pipeline/local-images.js';
import type { ImageDestination, ImageSource } from '../../transport/types.js';
import type { Command, CommandContext, Param } from '../command.js';
import { str, oneOf, intFlag } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { policyOptions, policyParams, signParams, signingKeyOf } from '../sign-flags.js';
import { loadPolicy } from '../../sign/policy-files.js';
import { checkPolicy } from '../../pipeline/policy-check.js';
import { RegistryClient } from '../../registry/client.js';
import { signImage } from '../../sign/sign-image.js';
import { makeRenderer } from '../render.js';
import { writeOutputFile } from '../../sys/output-file.js';
import { parseManifestDocument } from '../../oci/manifest.js';
import type { Reference } from '../../oci/reference.js';
import type { ProgressSink } from '../../events.js';
import { copyCompanions, hasCompanions } from '../../sync/companions.js';
import { layoutEntryName } from '../../sync/names.js';
import { layoutSourceRepository, registrySourceRepository } from '../../sync/sources.js';
import { openTarget, type SyncTarget } from '../../sync/targets.js';
import type { RegistryClientOptions } from '../../registry/client.js';

/**
 * The manifests of the source the written digest kept: the top one (and, an index copied whole, its entries), or
 * the one platform's manifest taken from an index; none when the copy converted (its digest is new).
 */
function keptDigests(top: { descriptor: { digest: string; mediaType: string }; bytes: Buffer }, written: string): string[] {
  const parsed = parseManifestDocument(top.bytes, top.descriptor.mediaType);
  const children = parsed.kind === 'index' ? parsed.index.manifests.map((d) => d.digest) : [];
  if (written === top.descriptor.digest) return [written, ...children];
  return children.includes(written) ? [written] : [];
}

/** The ends attachments travel between: registries and OCI layouts (an archive holds one image: nothing beside it). */
type AttachEnd = Extract<ImageLocation, { transport: 'docker' | 'oci' }>;
const canAttach = (l: ImageLocation): l is AttachEnd => l.transport === 'docker' || l.transport === 'oci';

/**
 * Carries the signatures, attestations and SBOMs of the copied image (sync's companions, companions.ts) from `from`
 * to `to`: registry or layout either side. A layout names them as it names the image: beside a bare tag
 * (`oci:DIR:TAG`) under bare tags (`sha256-<hex>`, `sha256-<hex>.sig`), beside a full name (`oci:DIR:HOST/REPO:TAG`,
 * as sync writes) under that repository's names. A copy that changed the digest carries nothing: one warning says
 * so when the source had something attached. Returns how many are at the destination now.
 */
async function carryAttachments(
  from: AttachEnd,
  to: AttachEnd,
  top: { descriptor: { digest: string; mediaType: string }; bytes: Buffer },
  written: string,
  opts: { src: RegistryClientOptions; dest: RegistryClientOptions; onProgress: ProgressSink; signal: AbortSignal },
): Promise<number> {
  const srcClient = new RegistryClient({ ...opts.src, onProgress: opts.onProgress, signal: opts.signal });
  const dstClient = new RegistryClient({ ...opts.dest, onProgress: opts.onProgress, signal: opts.signal });
  try {
    const source = from.transport === 'docker' ? { repository: registrySourceRepository(srcClient, from.ref), name: from.ref } : await layoutSourceRepository(from.dir, from.tag);
    const kept = keptDigests(top, written);
    if (kept.length === 0) {
      if (await hasCompanions(source.repository, keptDigests(top, top.descriptor.digest))) {
        opts.onProgress({ type: 'log', level: 'warn', message: `attachments (signatures, attestations, SBOMs) not copied: they name the source's digest and the copy has a new one (${written})` });
      }
      return 0;
    }
    let target: SyncTarget;
    let at: (tag: string) => Reference;
    if (to.transport === 'docker') {
      target = await openTarget({ kind: 'docker', host: to.ref.registry, prefix: '' }, dstClient);
      at = (tag) => ({ registry: to.ref.registry, repository: to.ref.repository, tag });
    } else {
      const full = to.tag === undefined ? undefined : layoutEntryName(to.tag);
      target = await openTarget({ kind: 'oci', dir: to.dir }, dstClient, undefined, full ? 'full' : 'tag');
      at = (tag) => ({ registry: full?.registry ?? '', repository: full?.repository ?? '', tag });
    }
    let complete = false;
    try {
      const stats = await copyCompanions(source.repository, source.name, kept, { target, at, concurrency: 4, signal: opts.signal, onProgress: opts.onProgress });
      complete = true;
      return stats.copied + stats.present;
    } finally {
      await target.close(complete);
    }
  } finally {
    await Promise.allSettled([srcClient.close(), dstClient.close()]);
  }
}

/** The flags of `copy`, which `push` (a copy out of the local store) takes too. */
export const copyParams: Param[] = [
  { name: 'format', type: 'string', value: 'docker|oci', description: 'manifest format of the copy (docker: Docker v2s2 with gzip layers, for OpenShift <= 4.6 and old Quay; default: keep the source\'s when the destination can hold it)' },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'the platform to copy from a manifest list/index (default: this host)' },
  { name: 'all', type: 'boolean', description: 'copy every platform of a manifest list/index' },
  { name: 'foreign-layers', type: 'string', value: 'skip-upload|copy', description: 'foreign (non-distributable) layers', default: 'skip-upload' },
  { name: 'check', type: 'string', value: 'ocp4.6|quay-legacy|none', description: 'refuse to write a result this importer would reject (default ocp4.6 with --format docker)' },
  { name: 'compression-level', type: 'string', value: 'N', description: 'gzip level (0-9) for layers this copy recompresses', default: '6' },
  { name: 'digestfile', type: 'string', value: 'FILE', description: 'write the digest of the written manifest to FILE' },
  ...signParams,
  ...registryParams,
  { name: 'src-creds', type: 'string', value: 'USER[:PASS]', description: 'credentials for the source registry (default: --creds, else the auth files); without :PASS the password is asked for on the terminal' },
  { name: 'dest-creds', type: 'string', value: 'USER[:PASS]', description: 'credentials for the destination registry (default: --creds, else the auth files); without :PASS the password is asked for on the terminal' },
];

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy an image between docker://, oci:, oci-archive:, docker-archive: and local: (the local store) locations, converting its format on the way.',
  args: ['SOURCE', 'DESTINATION'],
  params: [...copyParams, ...policyParams],
  async run(ctx) {
    const [srcArg, dstArg] = ctx.positionals as [string, string];
    // Parse both before opening either, so a typo in DST fails before any work.
    return runCopy(ctx, parseImageLocation(srcArg), parseImageLocation(dstArg), { policy: true });
  },
};

/**
 * `copy SRC DST` (and `push`): SRC and DST parsed already. The local store is opened only when one side is in it.
 * `policy`: SRC is checked against the signature policy (copy's --signature-policy, else the default files).
 */
export async function runCopy(ctx: CommandContext, srcLoc: ImageLocation, dstLoc: ImageLocation, opts: { policy?: boolean } = {}): Promise<number> {
  const v = ctx.values;
  const format = oneOf('format', str(v.format), ['docker', 'oci'] as const);
  const platformFlag = str(v.platform);
  if (v.all === true && platformFlag !== undefined) {
    throw new S2IError('ERR_USAGE', '--all and --platform cannot be combined: --all copies every platform, --platform one of them');
  }
  const foreignLayers = oneOf('foreign-layers', str(v['foreign-layers']), ['skip-upload', 'copy'] as const);
  const check = oneOf('check', str(v.check), [...compatProfiles, 'none'] as const);
  const level = intFlag('compression-level', str(v['compression-level']), 0, 9);
  const platform = platformFlag !== undefined ? parsePlatform(platformFlag) : undefined;
  if (str(v['sign-by-sigstore-private-key']) !== undefined && dstLoc.transport !== 'docker') {
    throw new S2IError('ERR_USAGE', '--sign-by-sigstore-private-key signs an image copied to a registry: give a docker:// DESTINATION');
  }
  // Read before anything is opened: a policy file that cannot be used fails the command first.
  const policy = opts.policy ? await loadPolicy(policyOptions(v)) : undefined;
  // Decrypted before the copy starts: a wrong passphrase costs no copy.
  const signingKey = await signingKeyOf(v, ctx.stderr);
  const onProgress = makeRenderer(ctx.global, ctx.stderr);
  const local = srcLoc.transport === 'local' || dstLoc.transport === 'local' ? (await openLocalImages(str(v.root))).local : undefined;
  const srcCtx = { registry: registryOptions(v, { side: 'src' }), onProgress, signal: ctx.signal, ...(local ? { local } : {}) };
  const dstCtx = { registry: registryOptions(v, { side: 'dest' }), onProgress, signal: ctx.signal, ...(local ? { local } : {}) };
  let src: ImageSource | undefined;
  let dst: ImageDestination | undefined;
  try {
    src = await openSource(srcLoc, srcCtx);
    if (policy) {
      // The source as the policy sees it, before the destination is opened: a refused image writes nothing.
      const client = new RegistryClient({ ...srcCtx.registry, onProgress, signal: ctx.signal });
      try {
        const top = await src.resolve();
        await checkPolicy({ policy, client }, {
          name: src.name,
          transport: srcLoc.transport,
          ...(srcLoc.transport === 'docker' ? { ref: srcLoc.ref, where: src.registry ?? { host: srcLoc.ref.registry, repository: srcLoc.ref.repository } } : {}),
          manifestDigest: top.descriptor.digest,
          outcome: 'nothing was copied',
        });
      } finally {
        await client.close();
      }
    }
    dst = await openDestination(dstLoc, dstCtx);
    const result = await copyImage(src, dst, {
      ...(format ? { format } : {}),
      ...(platform ? { platform } : {}),
      all: v.all === true,
      ...(foreignLayers ? { foreignLayers } : {}),
      ...(check ? { check: check === 'none' ? false : (check as CompatProfile) } : {}),
      ...(level !== undefined ? { gzip: { level } } : {}),
      onProgress,
      signal: ctx.signal,
    });
    // What is attached to the image names its digest: carried along when the copy kept it (registries and layouts).
    let attachments: number | undefined;
    if (canAttach(srcLoc) && canAttach(dstLoc)) {
      attachments = await carryAttachments(srcLoc, dstLoc, await src.resolve(), result.digest, { src: srcCtx.registry, dest: dstCtx.registry, onProgress, signal: ctx.signal });
    }
    if (signingKey && dstLoc.transport === 'docker') {
      // The signature under the cosign tag of the written manifest's digest, naming DESTINATION as given.
      const client = new RegistryClient({ ...dstCtx.registry, onProgress, signal: ctx.signal });
      try {
        await signImage(client, dstLoc.ref, result.digest, signingKey);
      } finally {
        await client.close();
      }
    }
    const digestFile = str(v.digestfile);
    if (digestFile) await writeOutputFile(digestFile, result.digest, '--digestfile');
    if (ctx.global.json) {
      ctx.stdout.write(JSON.stringify({ source: src.name, destination: dst.name, digest: result.digest, mediaType: result.mediaType, format: result.format, recompressed: result.recompressed, ...(attachments !== undefined ? { attachments } : {}), ...(src.pulledFrom ? { pulledFrom: src.pulledFrom } : {}) }) + '\n');
    } else {
      if (!ctx.global.quiet) ctx.stderr.write(`Copied ${src.name} to ${dst.name} (${result.format})\n`);
      ctx.stdout.write(result.digest + '\n');
    }
    return 0;
  } finally {
    await dst?.close();
    await src?.close();
  }
}
