// Strict checks of tar headers, run on the bytes before tar-stream parses them. tar-stream trusts its numeric
// fields: a negative size (base-256 0xFF…, or PAX `size=-1`), a size that is not octal (`parseInt` reads the
// octal prefix, or gives NaN) and a size past 2^53 all reach it unchecked, and an entry whose size is negative or
// NaN never ends — its data stream waits forever, the event loop empties and the process exits 0 having done
// nothing (issue 16, finding 4). This stream walks the same structure tar-stream walks (header, data rounded up
// to 512 bytes, PAX `x`/`g` and GNU `L`/`K` headers whose data is buffered) and fails before passing on a block
// whose fields do not parse the way Go's archive/tar (the reader of containerd and Docker) requires:
// - octal fields: spaces, then NULs, then octal digits, then spaces/NULs (the forms GNU tar, Go, BSD tar and
//   tar-stream write, and on which tar-stream and Go agree); base-256 (first byte 0x80) for large values, 0xFF
//   (negative) only for mtime; every value a safe integer;
// - the checksum must match (unsigned sum, as tar-stream computes it);
// - PAX records well formed (`LEN key=value\n`, LEN counting the whole record); `size`, `uid`, `gid` and the
//   GNU sparse sizes and offsets decimal non-negative safe integers, times decimal; `size` in a global header
//   refused (tar-stream and Go would apply it differently);
// - entries that carry no data (hard and symbolic links, devices, FIFOs) with a size of zero: Go skips no data
//   for them, tar-stream skips `size` bytes, so a non-zero size would make the two see different files;
// - PAX/long-name headers at most 1 MiB (Go's limit; tar-stream holds them whole in memory).
// Only sizes decide where the next header is, so once they are checked this stream and tar-stream agree on every
// block. Chunks are passed on unchanged (no copy) after every header in them was checked.
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
/** Largest PAX / GNU long-name header accepted (Go's archive/tar maxSpecialFileSize). */
export const MAX_SPECIAL_HEADER = 1 << 20;

/** A header that breaks the rules above; `entry` names it when the name is known. */
export class TarHeaderError extends Error {
  constructor(
    readonly entry: string | undefined,
    readonly reason: string,
  ) {
    super(entry === undefined ? reason : `entry ${JSON.stringify(entry.slice(0, 200))}: ${reason}`);
    this.name = 'TarHeaderError';
  }
}

// Typeflags (POSIX ustar, GNU): which carry data, which are metadata for the next entry.
const PAX = 0x78; // 'x'
const PAX_GLOBAL = 0x67; // 'g'
const GNU_LONG_NAME = 0x4c; // 'L'
const GNU_LONG_LINK = 0x4b; // 'K'
const DIRECTORY = 0x35; // '5'
const GNU_SPARSE = 0x53; // 'S'
const GNU_MULTIVOLUME = 0x4d; // 'M'
/** Link, symlink, char, block, FIFO: no data, whatever the size says (Go's isHeaderOnlyType, minus directories). */
const NO_DATA = new Set([0x31, 0x32, 0x33, 0x34, 0x36]);

/** The numeric fields of a ustar/GNU header: [name, offset, length, may be negative]. */
const NUMERIC_FIELDS: ReadonlyArray<readonly [string, number, number, boolean]> = [
  ['mode', 100, 8, false],
  ['uid', 108, 8, false],
  ['gid', 116, 8, false],
  ['size', 124, 12, false],
  ['mtime', 136, 12, true],
  ['devmajor', 329, 8, false],
  ['devminor', 337, 8, false],
];

/**
 * A numeric header field as a number, or a TarHeaderError's reason. Base-256 (first byte ≥ 0x80) as GNU tar and
 * Go write it; octal as described at the top. Values past Number.MAX_SAFE_INTEGER are refused.
 */
export function parseNumericField(b: Buffer, signed: boolean): number | string {
  if (b.length === 0) return 0;
  const first = b[0]!;
  if (first & 0x80) {
    // tar-stream reads only 0x80 (positive) and 0xFF (negative, two's complement): other leading bytes are null.
    if (first !== 0x80 && first !== 0xff) return 'is base-256 with an unknown sign byte';
    if (first === 0xff && !signed) return 'is negative';
    let v = 0n;
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(first === 0xff ? 0xff - b[i]! : b[i]!);
    if (first === 0xff) v = -v - 1n;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return 'is larger than 2^53';
    return Number(v);
  }
  let i = 0;
  while (i < b.length && b[i] === 0x20) i++;
  while (i < b.length && b[i] === 0) i++;
  const start = i;
  while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x37) i++;
  const end = i;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0)) i++;
  if (i !== b.length) return `is not octal (${JSON.stringify(b.toString('latin1'))})`;
  if (start === end) return 0;
  const v = Number.parseInt(b.toString('latin1', start, end), 8);
  return Number.isSafeInteger(v) ? v : 'is larger than 2^53';
}

/** Sum of the header bytes with the checksum field as spaces (POSIX ustar "chksum"). */
function checksum(h: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += h[i]!;
  for (let i = 156; i < BLOCK; i++) sum += h[i]!;
  return sum;
}

function cString(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** The name as the header alone gives it (ustar prefix + name). */
function headerName(h: Buffer): string {
  const name = cString(h, 0, 100);
  const ustar = h.toString('latin1', 257, 263) === 'ustar\u0000';
  return ustar && h[345] ? `${cString(h, 345, 155)}/${name}` : name;
}

/**
 * Parses PAX records strictly (POSIX pax "extended header": `"%d %s=%s\n"`, the length counting the whole
 * record); returns key → value as UTF-8 strings (tar-stream's reading of them), or a reason.
 */
export function parsePaxRecords(buf: Buffer): Map<string, string> | string {
  const out = new Map<string, string>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0 || sp === off || sp - off > 20) return 'has a PAX record without a length';
    const digits = buf.toString('latin1', off, sp);
    if (!/^[1-9]\d*$/.test(digits)) return `has a PAX record length that is not decimal (${JSON.stringify(digits)})`;
    const len = Number(digits);
    if (!Number.isSafeInteger(len) || off + len > buf.length || len < sp - off + 3) return `has a PAX record whose length ${digits} does not fit`;
    const end = off + len - 1;
    if (buf[end] !== 0x0a) return 'has a PAX record that does not end in a newline';
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end || eq === sp + 1) return 'has a PAX record without "key="';
    out.set(buf.toString('utf8', sp + 1, eq), buf.toString('utf8', eq + 1, end));
    off += len;
  }
  return out;
}

const decimal = /^\d+$/;
const time = /^-?\d+(\.\d+)?$/;
/** PAX keys that are sizes, offsets or ids: decimal, non-negative, safe integers. */
const PAX_UNSIGNED = new Set(['size', 'uid', 'gid', 'GNU.sparse.size', 'GNU.sparse.realsize', 'GNU.sparse.offset', 'GNU.sparse.numbytes', 'GNU.sparse.numblocks', 'GNU.sparse.major', 'GNU.sparse.minor']);
const PAX_TIME = new Set(['mtime', 'atime', 'ctime']);

/** Checks the numeric PAX values; returns a reason or undefined. */
export function checkPaxValues(pax: ReadonlyMap<string, string>, global: boolean): string | undefined {
  for (const [k, v] of pax) {
    if (PAX_UNSIGNED.has(k)) {
      if (!decimal.test(v)) return `has PAX ${k}=${JSON.stringify(v.slice(0, 40))}, not a non-negative decimal number`;
      if (!Number.isSafeInteger(Number(v))) return `has PAX ${k}=${v.slice(0, 40)}, larger than 2^53`;
    } else if (PAX_TIME.has(k)) {
      if (!time.test(v) || !Number.isFinite(Number(v))) return `has PAX ${k}=${JSON.stringify(v.slice(0, 40))}, not a decimal time`;
    } else if (k === 'GNU.sparse.map') {
      if (v !== '' && !v.split(',').every((n) => decimal.test(n) && Number.isSafeInteger(Number(n)))) {
        return `has PAX GNU.sparse.map with an offset or size that is not a non-negative decimal number`;
      }
    }
  }
  if (global && pax.has('size')) return 'has a size (readers disagree on what it applies to)';
  return undefined;
}

/**
 * Pass-through stream that fails with a TarHeaderError before it passes on a header that breaks the rules at the
 * top of this file. Put it between the (decompressed) tar bytes and tar-stream's extractor.
 */
export class TarHeaderCheck extends Transform {
  /** Bytes of the current header block gathered so far (a header may straddle chunks). */
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Data (plus padding) of the current entry still to pass. */
  private skip = 0;
  /** A PAX / GNU long header's data being gathered: its typeflag, the bytes, how many are still missing. */
  private special: { type: number; parts: Buffer[]; missing: number; padding: number } | undefined;
  /** The PAX records and GNU long name that apply to the next entry (as tar-stream keeps them). */
  private pax: Map<string, string> | undefined;
  private longName: string | undefined;
  /** What was wrong with the PAX headers before the next entry (reported with that entry's name). */
  private paxProblem: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.scan(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      if (this.special) {
        const s = this.special;
        const n = Math.min(s.missing, chunk.length - off);
        s.parts.push(Buffer.from(chunk.subarray(off, off + n))); // a copy: upstream may reuse its buffers
        s.missing -= n;
        off += n;
        if (s.missing === 0) {
          this.special = undefined;
          this.endSpecial(s.type, Buffer.concat(s.parts));
          this.skip = s.padding;
        }
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.checkHeader(this.header);
      }
    }
  }

  private checkHeader(h: Buffer): void {
    const sum = checksum(h);
    if (sum === 8 * 0x20) return; // a zero block (end of archive, or padding): tar-stream skips it too
    const name = this.pax?.get('path') ?? this.longName ?? headerName(h);
    const fail = (reason: string): never => {
      throw new TarHeaderError(name, reason);
    };
    const stored = parseNumericField(h.subarray(148, 156), false);
    if (typeof stored === 'string') fail(`has a checksum field that ${stored}`);
    if (stored !== sum) fail('has a bad header checksum (the tar is corrupt or not a tar)');
    const values: Record<string, number> = {};
    for (const [field, at, len, signed] of NUMERIC_FIELDS) {
      const v = parseNumericField(h.subarray(at, at + len), signed);
      if (typeof v === 'string') fail(`has a ${field} field that ${v}`);
      values[field] = v as number;
    }
    const type = h[156]!;
    if (type === GNU_SPARSE) {
      // Old GNU sparse header: four (offset, numbytes) pairs at 386, realsize at 483.
      for (let at = 386; at < 482; at += 12) {
        const v = parseNumericField(h.subarray(at, at + 12), false);
        if (typeof v === 'string') fail(`has a sparse offset or size that ${v}`);
      }
      const real = parseNumericField(h.subarray(483, 495), false);
      if (typeof real === 'string') fail(`has a sparse real size that ${real}`);
    } else if (type === GNU_MULTIVOLUME) {
      const v = parseNumericField(h.subarray(369, 381), false);
      if (typeof v === 'string') fail(`has a volume offset that ${v}`);
    }
    let size = values.size!;
    if (type === PAX || type === PAX_GLOBAL || type === GNU_LONG_NAME || type === GNU_LONG_LINK) {
      if (size > MAX_SPECIAL_HEADER) fail(`is a ${String.fromCharCode(type)} header of ${size} bytes, over the ${MAX_SPECIAL_HEADER}-byte limit`);
      this.special = { type, parts: [], missing: size, padding: pad(size) };
      if (size === 0) {
        this.special = undefined;
        this.endSpecial(type, Buffer.alloc(0));
      }
      return;
    }
    // An entry: the PAX records and long name gathered so far apply to it, then are dropped (as tar-stream does).
    if (this.paxProblem !== undefined) fail(this.paxProblem);
    const pax = this.pax;
    this.pax = undefined;
    this.longName = undefined;
    const paxSize = pax?.get('size');
    if (paxSize) size = Number(paxSize); // tar-stream overrides only with a non-empty value; checked decimal
    if (NO_DATA.has(type) && size !== 0) fail(`is a ${typeName(type)} with a size of ${size} (it carries no data)`);
    // tar-stream gives a directory no data whatever its size (so does Go).
    this.skip = type === DIRECTORY ? 0 : size + pad(size);
  }

  private endSpecial(type: number, data: Buffer): void {
    if (type === GNU_LONG_NAME) {
      this.longName = cString(data, 0, data.length);
      return;
    }
    if (type === GNU_LONG_LINK) return;
    // A bad PAX header is reported with the entry it belongs to: the next header, checked before it is passed on.
    const records = parsePaxRecords(data);
    const bad = typeof records === 'string' ? records : checkPaxValues(records, type === PAX_GLOBAL);
    if (bad !== undefined) this.paxProblem ??= type === PAX ? bad : `follows a global PAX header that ${bad}`;
    if (typeof records === 'string') return;
    // A later `x` replaces an earlier one (tar-stream keeps the last); a global header's size was refused above.
    if (type === PAX) this.pax = records;
  }
}

function pad(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

function typeName(type: number): string {
  return { 0x31: 'hard link', 0x32: 'symbolic link', 0x33: 'character device', 0x34: 'block device', 0x36: 'FIFO' }[type] ?? 'special entry';
}
