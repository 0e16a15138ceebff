// An rpm header blob as rpmdb stores it (the header without its 8-byte magic; rpm's lib/header.c and the
// "Package header" of the RPM file format): two big-endian int32 counts (index entries, data bytes), the index
// entries (tag, type, offset, count: 16 bytes each), then the data store. Only the tags a package's identity needs
// are read; every offset is checked against the data store.
import type { Package } from './model.js';

export class CorruptHeader extends Error {}

const TAG = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, vendor: 1011, arch: 1022, sourcerpm: 1044 } as const;
const STRING = 6;
const INT32 = 4;
const I18NSTRING = 9;

export function parseRpmHeader(blob: Buffer, location: string): Package | undefined {
  if (blob.length < 8) throw new CorruptHeader('blob shorter than its counts');
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  const dataStart = 8 + il * 16;
  if (il > 100_000 || dataStart + dl > blob.length) throw new CorruptHeader(`counts ${il}/${dl} past the blob of ${blob.length} bytes`);
  const store = blob.subarray(dataStart, dataStart + dl);
  const strings = new Map<number, string>();
  let epoch: number | undefined;
  const wanted = new Set<number>(Object.values(TAG));
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = blob.readUInt32BE(e);
    if (!wanted.has(tag)) continue;
    const type = blob.readUInt32BE(e + 4);
    const off = blob.readUInt32BE(e + 8);
    if (off >= store.length) throw new CorruptHeader(`tag ${tag} offset past the data`);
    if ((type === STRING || type === I18NSTRING) && !strings.has(tag)) {
      const end = store.indexOf(0, off);
      if (end < 0) throw new CorruptHeader(`tag ${tag} string not terminated`);
      strings.set(tag, store.toString('utf8', off, end));
    } else if (type === INT32 && tag === TAG.epoch) {
      if (off + 4 > store.length) throw new CorruptHeader('epoch past the data');
      epoch = store.readUInt32BE(off);
    }
  }
  const name = strings.get(TAG.name);
  const version = strings.get(TAG.version);
  const release = strings.get(TAG.release);
  if (!name || !version || !release) return undefined;
  const facts: Record<string, string> = { release, rpmVersion: version };
  const arch = strings.get(TAG.arch);
  if (arch) facts.arch = arch;
  if (epoch !== undefined) facts.epoch = String(epoch);
  const src = strings.get(TAG.sourcerpm);
  if (src) facts.sourceRpm = src;
  const vendor = strings.get(TAG.vendor);
  if (vendor) facts.vendor = vendor;
  const pkg: Package = {
    type: 'rpm',
    name,
    version: `${epoch !== undefined ? `${epoch}:` : ''}${version}-${release}`,
    purl: '',
    layer: '',
    location,
    facts,
  };
  const license = strings.get(TAG.license);
  if (license) pkg.license = license;
  return pkg;
}
