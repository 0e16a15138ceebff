// CycloneDX 1.5 JSON (https://cyclonedx.org/docs/1.5/json/): the image as metadata.component (type container),
// every package a library component with its purl, license and two properties naming the layer diffID and the
// path it was found at; the image depends on all of them. serialNumber is derived from the content.
import type { Package } from './model.js';
import { contentUuid, packageId } from './ids.js';
import { isSingleId, spdxExpression } from './license.js';
import type { DocumentSubject } from './spdx.js';

export const LAYER_PROPERTY = 'oci-s2i:layer:diffID';
export const LOCATION_PROPERTY = 'oci-s2i:location';

function licenses(p: Package): unknown[] | undefined {
  if (p.license === undefined) return undefined;
  const expr = spdxExpression(p.license);
  if (expr === undefined) return [{ license: { name: p.license } }];
  return isSingleId(expr) ? [{ license: { id: expr } }] : [{ expression: expr }];
}

function nameParts(p: Package): { group?: string; name: string } {
  if (p.type === 'maven') {
    const i = p.name.indexOf(':');
    return { group: p.name.slice(0, i), name: p.name.slice(i + 1) };
  }
  if (p.type === 'npm' && p.name.startsWith('@')) {
    const i = p.name.indexOf('/');
    return { group: p.name.slice(0, i), name: p.name.slice(i + 1) };
  }
  return { name: p.name };
}

export function cyclonedxDocument(subject: DocumentSubject, packages: readonly Package[], created: string, tool: { name: string; version: string }): unknown {
  const components = packages.map((p) => {
    const { group, name } = nameParts(p);
    const lic = licenses(p);
    return {
      type: 'library',
      'bom-ref': `${p.type}-${packageId(p)}`,
      ...(group ? { group } : {}),
      name,
      version: p.version,
      ...(lic ? { licenses: lic } : {}),
      purl: p.purl,
      properties: [
        { name: LAYER_PROPERTY, value: p.layer },
        { name: LOCATION_PROPERTY, value: `/${p.location}` },
      ],
    };
  });
  const root = {
    type: 'container',
    'bom-ref': 'image',
    name: subject.name,
    ...(subject.digest ? { version: subject.digest } : {}),
  };
  const body = {
    components,
    dependencies: [{ ref: 'image', dependsOn: components.map((c) => c['bom-ref']) }, ...components.map((c) => ({ ref: c['bom-ref'] }))],
  };
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${contentUuid('cyclonedx', subject.name, subject.digest ?? '', created, JSON.stringify(body))}`,
    version: 1,
    metadata: {
      timestamp: created,
      tools: { components: [{ type: 'application', name: tool.name, version: tool.version }] },
      component: root,
    },
    ...body,
  };
}
