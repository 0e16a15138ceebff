// `oci-s2i inspect REF`: what an image is (format, media types, platforms, layers, labels, S2I labels) and,
// with --check, whether OpenShift 4.6 / old Quay would import it: one line per problem with its fix.
import { S2IError } from '../../errors.js';
import { compatProfiles, compatibilityProblems, type CompatProblem, type CompatProfile } from '../../image/compat.js';
import { manifestDocument } from '../../image/image.js';
import { configPlatform } from '../../oci/manifest.js';
import { MediaType } from '../../oci/media-types.js';
import { formatPlatform, isAttestation, parsePlatform } from '../../oci/platform.js';
import type { Descriptor, ImageConfig } from '../../oci/types.js';
import { Label, ScriptsUrlEnv } from '../../s2i/labels.js';
import { openSource } from '../../transport/open.js';
import { parseImageLocation, type ImageLocation } from '../../transport/parse.js';
import { layoutSourceRepository } from '../../sync/sources.js';
import { openLocalImages } from '../../pipeline/local-images.js';
import { resolveEntry, resolveImage, resolveTop, type ResolvedTop } from '../../transport/resolve-image.js';
import type { ImageSource } from '../../transport/types.js';
import { listAttached, type AttachedItem } from '../../attest/list.js';
import { RegistryClient } from '../../registry/client.js';
import type { Command, CommandContext } from '../command.js';
import { str, oneOf } from '../command.js';
import { registryParams, registryOptions } from '../registry-flags.js';
import { makeRenderer, humanBytes } from '../render.js';

const s2iPrefix = 'io.openshift.s2i.';

/** The S2I contract labels with their short names (scripts-url, destination, build.image, …). */
export function s2iLabels(config: ImageConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const labels = config.config?.Labels ?? {};
  for (const [k, v] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (k.startsWith(s2iPrefix)) out[k.slice(s2iPrefix.length)] = v;
    else if (k === Label.scriptsUrlDeprecated && out['scripts-url'] === undefined) out['scripts-url'] = v;
    else if (k === Label.destinationDeprecated && out.destination === undefined) out.destination = v;
  }
  const env = (config.config?.Env ?? []).find((e) => e.startsWith(`${ScriptsUrlEnv}=`));
  if (env && out['scripts-url'] === undefined) out['scripts-url'] = env.slice(ScriptsUrlEnv.length + 1);
  return out;
}

interface Inspected {
  name: string;
  digest: string;
  mediaType: string;
  format: string;
  platforms?: string[];
  manifestDigest: string;
  manifestMediaType: string;
  platform?: string;
  created?: string;
  config: Descriptor;
  layers: Descriptor[];
  totalSize: number;
  labels: Record<string, string>;
  s2i: Record<string, string>;
  user?: string;
  env: string[];
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  workingDir?: string;
  /** A registry image: its signatures, attestations and SBOMs (attest/list.ts). */
  attached?: AttachedItem[];
}

/**
 * What is attached to the image `digest`: in a registry, or in an OCI layout (beside it, as `copy`, `sync` and
 * a build write them: the `sha256-<hex>` referrers index and cosign's tags); none for archives and the local store.
 */
async function attachedTo(src: ImageSource, where: ImageLocation, digest: string, v: CommandContext['values'], signal: AbortSignal): Promise<AttachedItem[] | undefined> {
  if (where.transport === 'oci') {
    const { repository, name } = await layoutSourceRepository(where.dir, where.tag);
    return listAttached(
      {
        referrers: (d) => repository.referrers(d),
        resolve: async (tag) => {
          const s = await repository.open({ ...name, tag });
          try {
            return await s.resolve();
          } finally {
            await s.close();
          }
        },
      },
      digest,
    );
  }
  if (src.transport !== 'docker' || !src.registry) return undefined;
  const client = new RegistryClient({ ...registryOptions(v), signal });
  try {
    return await listAttached(client.repository(src.registry.host, src.registry.repository), digest);
  } finally {
    await client.close();
  }
}

/** One line per attached document: kind, what it is, where. */
function attachedLines(items: readonly AttachedItem[]): string[] {
  return items.map((i) => {
    const what = i.predicateType ?? i.artifactType ?? i.mediaType ?? '';
    const where = i.via === 'cosign-tag' ? `tag ${i.tag}` : `referrer ${i.digest}`;
    return `  ${i.kind.padEnd(12)} ${what}  (${where})`;
  });
}

const profileName: Record<CompatProfile, string> = { 'ocp4.6': 'OpenShift 4.6', 'quay-legacy': 'Quay before 3.6' };

/** Every problem `profile` finds; the images are read by the one resolve, as copy reads them (an index's entries by resolveEntry). */
async function checkImage(src: ImageSource, top: ResolvedTop, profile: CompatProfile, signal: AbortSignal | undefined): Promise<CompatProblem[]> {
  const opts = signal ? { signal } : {};
  if (top.parsed.kind === 'index') {
    const own = compatibilityProblems(profile, top.parsed);
    if (own.length > 0) return own;
    // Old Quay takes a Docker manifest list: every image in it must pass on its own.
    const out: CompatProblem[] = [];
    for (const d of top.parsed.index.manifests) {
      const child = await resolveEntry(src, d, opts);
      const where = d.platform ? formatPlatform(d.platform) : d.digest;
      for (const p of compatibilityProblems(profile, manifestDocument(child), child.config.config)) out.push({ ...p, problem: `${where}: ${p.problem}` });
    }
    return out;
  }
  const image = await resolveImage(src, { top, ...opts });
  return compatibilityProblems(profile, top.parsed, image.config.config);
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show an image\'s format, media types, platforms, layers and labels (the S2I ones decoded) and, for a registry or oci: layout image, what is attached to it (signatures, attestations by predicateType, SBOMs: OCI referrers and cosign tags); --check tells whether OpenShift 4.6 / old Quay would import it.',
  args: ['IMAGE'],
  params: [
    { name: 'raw', type: 'boolean', description: 'print the manifest (or index) bytes exactly as stored' },
    { name: 'config', type: 'boolean', description: 'print the image config bytes exactly as stored' },
    { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'the image to show from a manifest list/index (default: this host)' },
    { name: 'check', type: 'string', value: 'ocp4.6|quay-legacy', description: 'list every reason this importer would refuse the image; exit 0 only when it would import' },
    ...registryParams,
  ],
  async run(ctx) {
    const v = ctx.values;
    const check = oneOf('check', str(v.check), compatProfiles);
    const platformFlag = str(v.platform);
    const want = platformFlag !== undefined ? parsePlatform(platformFlag) : undefined;
    const onProgress = makeRenderer({ ...ctx.global, quiet: true }, ctx.stderr);
    const where = parseImageLocation(ctx.positionals[0]!);
    const local = where.transport === 'local' ? (await openLocalImages(str(v.root))).local : undefined;
    const src = await openSource(where, { registry: registryOptions(v), onProgress, signal: ctx.signal, ...(local ? { local } : {}) });
    try {
      const top = await resolveTop(src);
      const parsed = top.parsed;
      if (v.raw === true) {
        ctx.stdout.write(top.bytes);
        return 0;
      }
      if (check) {
        const problems = await checkImage(src, top, check, ctx.signal);
        const who = profileName[check];
        if (ctx.global.json) {
          ctx.stdout.write(JSON.stringify({ image: src.name, digest: top.descriptor.digest, check, ok: problems.length === 0, problems }) + '\n');
        } else if (problems.length === 0) {
          ctx.stdout.write(`OK: ${src.name} would import into ${who}\n`);
        } else {
          for (const p of problems) ctx.stdout.write(`✗ ${p.problem} — fix: ${p.fix}\n`);
        }
        if (problems.length > 0) {
          throw new S2IError('ERR_IMAGE_INCOMPATIBLE', `${src.name} would not import into ${who}: ${problems.length} problem(s) listed above`);
        }
        return 0;
      }

      // Shown as it is, also when its layers and diff_ids disagree (image.layers() is not asked for).
      const image = await resolveImage(src, { top, ...(want ? { platform: want } : {}), signal: ctx.signal });
      const platforms = image.index?.index.manifests.filter((d) => !isAttestation(d)).map((d) => (d.platform ? formatPlatform(d.platform) : '(none)'));
      const manifest = image.manifest;
      const { bytes: configBytes, config } = image.config;
      if (v.config === true) {
        ctx.stdout.write(configBytes);
        return 0;
      }
      const cc = config.config ?? {};
      const info: Inspected = {
        name: src.name,
        digest: top.descriptor.digest,
        mediaType: parsed.mediaType,
        format: parsed.format,
        ...(platforms ? { platforms } : {}),
        manifestDigest: image.descriptor.digest,
        manifestMediaType: manifest.mediaType,
        platform: formatPlatform(configPlatform(config)),
        ...(config.created ? { created: config.created } : {}),
        config: image.config.descriptor,
        layers: manifest.manifest.layers,
        totalSize: manifest.manifest.layers.reduce((n, l) => n + l.size, 0),
        labels: cc.Labels ?? {},
        s2i: s2iLabels(config),
        ...(cc.User !== undefined ? { user: cc.User } : {}),
        env: cc.Env ?? [],
        ...(cc.Entrypoint !== undefined ? { entrypoint: cc.Entrypoint } : {}),
        ...(cc.Cmd !== undefined ? { cmd: cc.Cmd } : {}),
        ...(cc.WorkingDir ? { workingDir: cc.WorkingDir } : {}),
      };
      const attached = await attachedTo(src, where, top.descriptor.digest, v, ctx.signal);
      if (attached) info.attached = attached;
      if (ctx.global.json) {
        ctx.stdout.write(JSON.stringify(info) + '\n');
        return 0;
      }
      const lines: string[] = [];
      const row = (k: string, val: string) => lines.push(`${(k + ':').padEnd(14)}${val}`);
      row('Name', info.name);
      row('Digest', info.digest);
      row('Format', `${info.format === 'docker' ? 'Docker' : 'OCI'} (${info.mediaType})`);
      if (platforms) {
        row('Platforms', platforms.join(', '));
        row('Manifest', `${info.manifestDigest} (${info.manifestMediaType})`);
      }
      row('Platform', info.platform ?? '');
      if (info.created) row('Created', info.created);
      row('Config', `${info.config.mediaType} ${info.config.digest} ${humanBytes(info.config.size)}`);
      row('Layers', `${info.layers.length} (${humanBytes(info.totalSize)})`);
      for (const l of info.layers) lines.push(`  ${l.mediaType}  ${l.digest}  ${humanBytes(l.size)}${l.urls?.length ? `  foreign: ${l.urls[0]}` : ''}`);
      if (info.user !== undefined) row('User', info.user);
      if (info.workingDir) row('WorkingDir', info.workingDir);
      if (info.entrypoint) row('Entrypoint', JSON.stringify(info.entrypoint));
      if (info.cmd) row('Cmd', JSON.stringify(info.cmd));
      if (info.env.length) {
        row('Env', '');
        for (const e of info.env) lines.push(`  ${e}`);
      }
      const labels = Object.entries(info.labels).sort(([a], [b]) => (a < b ? -1 : 1));
      row('Labels', labels.length ? '' : '(none)');
      for (const [k, val] of labels) lines.push(`  ${k}=${val}`);
      const s2i = Object.entries(info.s2i);
      if (s2i.length) {
        row('S2I', '');
        for (const [k, val] of s2i) lines.push(`  ${k.padEnd(22)} ${val}`);
      } else {
        row('S2I', 'not an S2I builder (no io.openshift.s2i.* labels)');
      }
      if (attached) {
        row('Attached', attached.length ? '' : '(nothing: no signatures, attestations or SBOMs)');
        lines.push(...attachedLines(attached));
      }
      if (manifest.mediaType === MediaType.ociManifest || parsed.kind === 'index') {
        lines.push('', `Note: run \`oci-s2i inspect --check ocp4.6 ${ctx.positionals[0]}\` to see whether OpenShift 4.6 would import it.`);
      }
      ctx.stdout.write(lines.join('\n') + '\n');
      return 0;
    } finally {
      await src.close();
    }
  },
};
