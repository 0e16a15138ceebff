// SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance) as an in-toto Statement v1
// (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md), as a pure function of what the build
// knows first-hand: the image it made (the subject), the builder and runtime images by digest, the source and its
// commit, the parameters the user gave, and when it ran. What goes in is chosen here, field by field: a parameter
// that can carry a secret (-e and --build-env values, -E files, --inject, --volume, credentials, a URL's user and
// password) has no field, so no caller can put one in by passing "all the options".
import { parseDigest } from '../oci/digest.js';

export const StatementType = 'https://in-toto.io/Statement/v1';
export const SlsaProvenanceV1 = 'https://slsa.dev/provenance/v1';
/** How to read externalParameters and internalParameters: spec/provenance.md, versioned by its path. */
export const BuildTypeS2I = 'https://github.com/oci-s2i/oci-s2i/blob/main/spec/provenance.md#s2i-build-v1';
/** runDetails.builder.id: this engine, run by whoever ran it (the version says which). */
export const BuilderId = 'https://github.com/oci-s2i/oci-s2i#cli';

/** in-toto ResourceDescriptor (only the fields used here). */
export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  mediaType?: string;
  annotations?: Record<string, string>;
}

export interface Statement<P> {
  _type: typeof StatementType;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: ExternalParameters;
    internalParameters?: Record<string, unknown>;
    resolvedDependencies?: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
  };
}

/** The build as the user asked for it: names, flags that are choices, never a value that can hold a secret. */
export interface ExternalParameters {
  source: { uri: string; ref?: string; contextDir?: string };
  /** BUILDER as given. */
  builder: string;
  /** The destination as given. */
  tag: string;
  format: string;
  /** The remaining flags that change the result, by their long names (values that are choices, not data). */
  flags: Record<string, string | boolean | string[]>;
  /** The names (not the values) of the -e and --build-env variables. */
  env?: string[];
  buildEnv?: string[];
}

export interface ProvenanceInput {
  /** The image built: its name (the destination) and manifest digest. */
  subject: { name: string; digest: string };
  external: ExternalParameters;
  /** Chosen by the engine, not the user (isolation path, runtime, compression backend). */
  internal: Record<string, string>;
  builder: { uri: string; digest: string };
  runtimeImage?: { uri: string; digest: string } | undefined;
  source: { uri: string; commit?: string | undefined };
  engineVersion: string;
  /** RFC 3339; a deterministic provenance gives the image's created time for both. */
  startedOn: string;
  finishedOn: string;
  invocationId?: string | undefined;
}

/** `sha256:hex` → `{sha256: hex}` (the in-toto DigestSet). */
export function digestSet(digest: string): Record<string, string> {
  const { algorithm, hex } = parseDigest(digest);
  return { [algorithm]: hex };
}

/** A git commit id as a DigestSet: 40 hex digits are SHA-1, 64 are SHA-256 (in-toto digest set names). */
function commitDigest(commit: string): Record<string, string> | undefined {
  if (/^[0-9a-f]{40}$/.test(commit)) return { gitCommit: commit };
  if (/^[0-9a-f]{64}$/.test(commit)) return { gitCommit: commit };
  return undefined;
}

/** RFC 3339 in UTC with no sub-second noise beyond milliseconds (in-toto Timestamp: UTC, `Z`). */
function utc(t: string): string {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toISOString().replace(/\.000Z$/, 'Z');
}

export function provenanceStatement(p: ProvenanceInput): Statement<SlsaProvenance> {
  const deps: ResourceDescriptor[] = [{ uri: p.builder.uri, digest: digestSet(p.builder.digest), name: 'builder' }];
  const commit = p.source.commit ? commitDigest(p.source.commit) : undefined;
  deps.push({ uri: p.source.uri, ...(commit ? { digest: commit } : {}), name: 'source' });
  if (p.runtimeImage) deps.push({ uri: p.runtimeImage.uri, digest: digestSet(p.runtimeImage.digest), name: 'runtime-image' });
  return {
    _type: StatementType,
    subject: [{ name: p.subject.name, digest: digestSet(p.subject.digest) }],
    predicateType: SlsaProvenanceV1,
    predicate: {
      buildDefinition: {
        buildType: BuildTypeS2I,
        externalParameters: p.external,
        internalParameters: p.internal,
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: { id: BuilderId, version: { 'oci-s2i': p.engineVersion } },
        metadata: {
          ...(p.invocationId ? { invocationId: p.invocationId } : {}),
          startedOn: utc(p.startedOn),
          finishedOn: utc(p.finishedOn),
        },
      },
    },
  };
}
