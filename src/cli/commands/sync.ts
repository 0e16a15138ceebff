// `oci-s2i sync SOURCE... DESTINATION`: carry many images across an air gap (skopeo sync's job): images, whole
// repositories or a skopeo sync YAML file → a registry, one OCI layout or an archive, and back from that layout
// into the air-gapped registry. The work is src/sync/ (spec/sync.md); this file reads the flags once, prints a
// line per image and the summary, and picks the exit code.
import { S2IError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Reference } from '../../oci/reference.js';
import type { ImageSource } from '../../transport/types.js';
import { formatDestination, parseSourceArg, parseSyncDestination, type SourceArg, type SyncDestination } from '../../sync/names.js';
import { syncImages, type ImageEvent, type ImageResult, type SyncSummary } from '../../sync/run.js';
import { syncSources, withSettings, type ClientSettings } from '../../sync/sources.js';
import { writeOutputFile } from '../../sys/output-file.js';
import type { Command, CommandContext } from '../command.js';
import { boolFlag, intFlag, nonEmptyPath, oneOf, str } from '../command.js';
import { messageFor } from '../error-table.js';
import { registryOptions, registryParams } from '../registry-flags.js';
import { humanBytes, makeRenderer } from '../render.js';
import { policyOptions, policyParams } from '../sign-flags.js';
import { loadPolicy } from '../../sign/policy-files.js';
import { checkPolicy } from '../../pipeline/policy-check.js';
import { RegistryClient } from '../../registry/client.js';

function sideParams(side: 'src' | 'dest', what: string): Command['params'] {
  return [
    { name: `${side}-tls-verify`, type: 'string', value: 'BOOL', description: `--tls-verify for the ${what} registries only` },
    { name: `${side}-cert-dir`, type: 'string', value: 'DIR', description: `--cert-dir for the ${what} registries only`, check: nonEmptyPath(`${side}-cert-dir`) },
    { name: `${side}-authfile`, type: 'string', value: 'FILE', description: `--authfile for the ${what} registries only`, check: nonEmptyPath(`${side}-authfile`) },
  ];
}

/** The shared registry flags with the side's own over them (a sync file's per-registry settings go over these). */
function sideSettings(v: CommandContext['values'], side: 'src' | 'dest'): ClientSettings {
  const tlsVerify = boolFlag(`${side}-tls-verify`, v[`${side}-tls-verify`]);
  const certDir = str(v[`${side}-cert-dir`]);
  const authFile = str(v[`${side}-authfile`]);
  return withSettings(registryOptions(v), { ...(tlsVerify !== undefined ? { tlsVerify } : {}), ...(certDir ? { certDir } : {}), ...(authFile ? { authFile } : {}) });
}

/** SOURCE... and DESTINATION from the positionals and --src/--dest (a kind word, or a location of its own). */
function readArguments(positionals: string[], src: string | undefined, dest: string | undefined): { sources: SourceArg[]; destination: SyncDestination } {
  const srcKinds = ['docker', 'yaml', 'oci', 'dir', 'oci-archive'];
  const destKinds = ['docker', 'oci', 'dir', 'oci-archive'];
  const srcKind = src !== undefined && srcKinds.includes(src) ? src : undefined;
  const destKind = dest !== undefined && destKinds.includes(dest) ? dest : undefined;
  const args = [...positionals];
  const destArg = dest !== undefined && destKind === undefined ? dest : args.pop();
  if (destArg === undefined) throw new S2IError('ERR_USAGE', 'sync takes SOURCE... DESTINATION (or --dest LOCATION); see `oci-s2i sync --help`');
  const sourceArgs = src !== undefined && srcKind === undefined ? [src, ...args] : args;
  if (sourceArgs.length === 0) throw new S2IError('ERR_USAGE', 'sync needs at least one SOURCE before the DESTINATION (or --src LOCATION); see `oci-s2i sync --help`');
  const destination = parseSyncDestination(destArg, destKind);
  return { sources: sourceArgs.map((s) => parseSourceArg(s, srcKind)), destination };
}

function errorLine(e: unknown): string {
  return e instanceof S2IError ? messageFor(e) : e instanceof Error ? e.message : String(e);
}

function resultJson(r: ImageResult): Record<string, unknown> {
  const { error, ...rest } = r;
  return { ...rest, ...(error !== undefined ? { error: errorLine(error), code: error instanceof S2IError ? error.code : undefined } : {}) };
}

function imageLine(e: Extract<ImageEvent, { phase: 'end' }>): string {
  const where = `[${e.index + 1}/${e.total}] ${e.source} → ${e.destination}`;
  switch (e.status) {
    case 'skipped':
      return `${where}: up to date${e.companions ? ` (${e.companions} signature(s)/referrer(s) added)` : ''}`;
    case 'copied': {
      const extra = e.companions ? `; ${e.companions} signature(s)/referrer(s)` : '';
      return `${where}: copied (${e.blobs.uploaded} blob(s) sent, ${humanBytes(e.bytesSent)}; ${e.blobs.present + e.blobs.mounted} already there${extra})`;
    }
    default:
      return `${where}: ${e.status}`;
  }
}

function summaryLine(s: SyncSummary, destination: string, dryRun: boolean): string {
  if (dryRun) return `Would sync ${s.images.filter((i) => i.status === 'planned').length} image(s) to ${destination}${s.failed ? `; ${s.failed} source(s) failed` : ''}`;
  return `Synced to ${destination}: ${s.copied} copied, ${s.skipped} up to date, ${s.failed} failed; ${humanBytes(s.bytesSent)} sent in ${(s.ms / 1000).toFixed(1)} s`;
}

export const syncCommand: Command = {
  name: 'sync',
  summary:
    'Copy many images to a registry, an OCI layout or an archive and back (skopeo sync): images, whole repositories or a skopeo sync YAML file; every platform; signatures and referrers along; a second run sends only what is missing.',
  args: ['SOURCE...', 'DESTINATION?'],
  params: [
    { name: 'src', type: 'string', value: 'docker|yaml|oci|oci-archive|LOCATION', description: 'how SOURCEs are read: docker (HOST/REPO[:TAG|@DIGEST]; no tag: every tag), yaml (skopeo sync YAML files), oci/dir or oci-archive (a layout sync wrote); or one source location, e.g. oci:DIR (default: by each SOURCE\'s prefix)' },
    { name: 'dest', type: 'string', value: 'docker|oci|oci-archive|LOCATION', description: 'the destination: docker://HOST[:PORT][/PREFIX], oci:DIR, oci-archive:FILE; or the kind of the last argument' },
    { name: 'scoped', type: 'boolean', description: 'put each source registry\'s host in the destination path (HOST_PORT/REPO), so equal names from two registries stay apart' },
    { name: 'append-suffix', type: 'string', value: 'SUFFIX', description: 'append SUFFIX to every destination tag' },
    { name: 'all', type: 'boolean', description: 'copy every platform of a manifest list/index (the default; accepted for skopeo compatibility)' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'copy only this platform of each manifest list/index' },
    { name: 'format', type: 'string', value: 'docker|oci', description: 'convert manifests to this format (new digests: signatures are then not copied; default: keep each as it is)' },
    { name: 'remove-signatures', type: 'boolean', description: 'do not copy signatures, attestations and other referrers (default: copy them: referrers API or sha256-<hex> tag index, cosign .sig/.att/.sbom tags)' },
    { name: 'keep-going', type: 'string', value: 'BOOL', description: 'go on with the other images after one fails (false: stop at the first failure)', default: true },
    { name: 'jobs', type: 'string', value: 'N', description: 'images copied at once', default: '2' },
    { name: 'blob-jobs', type: 'string', value: 'N', description: 'blobs copied at once per image', default: '4' },
    { name: 'dry-run', type: 'boolean', description: 'list what would be copied where, copy nothing' },
    { name: 'digestfile', type: 'string', value: 'FILE', description: 'write "DIGEST DESTINATION" for every image synced or up to date' },
    ...sideParams('src', 'source'),
    ...sideParams('dest', 'destination'),
    ...policyParams,
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const platformFlag = str(v.platform);
    if (v.all === true && platformFlag !== undefined) {
      throw new S2IError('ERR_USAGE', '--all and --platform cannot be combined: --all copies every platform, --platform one of them');
    }
    const platform = platformFlag !== undefined ? parsePlatform(platformFlag) : undefined;
    const format = oneOf('format', str(v.format), ['docker', 'oci'] as const);
    const keepGoing = boolFlag('keep-going', v['keep-going']) ?? true;
    const jobs = intFlag('jobs', str(v.jobs), 1, 64) ?? 2;
    const blobJobs = intFlag('blob-jobs', str(v['blob-jobs']), 1, 64) ?? 4;
    const suffix = str(v['append-suffix']);
    if (suffix !== undefined && !/^[\w.-]{1,127}$/.test(suffix)) throw new S2IError('ERR_USAGE', `--append-suffix "${suffix}" cannot be part of a tag ([A-Za-z0-9_.-])`);
    const { sources, destination } = readArguments(ctx.positionals, str(v.src), str(v.dest));
    const srcSettings = sideSettings(v, 'src');
    const destSettings = sideSettings(v, 'dest');
    // Sync files are read (and refused) before any registry is asked anything.
    const syncSourceList = await syncSources(sources, srcSettings);
    // The signature policy every source image must satisfy (read now: a policy that cannot be used fails first).
    const policy = await loadPolicy(policyOptions(v));

    const render = makeRenderer(ctx.global, ctx.stderr);
    const say = (line: string) => {
      if (!ctx.global.quiet && !ctx.global.json) ctx.stderr.write(line + '\n');
    };
    const onImage = (e: ImageEvent) => {
      if (ctx.global.json) {
        if (e.phase === 'end') ctx.stderr.write(JSON.stringify({ type: 'image', ...resultJson(e) }) + '\n');
        return;
      }
      if (e.phase !== 'end' || e.status === 'planned') return;
      if (e.status === 'failed') ctx.stderr.write(`oci-s2i: sync: ${e.source}: ${errorLine(e.error)}\n`);
      else say(imageLine(e));
    };
    const dryRun = v['dry-run'] === true;
    // Signatures are read with the source side's flags (a sync file's per-registry settings are not applied to them).
    const signatureClient = policy ? new RegistryClient({ ...srcSettings, onProgress: render, signal: ctx.signal }) : undefined;
    const checkSource = async ({ name, src, manifestDigest }: { name: Reference; src: ImageSource; manifestDigest: string }): Promise<void> => {
      if (!policy || !signatureClient) return;
      await checkPolicy({ policy, client: signatureClient }, {
        name: src.name,
        transport: src.transport,
        ...(src.transport === 'docker' ? { ref: name, where: src.registry ?? { host: name.registry, repository: name.repository } } : {}),
        manifestDigest,
        outcome: 'nothing of it was copied',
      });
    };
    const summary = await syncImages(
      { sources: syncSourceList, destination, destinationSettings: destSettings, naming: { scoped: v.scoped === true, ...(suffix ? { suffix } : {}) } },
      {
        ...(platform ? { platform } : {}),
        ...(format ? { format } : {}),
        referrers: v['remove-signatures'] !== true,
        keepGoing,
        jobs,
        blobJobs,
        dryRun,
        signal: ctx.signal,
        onProgress: render,
        onImage,
        checkSource,
      },
    ).finally(() => signatureClient?.close());
    // Problems with the sources (a repository that could not be listed) have no image event: say them here.
    for (const r of summary.images) if (r.status === 'failed' && r.destination === '') ctx.stderr.write(`oci-s2i: sync: ${r.source}: ${errorLine(r.error)}\n`);
    const done = summary.images.filter((r) => (r.status === 'copied' || r.status === 'skipped') && r.digest);
    const digestFile = str(v.digestfile);
    if (digestFile && !dryRun) await writeOutputFile(digestFile, done.map((r) => `${r.digest} ${r.destination}\n`).join(''), '--digestfile');
    const destinationName = formatDestination(destination);
    if (ctx.global.json) {
      const { images, ...counts } = summary;
      ctx.stdout.write(JSON.stringify({ destination: destinationName, ...counts, images: images.map(resultJson) }) + '\n');
    } else {
      say(summaryLine(summary, destinationName, dryRun));
      for (const r of dryRun ? summary.images.filter((i) => i.status === 'planned') : done) ctx.stdout.write(dryRun ? `${r.source} ${r.destination}\n` : `${r.digest} ${r.destination}\n`);
    }
    // An image the signature policy refused: the exit code of a refused pull (2), whatever else happened.
    if (summary.images.some((r) => r.status === 'failed' && r.error instanceof S2IError && r.error.code === 'ERR_POLICY_REJECTED')) return 2;
    return summary.failed > 0 ? 1 : 0;
  },
};
