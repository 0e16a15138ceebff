// Identifiers derived from content, so the same image gives the same document bytes: a name-based UUID (the
// RFC 9562 version-8 layout over SHA-256, the bits a UUID needs set) and short stable ids for packages.
import { createHash } from 'node:crypto';
import type { Package } from './model.js';

export function contentUuid(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  const b = h.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** A stable id of a package within a document (type, name, version, where, which layer). */
export function packageId(p: Package): string {
  return createHash('sha256').update([p.type, p.name, p.version, p.location, p.layer, p.purl].join('\0')).digest('hex').slice(0, 16);
}
