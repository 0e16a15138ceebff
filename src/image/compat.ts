// What OpenShift ≤ 4.6's image importer (and Quay before 3.5) can take, as a checklist over a manifest.
// The rules are in spec/format-rules.md; each problem is one line a user can act on.
import { MediaType } from '../oci/media-types.js';
import type { ParsedManifest } from '../oci/manifest.js';
import type { ImageConfig } from '../oci/types.js';
import { isForeignLayerMediaType } from './manifest.js';

/** Reasons OpenShift 4.6 would refuse this image; empty when it would import it. */
export function openShift46Problems(parsed: ParsedManifest, config?: ImageConfig): string[] {
  if (parsed.kind === 'index') return [`${parsed.mediaType} is a list/index; OpenShift 4.6 imports one Docker v2s2 manifest only`];
  const problems: string[] = [];
  const m = parsed.manifest;
  if (parsed.mediaType !== MediaType.dockerManifest) problems.push(`manifest type ${parsed.mediaType} is not Docker v2s2 (use --format docker)`);
  if (m.mediaType !== MediaType.dockerManifest) problems.push('the manifest body has no Docker "mediaType" field');
  if (m.config.mediaType !== MediaType.dockerConfig) problems.push(`config type ${m.config.mediaType} is not ${MediaType.dockerConfig}`);
  m.layers.forEach((l, i) => {
    if (isForeignLayerMediaType(l.mediaType)) problems.push(`layer ${i} is a foreign (non-distributable) layer`);
    else if (l.mediaType !== MediaType.dockerLayerGzip) problems.push(`layer ${i} has type ${l.mediaType}; only gzip Docker layers import`);
    if (l.annotations) problems.push(`layer ${i} has annotations`);
  });
  if (m.annotations) problems.push('the manifest has annotations');
  if (m.subject) problems.push('the manifest has a subject');
  if (m.artifactType) problems.push('the manifest has an artifactType');
  if (config && config.rootfs.diff_ids.length !== m.layers.length) {
    problems.push(`config lists ${config.rootfs.diff_ids.length} diff_ids for ${m.layers.length} layers`);
  }
  return problems;
}

/** Registries/importers the `--check` flag knows. */
export type CompatProfile = 'ocp4.6' | 'quay-legacy';
export const compatProfiles: readonly CompatProfile[] = ['ocp4.6', 'quay-legacy'];

export interface CompatProblem {
  /** Stable rule id (for --json and tests). */
  rule: string;
  /** What is wrong, in one line. */
  problem: string;
  /** What to do about it. */
  fix: string;
}

const CONVERT = 'convert with `oci-s2i copy --format docker SRC DST` (or build with --format docker)';

const profileName: Record<CompatProfile, string> = { 'ocp4.6': 'OpenShift 4.6', 'quay-legacy': 'Quay before 3.6' };

/**
 * Every rule the profile's importer would trip over (spec/format-rules.md "OpenShift ≤ 4.6 / old Quay").
 * Old Quay also refuses OCI; it takes Docker manifest lists, whose entries the caller checks one by one.
 */
export function compatibilityProblems(profile: CompatProfile, parsed: ParsedManifest, config?: ImageConfig): CompatProblem[] {
  const who = profileName[profile];
  if (parsed.kind === 'index') {
    if (profile === 'quay-legacy' && parsed.mediaType === MediaType.dockerList) return [];
    return [{
      rule: 'single-manifest',
      problem: `${parsed.mediaType === MediaType.ociIndex ? 'OCI image index' : 'manifest list'}: ${who} imports one Docker v2s2 manifest, not a ${parsed.mediaType}`,
      fix: 'copy one platform: `oci-s2i copy --format docker --platform OS/ARCH SRC DST`',
    }];
  }
  const out: CompatProblem[] = [];
  const m = parsed.manifest;
  if (parsed.mediaType !== MediaType.dockerManifest) {
    out.push({ rule: 'manifest-type', problem: `OCI manifest (${parsed.mediaType}): ${who} imports Docker v2s2 only`, fix: `push with --format docker or ${CONVERT}` });
  } else if (m.mediaType !== MediaType.dockerManifest) {
    out.push({ rule: 'manifest-media-type-field', problem: 'the manifest body has no "mediaType" field', fix: `re-push it: ${CONVERT}` });
  }
  if (m.config.mediaType !== MediaType.dockerConfig) {
    out.push({ rule: 'config-type', problem: `config type ${m.config.mediaType} is not ${MediaType.dockerConfig}`, fix: CONVERT });
  }
  m.layers.forEach((l, i) => {
    if (isForeignLayerMediaType(l.mediaType)) {
      out.push({ rule: 'foreign-layer', problem: `layer ${i} is a foreign (non-distributable) layer (${l.mediaType})`, fix: `${who} cannot fetch it: rebuild the image from a base without foreign layers` });
    } else if (l.mediaType === MediaType.ociLayerZstd) {
      out.push({ rule: 'zstd-layer', problem: `layer ${i} is zstd-compressed (${l.mediaType})`, fix: `recompress to gzip: ${CONVERT}` });
    } else if (l.mediaType !== MediaType.dockerLayerGzip) {
      out.push({ rule: 'layer-type', problem: `layer ${i} has type ${l.mediaType}; only gzip Docker layers (${MediaType.dockerLayerGzip}) import`, fix: CONVERT });
    }
    if (l.annotations && Object.keys(l.annotations).length > 0) {
      out.push({ rule: 'layer-annotations', problem: `layer ${i} has annotations`, fix: `${CONVERT} (drops them)` });
    }
  });
  if (m.annotations && Object.keys(m.annotations).length > 0) {
    out.push({ rule: 'annotations', problem: 'the manifest has annotations', fix: `${CONVERT} (drops them)` });
  }
  if (m.subject) out.push({ rule: 'subject', problem: 'the manifest has a subject (it is an OCI referrer/artifact)', fix: `${CONVERT} (drops it)` });
  if (m.artifactType) out.push({ rule: 'artifact-type', problem: `the manifest has an artifactType (${m.artifactType})`, fix: 'an artifact is not an image: import the image it refers to' });
  if (config && config.rootfs.diff_ids.length !== m.layers.length) {
    out.push({
      rule: 'diff-ids',
      problem: `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${m.layers.length} layers`,
      fix: 'the image is inconsistent: rebuild it',
    });
  }
  return out;
}
