// Semantic versions of tags and the constraints skopeo sync's `images-by-semver` takes, as Masterminds/semver v3
// reads them (skopeo's library): tags "1", "v1.2", "1.2.3-rc.1+b5" are versions (anything else is skipped);
// constraints are comparisons (= != > < >= <=), tilde (~1.2: >=1.2.0 <1.3.0) and caret (^1.2: >=1.2.0 <2.0.0;
// ^0.2: <0.3.0) ranges, x-ranges (1.2.x, 1.x, *; a version with parts left out is one too: "1.2" = 1.2.x),
// hyphen ranges (1.2 - 1.4.5), AND by comma or space, OR by ||. A pre-release tag matches only an alternative
// that names a pre-release itself; versions order by semver.org precedence (item 11).
import { S2IError } from '../errors.js';

export interface Version {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
}

const versionPattern = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** A tag as a version, or undefined when it is not one. */
export function parseVersion(tag: string): Version | undefined {
  const m = versionPattern.exec(tag);
  if (!m) return undefined;
  const n = [m[1], m[2], m[3]].map((x) => (x === undefined ? 0 : Number(x)));
  if (!n.every(Number.isSafeInteger)) return undefined;
  return { major: n[0]!, minor: n[1]!, patch: n[2]!, prerelease: m[4] ? m[4].split('.') : [] };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an !== bn) return an ? -1 : 1; // numeric identifiers sort before alphanumeric ones
  return a < b ? -1 : a > b ? 1 : 0;
}

/** semver.org precedence: -1, 0 or 1. Build metadata does not count. */
export function compareVersions(a: Version, b: Version): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return Math.sign(a[k] - b[k]);
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const c = compareIdentifiers(a.prerelease[i]!, b.prerelease[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/** A version in a constraint: the parts given as numbers (0-3; a missing or x part ends them), zeros after. */
interface Bound {
  v: Version;
  given: number;
}

/** One comparison as a range (bounds inclusive or not), or its negation. */
interface Range {
  low?: { v: Version; inclusive: boolean };
  high?: { v: Version; inclusive: boolean };
  negate?: boolean;
}

/** Ranges that must all hold; `pre`: one names a pre-release, so pre-release versions may match. */
interface Group {
  ranges: Range[];
  pre: boolean;
}

/** Alternatives (`||`), any of which may hold. */
export type Constraint = Group[];

const opPattern = '!=|>=|=>|<=|=<|~>|~|\\^|>|<|='; // longest first
const boundPattern = 'v?(?:[0-9]+|[xX*])(?:\\.(?:[0-9]+|[xX*]))?(?:\\.(?:[0-9]+|[xX*]))?(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?';
const termPattern = new RegExp(`^(${opPattern})?\\s*(${boundPattern})$`);
const opOnly = new RegExp(`^(${opPattern})$`);

function bad(text: string, why: string): S2IError {
  return new S2IError('ERR_USAGE', `"${text}" is not a semver constraint: ${why}`);
}

function parseBound(s: string): Bound {
  const [core = '', pre] = s.replace(/^v/, '').replace(/\+.*$/, '').split(/-(.*)/s);
  const nums: number[] = [];
  for (const p of core.split('.')) {
    if (/^[xX*]$/.test(p)) break;
    nums.push(Number(p));
  }
  return { v: { major: nums[0] ?? 0, minor: nums[1] ?? 0, patch: nums[2] ?? 0, prerelease: pre ? pre.split('.') : [] }, given: nums.length };
}

/** The first version past what the parts up to `at` (0 major, 1 minor, 2 patch) allow: 1.2 at 1 → 1.3.0. */
function bump(v: Version, at: number): Version {
  if (at <= 0) return { major: v.major + 1, minor: 0, patch: 0, prerelease: [] };
  if (at === 1) return { major: v.major, minor: v.minor + 1, patch: 0, prerelease: [] };
  return { major: v.major, minor: v.minor, patch: v.patch + 1, prerelease: [] };
}

/** One term as a range. A bound with parts missing or x ("dirty") is the range of versions it leaves open. */
function term(op: string, b: Bound): Range {
  const incl = (v: Version) => ({ v, inclusive: true });
  const excl = (v: Version) => ({ v, inclusive: false });
  if (b.given === 0) return op === '!=' || op === '<' || op === '>' ? { negate: true } : {}; // "*": any
  const dirty = b.given < 3;
  const open = { low: incl(b.v), high: excl(bump(b.v, b.given - 1)) };
  switch (op) {
    case '':
    case '=':
      return dirty ? open : { low: incl(b.v), high: incl(b.v) };
    case '!=':
      return { ...(dirty ? open : { low: incl(b.v), high: incl(b.v) }), negate: true };
    case '>':
      return dirty ? { low: incl(open.high.v) } : { low: excl(b.v) };
    case '>=':
    case '=>':
      return { low: incl(b.v) };
    case '<':
      return { high: excl(b.v) };
    case '<=':
    case '=<':
      return dirty ? { high: open.high } : { high: incl(b.v) };
    case '~':
    case '~>':
      if (!dirty && b.v.major === 0 && b.v.minor === 0 && b.v.patch === 0) return { low: incl(b.v) }; // ~0.0.0: any
      return { low: incl(b.v), high: excl(bump(b.v, b.given >= 2 ? 1 : 0)) };
    case '^': {
      // The first non-zero part may not change; ^0 and ^0.0 keep the parts they give.
      const at = b.v.major > 0 || b.given === 1 ? 0 : b.v.minor > 0 || b.given === 2 ? 1 : 2;
      return { low: incl(b.v), high: excl(bump(b.v, at)) };
    }
    default:
      throw new Error(`unreachable operator ${op}`);
  }
}

/** Parses a constraint; throws ERR_USAGE naming what is wrong (the caller says where it was written). */
export function parseConstraint(text: string): Constraint {
  if (text.trim() === '') throw bad(text, 'it is empty');
  return text.split('||').map((alternative) => {
    const g = alternative.trim().replace(/(\S+)\s+-\s+(\S+)/g, '>=$1 <=$2');
    if (g === '') throw bad(text, 'an empty alternative around "||"');
    // A term is an operator and a version, with or without a space between; terms are separated by "," or spaces.
    const tokens = g.split(/\s*,\s*|\s+/).filter((t) => t !== '');
    const terms: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      terms.push(opOnly.test(t) && i + 1 < tokens.length ? t + tokens[++i]! : t);
    }
    let pre = false;
    const ranges = terms.map((t) => {
      const m = termPattern.exec(t);
      if (!m) throw bad(text, `"${t}" is not an operator (= != > < >= <= ~ ^) and a version (1, 1.2, 1.2.3, 1.2.x, *)`);
      const b = parseBound(m[2]!);
      pre ||= b.v.prerelease.length > 0;
      return term(m[1] ?? '', b);
    });
    return { ranges, pre };
  });
}

function inRange(v: Version, r: Range): boolean {
  const lowOk = !r.low || (r.low.inclusive ? compareVersions(v, r.low.v) >= 0 : compareVersions(v, r.low.v) > 0);
  const highOk = !r.high || (r.high.inclusive ? compareVersions(v, r.high.v) <= 0 : compareVersions(v, r.high.v) < 0);
  return lowOk && highOk;
}

/** Whether the tag `tag` is a version the constraint allows (a tag that is not a version never is). */
export function matchesConstraint(c: Constraint, tag: string): boolean {
  const v = parseVersion(tag);
  if (!v) return false;
  return c.some((g) => (v.prerelease.length === 0 || g.pre) && g.ranges.every((r) => (r.negate ? !inRange(v, r) : inRange(v, r))));
}
