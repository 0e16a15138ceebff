// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/): the image as the described package, every found
// package CONTAINed in it, each with its purl as a PACKAGE-MANAGER external reference and the layer it came from.
// Fields are written in one fixed order; the namespace is derived from the content, so the bytes are reproducible.
import type { Package } from './model.js';
import { contentUuid, packageId } from './ids.js';
import { spdxExpression } from './license.js';

export interface DocumentSubject {
  name: string;
  digest?: string;
}

export function spdxDocument(subject: DocumentSubject, packages: readonly Package[], created: string, tool: { name: string; version: string }): unknown {
  const pkgs = packages.map((p) => {
    const declared = spdxExpression(p.license);
    const out: Record<string, unknown> = {
      name: p.name,
      SPDXID: `SPDXRef-Package-${p.type}-${packageId(p)}`,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: declared ?? 'NOASSERTION',
    };
    if (p.license !== undefined && declared === undefined) out.licenseComments = `As stated by the package: ${p.license}`;
    out.copyrightText = 'NOASSERTION';
    out.sourceInfo = `found in layer ${p.layer} at /${p.location}`;
    out.externalRefs = [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }];
    return out;
  });
  const image: Record<string, unknown> = {
    name: subject.name,
    SPDXID: 'SPDXRef-Image',
    ...(subject.digest ? { versionInfo: subject.digest } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose: 'CONTAINER',
  };
  const relationships = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' },
    ...pkgs.map((p) => ({ spdxElementId: 'SPDXRef-Image', relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID as string })),
  ];
  const body = { packages: [image, ...pkgs], relationships };
  const uuid = contentUuid('spdx', subject.name, subject.digest ?? '', created, JSON.stringify(body));
  const safeName = subject.name.replace(/[^A-Za-z0-9._/-]/g, '-');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: subject.name,
    documentNamespace: `https://spdx.org/spdxdocs/${encodeURI(tool.name)}/${encodeURI(safeName)}-${uuid}`,
    creationInfo: { created, creators: [`Tool: ${tool.name}-${tool.version}`] },
    ...body,
  };
}
