// The values of a Berkeley DB hash database, the format of RHEL 8's /var/lib/rpm/Packages (libdb 5.3; the page
// layouts are in libdb's dbinc/db_page.h). Page 0 is the hash metadata page (magic 0x061561, page size, last page
// number); hash pages (P_HASH 13, P_HASH_UNSORTED 2) hold an index of item offsets, keys and values alternating;
// rpm headers are larger than a page, so their values are H_OFFPAGE items (type 3) naming the first page of an
// overflow chain (P_OVERFLOW 7: the next page number at byte 16, the bytes used on the last page at byte 22, data
// from byte 26). Every page number is checked against the file and no page of a chain is read twice.

export class CorruptBdb extends Error {}

const HASH_MAGIC = 0x061561;
const P_HASH_UNSORTED = 2;
const P_HASH = 13;
const P_OVERFLOW = 7;
const P_HASHMETA = 8;
const H_OFFPAGE = 3;
const H_KEYDATA = 1;
const HEADER = 26;

export function* bdbHashValues(data: Buffer): Generator<Buffer> {
  if (data.length < 512) throw new CorruptBdb('shorter than a metadata page');
  let le: boolean;
  if (data.readUInt32LE(12) === HASH_MAGIC) le = true;
  else if (data.readUInt32BE(12) === HASH_MAGIC) le = false;
  else throw new CorruptBdb('not a Berkeley DB hash database');
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (data[25] !== P_HASHMETA) throw new CorruptBdb('page 0 is not a hash metadata page');
  const pageSize = u32(data, 20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new CorruptBdb(`page size ${pageSize}`);
  const pages = Math.floor(data.length / pageSize);
  const last = Math.min(u32(data, 32), pages - 1);
  const page = (n: number): Buffer => {
    if (n < 1 || n >= pages) throw new CorruptBdb(`page ${n} out of range`);
    return data.subarray(n * pageSize, (n + 1) * pageSize);
  };
  for (let n = 1; n <= last; n++) {
    const p = page(n);
    if (p[25] !== P_HASH && p[25] !== P_HASH_UNSORTED) continue;
    const entries = u16(p, 20);
    if (HEADER + entries * 2 > pageSize) throw new CorruptBdb(`page ${n}: ${entries} entries do not fit`);
    for (let i = 1; i < entries; i += 2) {
      const off = u16(p, HEADER + i * 2);
      if (off >= pageSize) throw new CorruptBdb(`page ${n}: item offset past the page`);
      const type = p[off];
      if (type === H_KEYDATA) {
        // A value small enough to sit on the page: it ends where the previous item begins.
        const end = i === 0 ? pageSize : u16(p, HEADER + (i - 1) * 2);
        if (end > off + 1 && end <= pageSize) yield p.subarray(off + 1, end);
        continue;
      }
      if (type !== H_OFFPAGE) continue;
      if (off + 12 > pageSize) throw new CorruptBdb(`page ${n}: off-page item past the page`);
      const total = u32(p, off + 8);
      if (total > data.length) throw new CorruptBdb(`page ${n}: value of ${total} bytes`);
      const parts: Buffer[] = [];
      let have = 0;
      const seen = new Set<number>();
      for (let o = u32(p, off + 4); o !== 0; ) {
        if (seen.has(o)) throw new CorruptBdb('overflow chain loops');
        seen.add(o);
        const op = page(o);
        if (op[25] !== P_OVERFLOW) throw new CorruptBdb(`page ${o} is not an overflow page`);
        const next = u32(op, 16);
        const used = next === 0 ? u16(op, 22) : pageSize - HEADER;
        if (HEADER + used > pageSize) throw new CorruptBdb(`page ${o}: ${used} bytes do not fit`);
        parts.push(op.subarray(HEADER, HEADER + used));
        have += used;
        o = next;
      }
      if (have < total) throw new CorruptBdb(`value of ${total} bytes has only ${have}`);
      yield Buffer.concat(parts).subarray(0, total);
    }
  }
}
