// Package URLs of OS packages, which need the distribution (os-release) the layers were stacked into:
// pkg:deb/debian/NAME@VERSION?arch=…&distro=debian-12, pkg:apk/alpine/…, pkg:rpm/redhat/…?epoch=… (purl-spec
// PURL-TYPES; the `distro` qualifier as syft and trivy write it).
import type { Package } from './model.js';
import { distroQualifier, type OsRelease } from './os-release.js';
import { purl } from './purl.js';

/** The purl namespace of a distribution: its vendor's name where the purl types say so. */
function namespace(type: Package['type'], os: OsRelease | undefined): string {
  const id = os?.id;
  if (type === 'rpm') return id === 'rhel' || id === undefined ? 'redhat' : id;
  if (type === 'apk') return id ?? 'alpine';
  return id ?? 'debian';
}

export function withOsPurl(p: Package, os: OsRelease | undefined): Package {
  if (p.purl !== '') return p;
  const distro = distroQualifier(os);
  const arch = p.facts?.arch;
  if (p.type === 'rpm') {
    return {
      ...p,
      purl: purl('rpm', namespace('rpm', os), p.name, `${p.facts?.rpmVersion ?? ''}-${p.facts?.release ?? ''}`, { arch, epoch: p.facts?.epoch, distro }),
    };
  }
  return { ...p, purl: purl(p.type, namespace(p.type, os), p.name, p.version, { arch, distro }) };
}
