// rpm's package database: rpmdb.sqlite (RHEL/UBI 9, Fedora; /usr/lib/sysimage/rpm on newer Fedora) and the
// Berkeley DB hash `Packages` of RHEL/UBI 8 and older. Each row or value is an rpm header blob.
import type { Package } from './model.js';
import { CorruptBdb, bdbHashValues } from './bdb.js';
import { CorruptHeader, parseRpmHeader } from './rpm-header.js';
import { CorruptSqlite, SqliteFile } from './sqlite.js';
import type { Tree } from './tree.js';

export const RPM_DBS: ReadonlyArray<{ path: string; kind: 'sqlite' | 'bdb' }> = [
  { path: 'var/lib/rpm/rpmdb.sqlite', kind: 'sqlite' },
  { path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', kind: 'sqlite' },
  { path: 'var/lib/rpm/Packages', kind: 'bdb' },
];

export function readRpmDb(tree: Tree, comps: string[], kind: 'sqlite' | 'bdb', max: number, warn: (why: string) => void): Package[] {
  const data = tree.read(comps, max);
  if (typeof data === 'string') {
    if (data !== 'absent') warn(data === 'too-big' ? `larger than ${max} bytes, not read` : 'not a regular file (a symlink is not followed), not read');
    return [];
  }
  const location = comps.join('/');
  const out: Package[] = [];
  let bad = 0;
  const add = (blob: Buffer): void => {
    try {
      const p = parseRpmHeader(blob, location);
      if (p && p.name !== 'gpg-pubkey') out.push(p);
    } catch (e) {
      if (!(e instanceof CorruptHeader || e instanceof RangeError)) throw e;
      bad++;
    }
  };
  try {
    if (kind === 'sqlite') {
      const walComps = [...comps.slice(0, -1), `${comps[comps.length - 1]}-wal`];
      const wal = tree.read(walComps, max);
      const db = new SqliteFile(data, Buffer.isBuffer(wal) ? wal : undefined);
      const root = db.tableRoot('Packages');
      if (root === undefined) {
        warn('no Packages table: not an rpm database');
        return [];
      }
      for (const row of db.rows(root)) {
        const blob = row.find((v): v is Buffer => Buffer.isBuffer(v));
        if (blob) add(blob);
      }
    } else {
      for (const v of bdbHashValues(data)) if (v.length > 8) add(v);
    }
  } catch (e) {
    if (!(e instanceof CorruptSqlite || e instanceof CorruptBdb || e instanceof RangeError)) throw e;
    warn(`corrupt rpm database (${e.message}); its packages are not listed`);
    return [];
  }
  if (bad > 0) warn(`${bad} rpm header(s) could not be parsed and are not listed`);
  return out;
}
