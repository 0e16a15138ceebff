// A reader for one table of an SQLite 3 database file (https://www.sqlite.org/fileformat2.html), enough for
// rpm's rpmdb.sqlite (`Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`), so no SQLite engine is needed on Node 20:
// the 100-byte header, sqlite_schema on page 1, table b-trees (interior 0x05, leaf 0x0d), records and overflow
// chains. Committed frames of a write-ahead log (`-wal`, salts matching its header) replace the pages they hold.
// Everything is bounded by the file: page numbers are checked, each page is visited at most once (no cycles), and
// a payload is never larger than the file.

export class CorruptSqlite extends Error {}

type Value = null | number | bigint | string | Buffer;

export class SqliteFile {
  private readonly pageSize: number;
  private readonly usable: number;
  private readonly pages: number;
  private readonly wal = new Map<number, Buffer>();

  constructor(
    private readonly data: Buffer,
    walData?: Buffer,
  ) {
    if (data.length < 100 || data.toString('latin1', 0, 16) !== 'SQLite format 3\0') throw new CorruptSqlite('not an SQLite 3 database');
    const ps = data.readUInt16BE(16);
    this.pageSize = ps === 1 ? 65536 : ps;
    if (this.pageSize < 512 || (this.pageSize & (this.pageSize - 1)) !== 0) throw new CorruptSqlite(`page size ${ps}`);
    this.usable = this.pageSize - data[20]!;
    if (this.usable < 480) throw new CorruptSqlite('reserved space too large');
    this.pages = Math.floor(data.length / this.pageSize);
    if (walData) this.applyWal(walData);
  }

  private applyWal(w: Buffer): void {
    if (w.length < 32) return;
    const magic = w.readUInt32BE(0);
    if ((magic & 0xfffffffe) !== 0x377f0682 || w.readUInt32BE(8) !== this.pageSize) return;
    const salt1 = w.readUInt32BE(16);
    const salt2 = w.readUInt32BE(20);
    const pending = new Map<number, Buffer>();
    for (let off = 32; off + 24 + this.pageSize <= w.length; off += 24 + this.pageSize) {
      if (w.readUInt32BE(off + 8) !== salt1 || w.readUInt32BE(off + 12) !== salt2) break;
      pending.set(w.readUInt32BE(off), w.subarray(off + 24, off + 24 + this.pageSize));
      if (w.readUInt32BE(off + 4) !== 0) {
        for (const [k, v] of pending) this.wal.set(k, v);
        pending.clear();
      }
    }
  }

  private page(n: number): Buffer {
    const w = this.wal.get(n);
    if (w) return w;
    if (n < 1 || n > this.pages) throw new CorruptSqlite(`page ${n} out of range`);
    return this.data.subarray((n - 1) * this.pageSize, n * this.pageSize);
  }

  /** The root page of a table named in sqlite_schema, or undefined. */
  tableRoot(name: string): number | undefined {
    for (const row of this.rows(1)) {
      if (row[0] === 'table' && row[1] === name && typeof row[3] === 'number') return row[3];
    }
    return undefined;
  }

  /** Every row of the table b-tree rooted at `root`, as column values (the rowid is not among them). */
  *rows(root: number): Generator<Value[]> {
    const seen = new Set<number>();
    const stack = [root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) throw new CorruptSqlite(`page ${n} reached twice`);
      seen.add(n);
      const p = this.page(n);
      const h = n === 1 ? 100 : 0;
      const type = p[h];
      const cells = p.readUInt16BE(h + 3);
      if (type === 0x05) {
        const kids: number[] = [];
        for (let i = 0; i < cells; i++) kids.push(p.readUInt32BE(p.readUInt16BE(h + 12 + 2 * i)));
        kids.push(p.readUInt32BE(h + 8));
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
      } else if (type === 0x0d) {
        for (let i = 0; i < cells; i++) yield record(this.payload(p, p.readUInt16BE(h + 8 + 2 * i)));
      } else {
        throw new CorruptSqlite(`page ${n} is not a table b-tree page (type ${type})`);
      }
    }
  }

  /** The payload of a leaf table cell at `off`, overflow pages joined. */
  private payload(p: Buffer, off: number): Buffer {
    let [size, o] = varint(p, off);
    [, o] = varint(p, o);
    if (size > this.data.length + this.wal.size * this.pageSize) throw new CorruptSqlite('payload larger than the file');
    const total = Number(size);
    const u = this.usable;
    const x = u - 35;
    let local = total;
    if (total > x) {
      const m = Math.floor(((u - 12) * 32) / 255) - 23;
      const k = m + ((total - m) % (u - 4));
      local = k <= x ? k : m;
    }
    if (o + local > p.length) throw new CorruptSqlite('cell past the end of its page');
    if (local === total) return p.subarray(o, o + total);
    const parts = [p.subarray(o, o + local)];
    let have = local;
    let next = p.readUInt32BE(o + local);
    const seen = new Set<number>();
    while (have < total) {
      if (next === 0 || seen.has(next)) throw new CorruptSqlite('broken overflow chain');
      seen.add(next);
      const op = this.page(next);
      const take = Math.min(total - have, u - 4);
      parts.push(op.subarray(4, 4 + take));
      have += take;
      next = op.readUInt32BE(0);
    }
    return Buffer.concat(parts, total);
  }
}

function varint(b: Buffer, off: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (off + i >= b.length) throw new CorruptSqlite('truncated varint');
    const c = b[off + i]!;
    if (i === 8) return [v * 256 + c, off + 9];
    v = v * 128 + (c & 0x7f);
    if ((c & 0x80) === 0) return [v, off + i + 1];
  }
  return [v, off + 9];
}

/** A record's column values (https://www.sqlite.org/fileformat2.html#record_format). */
function record(b: Buffer): Value[] {
  const [hdrLen, start] = varint(b, 0);
  if (hdrLen > b.length) throw new CorruptSqlite('record header past its payload');
  const types: number[] = [];
  for (let o = start; o < hdrLen; ) {
    const [t, n] = varint(b, o);
    types.push(t);
    o = n;
  }
  const out: Value[] = [];
  let o = hdrLen;
  for (const t of types) {
    const len = t >= 12 ? Math.floor((t - 12) / 2) : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][t]!;
    if (o + len > b.length) throw new CorruptSqlite('record value past its payload');
    const v = b.subarray(o, o + len);
    o += len;
    if (t === 0) out.push(null);
    else if (t === 8) out.push(0);
    else if (t === 9) out.push(1);
    else if (t >= 1 && t <= 4) out.push(v.readIntBE(0, len));
    else if (t === 5) out.push(v.readIntBE(0, 6));
    else if (t === 6) out.push(v.readBigInt64BE(0));
    else if (t === 7) out.push(v.readDoubleBE(0));
    else if (t >= 12 && t % 2 === 0) out.push(v);
    else if (t >= 13) out.push(v.toString('utf8'));
    else throw new CorruptSqlite(`serial type ${t}`);
  }
  return out;
}
