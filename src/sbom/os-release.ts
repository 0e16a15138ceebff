// os-release(5): KEY=value lines, values optionally quoted with shell-like escapes. Only ID, VERSION_ID and
// ID_LIKE matter here (the purl namespace and its `distro` qualifier).

export interface OsRelease {
  id: string;
  versionId: string;
  idLike: string[];
}

/** The paths os-release(5) says to read, in order (etc first, the vendor copy second). */
export const OS_RELEASE_PATHS = ['etc/os-release', 'usr/lib/os-release'];

export function parseOsRelease(text: string): OsRelease | undefined {
  const kv = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2]!.trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    kv.set(m[1]!, v);
  }
  const id = kv.get('ID');
  if (!id || !/^[a-z0-9._-]{1,64}$/.test(id)) return undefined;
  return {
    id,
    versionId: (kv.get('VERSION_ID') ?? '').slice(0, 64),
    idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter((s) => /^[a-z0-9._-]{1,64}$/.test(s)),
  };
}

/** The `distro` qualifier syft and trivy write: ID-VERSION_ID. */
export function distroQualifier(os: OsRelease | undefined): string | undefined {
  if (!os) return undefined;
  return os.versionId ? `${os.id}-${os.versionId}` : os.id;
}
