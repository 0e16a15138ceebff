// Encodes one tar entry header: a POSIX ustar header (POSIX.1-2001 "pax" interchange format), preceded by a
// pax extended header ('x') only when a value does not fit ustar (long names/links, big ids/sizes, xattrs).
// Pure and deterministic: the same entry always encodes to the same bytes (no uname/gname, no atime/ctime,
// whole-second mtimes, a fixed pax header name).

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** Path inside the layer, posix, no leading `/` or `./`; directories end with `/`. Raw bytes. */
  name: Buffer;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size; only `file` entries carry content. */
  size: number;
  /** Seconds since the epoch (integer). */
  mtime: number;
  /** Target of a symlink, or the earlier path of a hardlink. */
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, already sorted by name. */
  xattrs?: ReadonlyArray<readonly [string, Buffer]>;
}

export const BLOCK = 512;

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

// Fixed so that output never depends on a pid or a path (GNU tar's default name embeds the pid).
const PAX_HEADER_NAME = Buffer.from('././@PaxHeader');

/** Header bytes (pax header + ustar header) for `e`; the caller writes `e.size` content bytes and the padding. */
export function encodeHeader(e: TarEntry): Buffer {
  const pax: Array<[string, Buffer]> = [];
  const h = Buffer.alloc(BLOCK);

  const split = splitUstarName(e.name);
  if (split) {
    split.name.copy(h, 0);
    split.prefix.copy(h, 345);
  } else {
    pax.push(['path', e.name]);
    e.name.subarray(0, 100).copy(h, 0);
  }
  octal(h, 100, 8, e.mode & 0o7777);
  numeric(h, 108, 8, e.uid, 'uid', pax);
  numeric(h, 116, 8, e.gid, 'gid', pax);
  numeric(h, 124, 12, e.type === 'file' ? e.size : 0, 'size', pax);
  numeric(h, 136, 12, e.mtime, 'mtime', pax);
  h.write(TYPEFLAG[e.type], 156, 'latin1');
  if (e.linkname) {
    if (e.linkname.length <= 100) e.linkname.copy(h, 157);
    else {
      pax.push(['linkpath', e.linkname]);
      e.linkname.subarray(0, 100).copy(h, 157);
    }
  }
  h.write('ustar\u000000', 257, 'latin1');
  if (e.type === 'char' || e.type === 'block') {
    // POSIX has no pax keyword for device numbers; 7 octal digits cover Linux's 12-bit major / 20-bit minor.
    octal(h, 329, 8, e.devmajor ?? 0);
    octal(h, 337, 8, e.devminor ?? 0);
  }
  for (const [k, v] of e.xattrs ?? []) pax.push([`SCHILY.xattr.${k}`, v]);
  checksum(h);

  if (pax.length === 0) return h;
  // POSIX wants UTF-8 path/linkpath values; non-UTF-8 names go as raw bytes, as Go's archive/tar writes them
  // (GNU tar 1.34 warns on `hdrcharset`, so it is not written).
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const ph = Buffer.alloc(BLOCK);
  PAX_HEADER_NAME.copy(ph, 0);
  octal(ph, 100, 8, 0o644);
  octal(ph, 108, 8, 0);
  octal(ph, 116, 8, 0);
  octal(ph, 124, 12, body.length);
  octal(ph, 136, 12, 0);
  ph.write('x', 156, 'latin1');
  ph.write('ustar\u000000', 257, 'latin1');
  checksum(ph);
  return Buffer.concat([ph, body, Buffer.alloc(padding(body.length)), h]);
}

/** Zero bytes needed after `size` content bytes to reach the next 512-byte boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** ustar name/prefix split (name ≤ 100 bytes, prefix ≤ 155, joined by `/`), or null when pax `path` is needed. */
function splitUstarName(name: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (name.length <= 100) return { name, prefix: Buffer.alloc(0) };
  if (name.length > 256) return null;
  // The last `/` that leaves a prefix ≤ 155 bytes; a directory's trailing `/` cannot be the split point.
  for (let i = Math.min(155, name.length - 2); i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    const rest = name.subarray(i + 1);
    if (rest.length > 100 || rest.length === 0) return null;
    return { name: rest, prefix: name.subarray(0, i) };
  }
  return null;
}

// "%d %s=%s\n" where %d counts the whole record, itself included (POSIX pax, "extended header").
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // space, '=', '\n'
  let len = rest + String(rest).length;
  if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function octal(h: Buffer, off: number, width: number, value: number): void {
  h.write(value.toString(8).padStart(width - 1, '0'), off, width - 1, 'latin1');
  h[off + width - 1] = 0;
}

/** Writes `value` in octal, or 0 plus a pax record when it does not fit (or is negative/fractional). */
function numeric(h: Buffer, off: number, width: number, value: number, key: string, pax: Array<[string, Buffer]>): void {
  const max = 8 ** (width - 1) - 1;
  if (Number.isInteger(value) && value >= 0 && value <= max) octal(h, off, width, value);
  else {
    octal(h, off, width, 0);
    pax.push([key, Buffer.from(String(value))]);
  }
}

function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  h[154] = 0;
  h[155] = 0x20;
}
