// The package model every cataloger produces and both document writers read. Plain data, so a layer's findings
// can be cached as JSON by diffID and reloaded as they were.

/** The ecosystems the catalogers know; the purl type of each is the same word (purl-spec PURL-TYPES). */
export type PackageType = 'deb' | 'apk' | 'rpm' | 'golang' | 'npm' | 'pypi' | 'maven';

export interface Package {
  type: PackageType;
  name: string;
  version: string;
  /** Package URL (purl-spec), without qualifiers the distro does not give. */
  purl: string;
  /** The license as the database or manifest states it (not necessarily an SPDX expression). */
  license?: string;
  /** The diffID of the layer that introduced this package (its current version). */
  layer: string;
  /** Where it was found, inside the image (no leading `/`). */
  location: string;
  /** Extra facts worth keeping (architecture, Go version, module sum, source package), sorted by name on output. */
  facts?: Record<string, string>;
}

/** A stable order, so the same image gives the same document bytes. */
export function comparePackages(a: Package, b: Package): number {
  return cmp(a.type, b.type) || cmp(a.name, b.name) || cmp(a.version, b.version) || cmp(a.location, b.location) || cmp(a.purl, b.purl);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
