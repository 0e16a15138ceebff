// USER specs (`uid`, `uid:gid`, `name`, `name:group`) resolved against the builder rootfs' /etc/passwd and
// /etc/group TEXT, the way runc/podman do it (no NSS, no host lookups).

import { S2IError } from '../errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups the user is a member of in /etc/group (only when no group was given explicitly). */
  additionalGids?: number[];
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const idRe = /^\d+$/;
const maxId = 2 ** 32 - 1;

function parseId(s: string): number | undefined {
  if (!idRe.test(s)) return undefined;
  const n = Number(s);
  return n <= maxId ? n : undefined;
}

/** Well-formed lines only; malformed lines are skipped (as libc does). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || line.startsWith('#')) continue;
    const uid = parseId(f[2]!);
    const gid = parseId(f[3]!);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || line.startsWith('#')) continue;
    const gid = parseId(f[2]!);
    if (gid === undefined) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * Resolve a USER spec. Empty → root (0:0). A numeric user without a passwd entry gets gid 0 (runc/podman).
 * Unknown names (user or group) → ERR_USER_UNKNOWN.
 */
export function resolveUserSpec(user: string, passwd?: string, group?: string): ResolvedUser {
  const spec = user.trim();
  if (spec === '') return { uid: 0, gid: 0 };
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  const users = parsePasswd(passwd ?? '');
  const groups = parseGroup(group ?? '');

  let uid: number;
  let gid: number;
  let name: string | undefined;
  const numericUid = parseId(userPart);
  if (userPart === '') {
    uid = 0;
    gid = 0;
    name = users.find((u) => u.uid === 0)?.name;
  } else if (numericUid !== undefined) {
    uid = numericUid;
    const entry = users.find((u) => u.uid === uid);
    gid = entry?.gid ?? 0;
    name = entry?.name;
  } else {
    const entry = users.find((u) => u.name === userPart);
    if (!entry) {
      throw new S2IError('ERR_USER_UNKNOWN', `user "${userPart}" is not in the image's /etc/passwd; use a numeric UID or add the user to the image`);
    }
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  }

  if (groupPart !== undefined && groupPart !== '') {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) gid = numericGid;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw new S2IError('ERR_USER_UNKNOWN', `group "${groupPart}" is not in the image's /etc/group; use a numeric GID or add the group to the image`);
      }
      gid = g.gid;
    }
    return { uid, gid };
  }

  if (name !== undefined) {
    const extra = [...new Set(groups.filter((g) => g.members.includes(name!) && g.gid !== gid).map((g) => g.gid))];
    if (extra.length) return { uid, gid, additionalGids: extra };
  }
  return { uid, gid };
}
