// Go's build information in an ELF binary (what `go version -m` prints; Go's debug/buildinfo is the reference):
// the `.go.buildinfo` section (or, when section headers are gone, the first writable PT_LOAD segment) starts with
// the 14-byte magic "\xff Go buildinf:", a pointer size and a flags byte. Go 1.18+ (flags bit 1) stores the Go
// version and the module info inline as two uvarint-prefixed strings after the 32-byte header; before that the
// header holds two pointers to Go string headers (data pointer, length) in the binary's address space, mapped to
// file offsets through the program headers. The module info is framed by 16 sentinel bytes at each end; its lines
// are `path`, `mod`, `dep`, `=>` (the previous module's replacement) and `build`, tab-separated.
// Every offset and length comes from the file and is checked against the file's size and a bound before it is read.
import { readAt } from './tree.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const MAX_STRING = 1 << 20;
/** How far into the data the magic is looked for: Go's debug/buildinfo reads this much (its `searchSize`), so a
 *  C binary's large writable segment costs one 32 KiB read, not a scan of megabytes. */
const SEARCH_SIZE = 32 << 10;
/** The magic is at an offset of this alignment. */
const ALIGN = 16;

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
}

export interface GoBuildInfo {
  goVersion: string;
  path: string;
  main?: GoModule;
  deps: GoModule[];
}

export class CorruptBuildInfo extends Error {}

interface Elf {
  is64: boolean;
  le: boolean;
  /** The `.go.buildinfo` section, when the section headers are there and name it. */
  buildinfo?: { offset: number; size: number; addr: number };
  loads: Array<{ offset: number; vaddr: number; filesz: number; writable: boolean }>;
}

/** Whether the first bytes of a file are an ELF header. */
export function isElf(head: Buffer): boolean {
  return head.length >= 52 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/**
 * The build info of the ELF file open at `fd`, undefined when it is not a Go binary; throws CorruptBuildInfo when
 * it claims to be one but its build info cannot be read.
 */
export function readGoBuildInfo(fd: number, size: number): GoBuildInfo | undefined {
  const elf = parseElf(fd, size);
  if (!elf) return undefined;
  let region: { offset: number; size: number; addr: number } | undefined = elf.buildinfo;
  if (!region) {
    const w = elf.loads.find((l) => l.writable);
    if (!w) return undefined;
    region = { offset: w.offset, size: w.filesz, addr: w.vaddr };
  }
  const scan = readAt(fd, region.offset, Math.min(region.size, SEARCH_SIZE));
  let at = -1;
  for (let i = scan.indexOf(MAGIC); i >= 0 && i + 32 <= scan.length; i = scan.indexOf(MAGIC, i + 1)) {
    if (i % ALIGN === 0) {
      at = i;
      break;
    }
  }
  if (at < 0) return undefined;
  const hdr = scan.subarray(at, at + 32);
  const ptrSize = hdr[14]!;
  const flags = hdr[15]!;
  let version: Buffer;
  let mod: Buffer;
  if (flags & 2) {
    let p = at + 32;
    [version, p] = uvarintString(scan, p, region.offset, fd, size);
    [mod] = uvarintString(scan, p, region.offset, fd, size);
  } else {
    if (ptrSize !== 4 && ptrSize !== 8) throw new CorruptBuildInfo(`pointer size ${ptrSize}`);
    const big = (flags & 1) !== 0;
    const ptr = (b: Buffer, o: number): number => readPtr(b, o, ptrSize, big);
    const str = (vaddr: number): Buffer => {
      const off = fileOffset(elf, vaddr);
      const h = readAt(fd, off, ptrSize * 2);
      if (h.length < ptrSize * 2) throw new CorruptBuildInfo('string header past the end of the file');
      const dataOff = fileOffset(elf, ptr(h, 0));
      const len = ptr(h, ptrSize);
      if (len > MAX_STRING || dataOff + len > size) throw new CorruptBuildInfo(`string of ${len} bytes out of bounds`);
      return readAt(fd, dataOff, len);
    };
    version = str(ptr(hdr, 16));
    mod = str(ptr(hdr, 16 + ptrSize));
  }
  if (mod.length >= 33 && mod[mod.length - 17] === 0x0a) mod = mod.subarray(16, mod.length - 16);
  const goVersion = version.toString('utf8');
  if (!/^go[0-9][0-9A-Za-z.+-]*$/.test(goVersion) && !goVersion.startsWith('devel')) throw new CorruptBuildInfo(`Go version ${JSON.stringify(goVersion.slice(0, 40))}`);
  return parseModInfo(goVersion, mod.toString('utf8'));
}

/** A uvarint-prefixed string at `p` of `scan` (the bytes of the file from `base`), read on from the file if it runs past. */
function uvarintString(scan: Buffer, p: number, base: number, fd: number, size: number): [Buffer, number] {
  let len = 0;
  let shift = 0;
  for (;;) {
    if (p >= scan.length) throw new CorruptBuildInfo('truncated length');
    const b = scan[p++]!;
    len += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new CorruptBuildInfo('length varint too long');
  }
  if (len > MAX_STRING) throw new CorruptBuildInfo(`string of ${len} bytes`);
  if (p + len <= scan.length) return [scan.subarray(p, p + len), p + len];
  if (base + p + len > size) throw new CorruptBuildInfo(`string of ${len} bytes past the end of the file`);
  return [readAt(fd, base + p, len), p + len];
}

function readPtr(b: Buffer, o: number, ptrSize: number, big: boolean): number {
  if (ptrSize === 4) return big ? b.readUInt32BE(o) : b.readUInt32LE(o);
  // Two 32-bit halves rather than a BigInt (this runs for every program and section header of every ELF file).
  const hi = big ? b.readUInt32BE(o) : b.readUInt32LE(o + 4);
  const lo = big ? b.readUInt32BE(o + 4) : b.readUInt32LE(o);
  if (hi >= 2 ** 21) throw new CorruptBuildInfo('pointer out of range');
  return hi * 2 ** 32 + lo;
}

function fileOffset(elf: Elf, vaddr: number): number {
  for (const l of elf.loads) if (vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz) return l.offset + (vaddr - l.vaddr);
  throw new CorruptBuildInfo(`address 0x${vaddr.toString(16)} outside the file's segments`);
}

function parseElf(fd: number, size: number): Elf | undefined {
  const h = readAt(fd, 0, 64);
  if (!isElf(h)) return undefined;
  const is64 = h[4] === 2;
  const le = h[5] === 1;
  if ((h[4] !== 1 && !is64) || (h[5] !== 1 && h[5] !== 2) || (is64 && h.length < 64)) return undefined;
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const uw = (b: Buffer, o: number): number => (is64 ? readPtr(b, o, 8, !le) : u32(b, o));
  const phoff = uw(h, is64 ? 0x20 : 0x1c);
  const shoff = uw(h, is64 ? 0x28 : 0x20);
  const phentsize = u16(h, is64 ? 0x36 : 0x2a);
  const phnum = u16(h, is64 ? 0x38 : 0x2c);
  const shentsize = u16(h, is64 ? 0x3a : 0x2e);
  const shnum = u16(h, is64 ? 0x3c : 0x30);
  const shstrndx = u16(h, is64 ? 0x3e : 0x32);
  const elf: Elf = { is64, le, loads: [] };
  if (phnum > 0 && phentsize >= (is64 ? 56 : 32) && phoff + phnum * phentsize <= size) {
    const ph = readAt(fd, phoff, phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (u32(ph, o) !== 1) continue; // PT_LOAD
      const seg = is64
        ? { offset: uw(ph, o + 8), vaddr: uw(ph, o + 16), filesz: uw(ph, o + 32), flags: u32(ph, o + 4) }
        : { offset: u32(ph, o + 4), vaddr: u32(ph, o + 8), filesz: u32(ph, o + 16), flags: u32(ph, o + 24) };
      if (seg.offset + seg.filesz > size) continue;
      elf.loads.push({ offset: seg.offset, vaddr: seg.vaddr, filesz: seg.filesz, writable: (seg.flags & 2) !== 0 });
    }
  }
  if (shnum > 0 && shnum < 0x10000 && shentsize >= (is64 ? 64 : 40) && shoff + shnum * shentsize <= size && shstrndx < shnum) {
    const sh = readAt(fd, shoff, shnum * shentsize);
    const header = (i: number) => {
      const o = i * shentsize;
      return is64
        ? { nameOff: u32(sh, o), addr: uw(sh, o + 16), offset: uw(sh, o + 24), size: uw(sh, o + 32) }
        : { nameOff: u32(sh, o), addr: u32(sh, o + 12), offset: u32(sh, o + 16), size: u32(sh, o + 20) };
    };
    const strtab = header(shstrndx);
    if (strtab.offset + strtab.size <= size && strtab.size <= MAX_STRING) {
      // Only the one section's name is compared (NUL-terminated), byte for byte: no string per section.
      const names = readAt(fd, strtab.offset, strtab.size);
      for (let i = 0; i < shnum; i++) {
        const nameOff = u32(sh, i * shentsize);
        if (nameOff + BUILDINFO_SECTION.length > names.length || names[nameOff] !== 0x2e) continue;
        if (names.compare(BUILDINFO_SECTION, 0, BUILDINFO_SECTION.length, nameOff, nameOff + BUILDINFO_SECTION.length) !== 0) continue;
        const s = header(i);
        if (s.offset + s.size <= size) elf.buildinfo = { offset: s.offset, size: s.size, addr: s.addr };
        break;
      }
    }
  }
  return elf;
}

/** The section's name with the NUL that ends it in the string table. */
const BUILDINFO_SECTION = Buffer.from('.go.buildinfo\0', 'latin1');

/** The module lines of `go version -m` (runtime/debug.BuildInfo's text form). */
export function parseModInfo(goVersion: string, text: string): GoBuildInfo {
  const info: GoBuildInfo = { goVersion, path: '', deps: [] };
  let last: GoModule | undefined;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    switch (f[0]) {
      case 'path':
        info.path = f[1] ?? '';
        break;
      case 'mod':
      case 'dep': {
        const m = mod(f);
        if (!m) break;
        if (f[0] === 'mod') info.main = m;
        else info.deps.push(m);
        last = m;
        break;
      }
      case '=>': {
        const m = mod(f);
        if (m && last) {
          last.path = m.path;
          last.version = m.version;
          if (m.sum) last.sum = m.sum;
          else delete last.sum;
        }
        break;
      }
      default:
        break;
    }
  }
  return info;
}

function mod(f: string[]): GoModule | undefined {
  const path = f[1];
  if (!path) return undefined;
  const m: GoModule = { path, version: f[2] ?? '' };
  if (f[3]) m.sum = f[3];
  return m;
}
