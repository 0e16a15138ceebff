// The field rules of the in-toto Statement v1 (in-toto/attestation spec/v1/statement.md, resource_descriptor.md,
// field_types.md: TypeURI, DigestSet, Timestamp) and of SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance: required
// fields, ResourceDescriptor in resolvedDependencies, timestamps), written as a checker: each broken rule is one
// string naming the field. Written from the specs, independent of src/attest (which must pass it).

type Json = Record<string, unknown>;

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** TypeURI: an absolute URI (RFC 3986: a scheme, then a colon). */
function isUri(x: unknown): boolean {
  return typeof x === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(x);
}

/** Timestamp: RFC 3339 in UTC ("Z"). */
function isUtcTimestamp(x: unknown): boolean {
  return typeof x === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(x) && !Number.isNaN(Date.parse(x));
}

/** DigestSet: a non-empty map of algorithm → lowercase hex (the hex length of the named algorithm where known). */
function digestSetProblems(d: unknown, where: string): string[] {
  if (!isObject(d) || Object.keys(d).length === 0) return [`${where}: a DigestSet must be a non-empty object`];
  const lengths: Record<string, number> = { sha256: 64, sha512: 128, sha1: 40, gitCommit: 40 };
  const out: string[] = [];
  for (const [alg, v] of Object.entries(d)) {
    if (typeof v !== 'string' || !/^[0-9a-f]+$/.test(v)) out.push(`${where}.${alg}: must be lowercase hex`);
    else if (lengths[alg] !== undefined && v.length !== lengths[alg] && !(alg === 'gitCommit' && v.length === 64)) out.push(`${where}.${alg}: ${v.length} hex digits`);
  }
  return out;
}

/** ResourceDescriptor: at least one of uri, digest, content; each present field of its type. */
function resourceDescriptorProblems(r: unknown, where: string): string[] {
  if (!isObject(r)) return [`${where}: must be an object`];
  const out: string[] = [];
  if (r.uri === undefined && r.digest === undefined && r.content === undefined) out.push(`${where}: needs uri, digest or content`);
  if (r.uri !== undefined && !isUri(r.uri)) out.push(`${where}.uri: not a URI (${String(r.uri)})`);
  if (r.digest !== undefined) out.push(...digestSetProblems(r.digest, `${where}.digest`));
  for (const k of ['name', 'downloadLocation', 'mediaType'] as const) if (r[k] !== undefined && typeof r[k] !== 'string') out.push(`${where}.${k}: must be a string`);
  if (r.annotations !== undefined && !isObject(r.annotations)) out.push(`${where}.annotations: must be an object`);
  return out;
}

export function statementProblems(s: unknown): string[] {
  if (!isObject(s)) return ['statement: must be a JSON object'];
  const out: string[] = [];
  if (s._type !== 'https://in-toto.io/Statement/v1') out.push(`_type: must be https://in-toto.io/Statement/v1, got ${String(s._type)}`);
  if (!Array.isArray(s.subject) || s.subject.length === 0) out.push('subject: must be a non-empty array');
  else
    s.subject.forEach((x, i) => {
      out.push(...resourceDescriptorProblems(x, `subject[${i}]`));
      if (!isObject(x) || x.digest === undefined) out.push(`subject[${i}].digest: required`);
    });
  if (!isUri(s.predicateType)) out.push('predicateType: must be a TypeURI');
  if (s.predicate !== undefined && !isObject(s.predicate)) out.push('predicate: must be an object');
  return out;
}

export function slsaProvenanceProblems(s: unknown): string[] {
  const out = statementProblems(s);
  if (!isObject(s)) return out;
  if (s.predicateType !== 'https://slsa.dev/provenance/v1') out.push(`predicateType: must be https://slsa.dev/provenance/v1`);
  const p = s.predicate;
  if (!isObject(p)) return [...out, 'predicate: required'];
  const bd = p.buildDefinition;
  if (!isObject(bd)) out.push('buildDefinition: required');
  else {
    if (!isUri(bd.buildType)) out.push('buildDefinition.buildType: required TypeURI');
    if (!isObject(bd.externalParameters)) out.push('buildDefinition.externalParameters: required object');
    if (bd.internalParameters !== undefined && !isObject(bd.internalParameters)) out.push('buildDefinition.internalParameters: must be an object');
    if (bd.resolvedDependencies !== undefined) {
      if (!Array.isArray(bd.resolvedDependencies)) out.push('buildDefinition.resolvedDependencies: must be an array');
      else bd.resolvedDependencies.forEach((r, i) => out.push(...resourceDescriptorProblems(r, `resolvedDependencies[${i}]`)));
    }
  }
  const rd = p.runDetails;
  if (!isObject(rd)) out.push('runDetails: required');
  else {
    if (!isObject(rd.builder) || !isUri(rd.builder.id)) out.push('runDetails.builder.id: required TypeURI');
    else if (rd.builder.version !== undefined && (!isObject(rd.builder.version) || Object.values(rd.builder.version).some((v) => typeof v !== 'string'))) out.push('runDetails.builder.version: map of strings');
    if (rd.metadata !== undefined) {
      if (!isObject(rd.metadata)) out.push('runDetails.metadata: must be an object');
      else {
        const m = rd.metadata;
        if (m.invocationId !== undefined && typeof m.invocationId !== 'string') out.push('runDetails.metadata.invocationId: must be a string');
        for (const k of ['startedOn', 'finishedOn'] as const) if (m[k] !== undefined && !isUtcTimestamp(m[k])) out.push(`runDetails.metadata.${k}: must be an RFC 3339 UTC timestamp`);
        if (isUtcTimestamp(m.startedOn) && isUtcTimestamp(m.finishedOn) && Date.parse(m.finishedOn as string) < Date.parse(m.startedOn as string)) out.push('runDetails.metadata: finishedOn before startedOn');
      }
    }
  }
  return out;
}

/** The DSSE envelope rules (secure-systems-lab/dsse envelope.md): payloadType, base64 payload, a signatures list. */
export function envelopeProblems(e: unknown): string[] {
  if (!isObject(e)) return ['envelope: must be an object'];
  const out: string[] = [];
  if (e.payloadType !== 'application/vnd.in-toto+json') out.push(`payloadType: ${String(e.payloadType)}`);
  if (typeof e.payload !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(e.payload)) out.push('payload: must be standard base64');
  if (!Array.isArray(e.signatures)) out.push('signatures: must be an array');
  return out;
}
