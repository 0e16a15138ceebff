// --allowed-uids (S2I-CONTRACT.md "Allowed UIDs"): ranges `n`, `n-`, `-n`, `n-m`, comma-separated.

import { S2IError } from '../errors.js';

/** Inclusive range; `max` undefined = no upper bound. */
export interface UidRange {
  min: number;
  max?: number;
}

const maxUid = 2 ** 32 - 1;

function num(s: string, whole: string): number {
  if (!/^\d+$/.test(s)) throw syntax(whole, `"${s}" is not a number`);
  const n = Number(s);
  if (n > maxUid) throw syntax(whole, `${s} is larger than ${maxUid}`);
  return n;
}

function syntax(whole: string, why: string): S2IError {
  return new S2IError('ERR_ALLOWED_UIDS_SYNTAX', `--allowed-uids "${whole}": ${why}; use ranges like 1-, 1000, 1000-, -5000, 1000-2000 separated by commas`);
}

export function parseUidRanges(s: string): UidRange[] {
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw syntax(s, 'empty range');
  return parts.map((p) => {
    const dash = p.indexOf('-');
    if (dash < 0) {
      const n = num(p, s);
      return { min: n, max: n };
    }
    if (p.indexOf('-', dash + 1) >= 0) throw syntax(s, `"${p}" has more than one "-"`);
    const a = p.slice(0, dash);
    const b = p.slice(dash + 1);
    if (a === '' && b === '') throw syntax(s, '"-" alone is not a range');
    const min = a === '' ? 0 : num(a, s);
    if (b === '') return { min };
    const max = num(b, s);
    if (max < min) throw syntax(s, `"${p}" ends before it starts`);
    return { min, max };
  });
}

export function formatUidRanges(ranges: UidRange[]): string {
  return ranges.map((r) => (r.max === undefined ? `${r.min}-` : r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',');
}

export function uidAllowed(uid: number, ranges: UidRange[]): boolean {
  return ranges.some((r) => uid >= r.min && (r.max === undefined || uid <= r.max));
}

/**
 * Throw ERR_USER_NOT_ALLOWED (exit 15) unless `user` is numeric and inside a range. `user:group` checks the
 * user part. Empty/undefined means the image runs as root, and is refused whatever the ranges (as s2i: the
 * real uid cannot be known); "0" is refused unless a range explicitly includes 0. Empty ranges allow anything.
 * `what` names the source of the user, e.g. "assemble user", "image USER", "label io.openshift.s2i.assemble-user".
 */
export function checkUser(user: string | undefined, ranges: UidRange[], what: string): void {
  if (ranges.length === 0) return;
  const u = (user ?? '').split(':', 1)[0]!.trim();
  const allowed = formatUidRanges(ranges);
  const fail = (why: string): never => {
    throw new S2IError('ERR_USER_NOT_ALLOWED', `${what} "${user ?? ''}" ${why}; allowed UIDs are ${allowed}: set a numeric USER (or --assemble-user) in that range`);
  };
  if (u === '') fail('is empty, which means root');
  if (!/^\d+$/.test(u)) fail('is a name, not a numeric UID');
  if (!uidAllowed(Number(u), ranges)) fail('is outside the allowed ranges');
}
