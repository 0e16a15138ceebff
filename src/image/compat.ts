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
