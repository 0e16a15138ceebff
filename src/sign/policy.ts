// containers-policy.json(5), parsed as strictly as containers/image's signature/policy_config.go: `default` (a
// non-empty list of requirements) and `transports` (transport → scope → requirements); unknown keys and unknown
// requirement types make the file unusable. Pure: the file's text in, the model out; key files are read when a
// requirement is applied (verify.ts), as containers/image does.
import { S2IError } from '../errors.js';

/** How the identity a signature claims must relate to the image's name (policy_reference_match.go). */
export type SignedIdentity =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

export type Requirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  /** GPG signatures: parsed so a policy holding them loads, refused when applied (not supported). */
  | { type: 'signedBy' }
  | {
      type: 'sigstoreSigned';
      keyPaths?: string[];
      keyData?: string[];
      /** fulcio, pki or rekor keys: keyless verification, refused when applied (no network trust roots offline). */
      keyless?: string;
      signedIdentity: SignedIdentity;
    };

export interface Policy {
  /** Where it was read from, for messages. */
  file: string;
  default: Requirement[];
  transports: Record<string, Record<string, Requirement[]>>;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a policy file's text; `file` names it in every message. */
export function parsePolicy(text: string, file: string): Policy {
  const bad = (why: string): S2IError => new S2IError('ERR_POLICY_INVALID', `signature policy ${file}: ${why}; see containers-policy.json(5)`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(doc)) throw bad('the top level is not a JSON object');
  for (const k of Object.keys(doc)) if (k !== 'default' && k !== 'transports') throw bad(`unknown key ${JSON.stringify(k)}`);
  if (!('default' in doc)) throw bad('"default" is missing');
  const where = (at: string) => (why: string) => bad(`${at}: ${why}`);
  const def = requirements(doc.default, where('default'));
  const transports: Policy['transports'] = {};
  if (doc.transports !== undefined && doc.transports !== null) {
    if (!isObj(doc.transports)) throw bad('"transports" is not an object');
    for (const [transport, scopes] of Object.entries(doc.transports)) {
      if (!isObj(scopes)) throw bad(`transports.${transport} is not an object`);
      transports[transport] = {};
      for (const [scope, reqs] of Object.entries(scopes)) {
        if (transport === 'docker' && scope !== '') checkDockerScope(scope, where(`transports.docker[${JSON.stringify(scope)}]`));
        transports[transport]![scope] = requirements(reqs, where(`transports.${transport}[${JSON.stringify(scope)}]`));
      }
    }
  }
  return { file, default: def, transports };
}

/** A docker scope: `*.domain`, or a registry, namespace or repository name with at most a tag or digest. */
function checkDockerScope(scope: string, bad: (why: string) => S2IError): void {
  if (scope.startsWith('*.')) {
    if (!/^\*\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(scope)) throw bad('not a valid *.DOMAIN wildcard scope');
    return;
  }
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._/-]+)?(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?$/i.test(scope)) throw bad('not a valid registry, namespace or repository scope');
}

function requirements(v: unknown, bad: (why: string) => S2IError): Requirement[] {
  if (!Array.isArray(v)) throw bad('not a list of requirements');
  if (v.length === 0) throw bad('an empty list of requirements (containers/image refuses it: say insecureAcceptAnything or reject)');
  return v.map((r, i) => requirement(r, (why) => bad(`requirement ${i + 1}: ${why}`)));
}

function exactKeys(o: Obj, allowed: string[], bad: (why: string) => S2IError): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(`unknown key ${JSON.stringify(k)}`);
}

function stringField(o: Obj, k: string, bad: (why: string) => S2IError): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw bad(`"${k}" is not a non-empty string`);
  return v;
}

function stringList(o: Obj, k: string, bad: (why: string) => S2IError): string[] | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string' && s !== '')) throw bad(`"${k}" is not a non-empty list of strings`);
  return v as string[];
}

function requirement(r: unknown, bad: (why: string) => S2IError): Requirement {
  if (!isObj(r)) throw bad('not an object');
  switch (r.type) {
    case 'insecureAcceptAnything':
    case 'reject':
      exactKeys(r, ['type'], bad);
      return { type: r.type };
    case 'signedBy':
      exactKeys(r, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], bad);
      return { type: 'signedBy' };
    case 'sigstoreSigned':
      return sigstoreSigned(r, bad);
    default:
      throw bad(`unknown requirement type ${JSON.stringify(r.type)} (known: insecureAcceptAnything, reject, sigstoreSigned, signedBy)`);
  }
}

function sigstoreSigned(r: Obj, bad: (why: string) => S2IError): Requirement {
  const keyless = ['fulcio', 'pki', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'];
  exactKeys(r, ['type', 'keyPath', 'keyPaths', 'keyData', 'keyDatas', 'signedIdentity', ...keyless], bad);
  const keyPath = stringField(r, 'keyPath', bad);
  const keyPaths = stringList(r, 'keyPaths', bad);
  // keyData is []byte in Go: base64 in JSON.
  const data = (s: string): string => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw bad('"keyData" is not base64');
    return Buffer.from(s, 'base64').toString('utf8');
  };
  const keyData = stringField(r, 'keyData', bad);
  const keyDatas = stringList(r, 'keyDatas', bad);
  const usedKeyless = keyless.filter((k) => k in r);
  const sources = [keyPath, keyPaths, keyData, keyDatas, r.fulcio, r.pki].filter((x) => x !== undefined).length;
  if (sources !== 1) throw bad('exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given');
  const identity = r.signedIdentity === undefined ? ({ type: 'matchRepoDigestOrExact' } as const) : signedIdentity(r.signedIdentity, (why) => bad(`signedIdentity: ${why}`));
  const out: Requirement = { type: 'sigstoreSigned', signedIdentity: identity };
  if (keyPath || keyPaths) out.keyPaths = keyPath ? [keyPath] : keyPaths!;
  if (keyData || keyDatas) out.keyData = (keyData ? [keyData] : keyDatas!).map(data);
  if (usedKeyless.length) out.keyless = usedKeyless.join(', ');
  return out;
}

function signedIdentity(v: unknown, bad: (why: string) => S2IError): SignedIdentity {
  if (!isObj(v)) throw bad('not an object');
  switch (v.type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      exactKeys(v, ['type'], bad);
      return { type: v.type };
    case 'exactReference': {
      exactKeys(v, ['type', 'dockerReference'], bad);
      const dockerReference = stringField(v, 'dockerReference', bad);
      if (!dockerReference) throw bad('"dockerReference" is missing');
      return { type: 'exactReference', dockerReference };
    }
    case 'exactRepository': {
      exactKeys(v, ['type', 'dockerRepository'], bad);
      const dockerRepository = stringField(v, 'dockerRepository', bad);
      if (!dockerRepository) throw bad('"dockerRepository" is missing');
      return { type: 'exactRepository', dockerRepository };
    }
    case 'remapIdentity': {
      exactKeys(v, ['type', 'prefix', 'signedPrefix'], bad);
      const prefix = stringField(v, 'prefix', bad);
      const signedPrefix = stringField(v, 'signedPrefix', bad);
      if (!prefix || !signedPrefix) throw bad('"prefix" and "signedPrefix" are both required');
      return { type: 'remapIdentity', prefix, signedPrefix };
    }
    default:
      throw bad(`unknown type ${JSON.stringify(v.type)}`);
  }
}

/**
 * The requirements for an image (policy_eval.go requirementsForImageRef): the transport's scope equal to the
 * image's identity, then each of its namespaces (most specific first, `namespaces`), then the transport's "" scope,
 * then the default.
 */
export function requirementsFor(policy: Policy, transport: string, identity: string | undefined, namespaces: readonly string[]): Requirement[] {
  const scopes = policy.transports[transport];
  if (scopes) {
    if (identity !== undefined && scopes[identity]) return scopes[identity]!;
    for (const n of namespaces) if (scopes[n]) return scopes[n]!;
    if (scopes['']) return scopes['']!;
  }
  return policy.default;
}
