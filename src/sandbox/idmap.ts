// Subordinate ID ranges (/etc/subuid, /etc/subgid; subuid(5)) of the calling user.
import { readFile } from 'node:fs/promises';
import os from 'node:os';

export interface IdRange {
  /** First host ID of the range. */
  start: number;
  count: number;
}

/** Parses subuid(5) text: `name-or-id:start:count` lines; returns the ranges of `user` (by name or numeric id). */
export function parseSubIdFile(text: string, user: { name: string; id: number }): IdRange[] {
  const out: IdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [who, start, count] = line.split(':');
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== user.name && who !== String(user.id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s >= 0 && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

async function readOr(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

export interface SubIds {
  uids: IdRange[];
  gids: IdRange[];
}

export async function callerSubIds(files = { uid: '/etc/subuid', gid: '/etc/subgid' }): Promise<SubIds> {
  // A random UID (OpenShift) has no passwd entry, and os.userInfo() throws for it: look it up by number only.
  let info: { username: string; uid: number; gid: number };
  try {
    info = os.userInfo();
  } catch {
    const uid = process.getuid?.() ?? -1;
    info = { username: String(uid), uid, gid: process.getgid?.() ?? -1 };
  }
  const uids = parseSubIdFile(await readOr(files.uid), { name: info.username, id: info.uid });
  const gids = parseSubIdFile(await readOr(files.gid), { name: info.username, id: info.gid });
  return { uids, gids };
}

/**
 * newuidmap/newgidmap arguments: container 0 → the caller, container 1.. → the subordinate ranges in order.
 * (The layout `unshare --map-root-user --map-auto` and podman use.)
 */
export function mapArgs(callerId: number, ranges: IdRange[]): string[] {
  const args = ['0', String(callerId), '1'];
  let next = 1;
  for (const r of ranges) {
    args.push(String(next), String(r.start), String(r.count));
    next += r.count;
  }
  return args;
}
