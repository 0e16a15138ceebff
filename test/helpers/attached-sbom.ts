// The package URLs of the SBOM attached to a pushed image (HOST/REPO:TAG), found as `oci-s2i inspect` finds it
// (attest/list.ts: referrers, else cosign's `.sbom` tag), SPDX or CycloneDX: what two builds' SBOMs are compared by.
import type { RegistryClient } from '../../src/registry/client.js';
import { listAttached } from '../../src/attest/list.js';
import type { Descriptor } from '../../src/oci/types.js';

export async function attachedSbomPurls(client: RegistryClient, ref: string): Promise<string[]> {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  const repo = client.repository(ref.slice(0, slash), ref.slice(slash + 1, colon));
  const top = await repo.resolve(ref.slice(colon + 1));
  const sbom = (await listAttached(repo, top.descriptor.digest)).find((i) => i.kind === 'sbom');
  if (!sbom) throw new Error(`no SBOM is attached to ${ref}`);
  const m = JSON.parse((await repo.resolve(sbom.digest)).bytes.toString('utf8')) as { layers: Descriptor[] };
  const doc = JSON.parse((await repo.fetchBlobBytes(m.layers[0]!, 64 << 20)).toString('utf8')) as {
    packages?: Array<{ externalRefs?: Array<{ referenceType: string; referenceLocator: string }> }>;
    components?: Array<{ purl?: string }>;
  };
  const purls = doc.packages
    ? doc.packages.flatMap((p) => (p.externalRefs ?? []).filter((r) => r.referenceType === 'purl').map((r) => r.referenceLocator))
    : (doc.components ?? []).flatMap((c) => (c.purl ? [c.purl] : []));
  return [...new Set(purls)].sort();
}
