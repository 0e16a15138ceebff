// Raw tar headers written byte by byte, for tests that need fields no tar writer would produce (negative
// base-256 sizes, PAX size=-1, sizes that are not octal, sizes past 2^53). Only what the tests need.

export const BLOCK = 512;

export interface RawEntry {
  name: string;
  /** Typeflag character; default '0' (regular file). */
  type?: string;
  /** The 12 raw bytes of the size field; default the octal of `data.length`. */
  sizeField?: Buffer;
  /** Raw bytes of other numeric fields, by name (mode, uid, gid, mtime, devmajor, devminor). */
  fields?: Partial<Record<'mode' | 'uid' | 'gid' | 'mtime' | 'devmajor' | 'devminor', Buffer>>;
  data?: Buffer | string;
  linkname?: string;
  /** Write this many data bytes (default: all of `data`, padded to a block). */
  dataBytes?: number;
}

const OFFSETS = { mode: [100, 8], uid: [108, 8], gid: [116, 8], mtime: [136, 12], devmajor: [329, 8], devminor: [337, 8] } as const;

export function octalField(value: number, width: number): Buffer {
  const b = Buffer.alloc(width);
  b.write(value.toString(8).padStart(width - 1, '0'), 0, width - 1, 'latin1');
  return b;
}

/** A base-256 field (GNU): 0x80 then the big-endian value, or 0xFF and two's complement for a negative one. */
export function base256Field(value: bigint, width: number): Buffer {
  const b = Buffer.alloc(width);
  let v = value < 0n ? (1n << BigInt(8 * width)) + value : value;
  for (let i = width - 1; i > 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[0] = value < 0n ? 0xff : 0x80;
  return b;
}

/** One 512-byte ustar header with a correct checksum. */
export function rawHeader(e: RawEntry): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, 100, 'utf8');
  octalField(0o644, 8).copy(h, 100);
  octalField(0, 8).copy(h, 108);
  octalField(0, 8).copy(h, 116);
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  (e.sizeField ?? octalField(data.length, 12)).copy(h, 124);
  octalField(1_600_000_000, 12).copy(h, 136);
  for (const [k, v] of Object.entries(e.fields ?? {})) {
    const [at, width] = OFFSETS[k as keyof typeof OFFSETS];
    Buffer.concat([v, Buffer.alloc(width)]).copy(h, at, 0, width);
  }
  h.write(e.type ?? '0', 156, 1, 'latin1');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1');
  return h;
}

function padded(data: Buffer): Buffer {
  const r = data.length % BLOCK;
  return r === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - r)]);
}

/** Header + data (padded) for one entry. */
export function rawEntry(e: RawEntry): Buffer {
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  return Buffer.concat([rawHeader(e), padded(data.subarray(0, e.dataBytes ?? data.length))]);
}

/** A PAX `x` (or global `g`) header carrying `records` (key → raw value), for the entry that follows. */
export function paxEntry(records: Array<[string, string]>, type: 'x' | 'g' = 'x'): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return rawEntry({ name: 'PaxHeader', type, data: body });
}

export function paxRecord(k: string, v: string): Buffer {
  const rest = Buffer.byteLength(k) + Buffer.byteLength(v) + 3;
  let len = rest + String(rest).length;
  if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
  return Buffer.from(`${len} ${k}=${v}\n`);
}

/** Entries followed by the end-of-archive marker. */
export function rawTar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(2 * BLOCK)]);
}

/** The hostile tars of issue 16 finding 4, each with the entry name its refusal must mention. */
export function hostileSizeTars(): Array<{ name: string; entry: string; tar: Buffer }> {
  const ok = rawEntry({ name: 'ok.txt', data: 'fine\n' });
  return [
    { name: 'negative base-256 size', entry: 'neg.bin', tar: rawTar(ok, rawEntry({ name: 'neg.bin', sizeField: base256Field(-5n, 12), data: 'hello', dataBytes: 0 }), rawEntry({ name: 'after', data: 'x' })) },
    { name: 'PAX size=-1', entry: 'paxneg.bin', tar: rawTar(ok, paxEntry([['size', '-1']]), rawEntry({ name: 'paxneg.bin', data: 'hello' })) },
    { name: 'non-octal size', entry: 'nonoctal.bin', tar: rawTar(ok, rawEntry({ name: 'nonoctal.bin', sizeField: Buffer.from('0000000012x\0', 'latin1'), data: 'x'.repeat(10) })) },
    { name: 'size that is not a number at all', entry: 'nan.bin', tar: rawTar(ok, rawEntry({ name: 'nan.bin', sizeField: Buffer.from('zzzzzzzzzzz\0', 'latin1'), data: 'x' })) },
    { name: 'size past 2^53 (base-256)', entry: 'huge.bin', tar: rawTar(ok, rawEntry({ name: 'huge.bin', sizeField: base256Field(1n << 80n, 12), data: 'x' })) },
    { name: 'PAX size past 2^53', entry: 'paxhuge.bin', tar: rawTar(ok, paxEntry([['size', '99999999999999999999']]), rawEntry({ name: 'paxhuge.bin', data: 'x' })) },
  ];
}
