// The pre-defined OCI annotation keys a build writes on its output (image-spec annotations.md): where the source
// is, its revision, when the image was made and what it was made on. OCI manifests carry them as manifest
// annotations; a Docker schema 2 manifest has none, so a Docker image carries the same keys as config labels.
// `--annotation K=V` goes over them. `created` is the image's own `created` (its config's), so a reproducible
// build stays byte for byte the same.

export const Annotation = {
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  created: 'org.opencontainers.image.created',
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
} as const;

export interface ProvenanceFacts {
  /** Where the source came from (a URL without credentials, or a local path). */
  source: string;
  /** The source's commit, when it is a git checkout. */
  revision?: string | undefined;
  /** RFC 3339, the image config's `created`. */
  created: string;
  /** The image the new layer went on, fully qualified where it is a registry image. */
  baseName: string;
  baseDigest: string;
}

/** The pre-defined keys (empty values left out), then the user's `--annotation`s, which win. */
export function outputAnnotations(f: ProvenanceFacts, user: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  put(Annotation.source, f.source);
  put(Annotation.revision, f.revision);
  put(Annotation.created, f.created);
  put(Annotation.baseName, f.baseName);
  put(Annotation.baseDigest, f.baseDigest);
  for (const [k, v] of Object.entries(user)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}
