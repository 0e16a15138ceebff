// Image names as containers/image's policy sees them (docker/policyconfiguration/naming.go,
// signature/policy_reference_match.go): the identity of a reference (`name:tag` or `name@digest`), the
// namespaces a scope may name (repository, its parents, the host, then `*.domain` wildcards), and whether the
// identity a signature claims is accepted for the image by a signedIdentity rule. Pure.
import { parseReference, qualified, type Reference } from '../oci/reference.js';
import type { SignedIdentity } from './policy.js';

/** A normalized name with what it carried: `docker.io/library/busybox`, tag and digest. */
interface Named {
  name: string;
  tag?: string;
  digest?: string;
}

function named(ref: Reference): Named {
  const q = qualified(ref);
  return { name: `${q.registry}/${q.repository}`, ...(q.tag !== undefined ? { tag: q.tag } : {}), ...(q.digest !== undefined ? { digest: q.digest } : {}) };
}

/** distribution's ParseNormalizedNamed, keeping a name-only reference name-only (parseReference would add :latest). */
function parseNamed(s: string): Named | undefined {
  let ref: Reference;
  try {
    ref = parseReference(s);
  } catch {
    return undefined;
  }
  const n = named(ref);
  const path = s.replace(/@.*$/, '');
  if (!path.slice(path.lastIndexOf('/') + 1).includes(':')) delete n.tag;
  return n;
}

function nameOnly(n: Named): boolean {
  return n.tag === undefined && n.digest === undefined;
}

function str(n: Named): string {
  return `${n.name}${n.tag !== undefined ? `:${n.tag}` : ''}${n.digest !== undefined ? `@${n.digest}` : ''}`;
}

/** The scope identity of an image reference (a digest wins over a tag). */
export function policyIdentity(ref: Reference): string {
  const n = named(ref);
  return n.digest !== undefined ? `${n.name}@${n.digest}` : `${n.name}:${n.tag ?? 'latest'}`;
}

/** The scopes that cover `ref`, most specific first: the repository, its parents, the host, `*.` wildcards. */
export function policyNamespaces(ref: Reference): string[] {
  const out: string[] = [];
  let name = named(ref).name;
  for (;;) {
    out.push(name);
    const slash = name.lastIndexOf('/');
    if (slash < 0) break;
    name = name.slice(0, slash);
  }
  let host = name.replace(/:.*$/, '');
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.')) {
    host = host.slice(dot + 1);
    out.push(`*.${host}`);
  }
  return out;
}

function repoDigestOrExact(intended: Named, signature: Named): boolean {
  if (nameOnly(signature)) return false;
  if (intended.tag !== undefined) return str(signature) === str(intended);
  if (intended.digest !== undefined) return signature.name === intended.name;
  return false;
}

/** Whether a signature claiming `claimed` is accepted for the image named `image` under `rule`. */
export function identityAccepted(rule: SignedIdentity, image: Reference, claimed: string): boolean {
  const signature = parseNamed(claimed);
  if (!signature) return false;
  const intended = named(image);
  switch (rule.type) {
    case 'matchExact':
      return !nameOnly(intended) && !nameOnly(signature) && str(signature) === str(intended);
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(intended, signature);
    case 'matchRepository':
      return signature.name === intended.name;
    case 'exactReference': {
      const want = parseNamed(rule.dockerReference);
      return want !== undefined && !nameOnly(want) && !nameOnly(signature) && str(signature) === str(want);
    }
    case 'exactRepository': {
      const want = parseNamed(rule.dockerRepository);
      return want !== undefined && signature.name === want.name;
    }
    case 'remapIdentity': {
      const { prefix, signedPrefix } = rule;
      const matches = intended.name === prefix || (intended.name.startsWith(prefix) && intended.name[prefix.length] === '/');
      if (!matches) return repoDigestOrExact(intended, signature);
      const remapped = parseNamed(str(intended).replace(prefix, signedPrefix));
      return remapped !== undefined && repoDigestOrExact(remapped, signature);
    }
  }
}

