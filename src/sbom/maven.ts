// Maven coordinates: a project's pom.xml (the <project>'s own groupId/artifactId/version, the <parent>'s
// groupId/version when it inherits them, ${...} taken from <properties>), and the
// META-INF/maven/GROUP/ARTIFACT/pom.properties that Maven writes into every jar it builds. A jar is a zip: its
// central directory is found from the end record and only the pom.properties entries are inflated, each bounded.
import { inflateRawSync } from 'node:zlib';
import type { Package } from './model.js';
import { purl } from './purl.js';
import { readAt } from './tree.js';

const MAX_CENTRAL_DIR = 64 << 20;
const MAX_ENTRY = 1 << 20;

function coords(groupId: string | undefined, artifactId: string | undefined, version: string | undefined, location: string): Package | undefined {
  const ok = (s: string | undefined): s is string => s !== undefined && /^[A-Za-z0-9_.+-]{1,200}$/.test(s);
  if (!ok(groupId) || !ok(artifactId) || !ok(version)) return undefined;
  return { type: 'maven', name: `${groupId}:${artifactId}`, version, purl: purl('maven', groupId, artifactId, version), layer: '', location };
}

/** The project's coordinates, or undefined when the POM does not give them (unresolved properties included). */
export function parsePom(xml: string, location: string): Package | undefined {
  const text = xml.replace(/<!--[\s\S]*?-->/g, '');
  const own = new Map<string, string>();
  const parent = new Map<string, string>();
  const props = new Map<string, string>();
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>|([^<]+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[4] !== undefined) {
      const v = m[4].trim();
      if (v === '') continue;
      const path = stack.join('/');
      const leaf = stack[stack.length - 1]!;
      if (stack.length === 2 && stack[0] === 'project') own.set(leaf, v);
      else if (path.startsWith('project/parent/') && stack.length === 3) parent.set(leaf, v);
      else if (path.startsWith('project/properties/') && stack.length === 3) props.set(leaf, v);
      continue;
    }
    if (m[3] === '/') continue;
    if (m[1] === '/') stack.pop();
    else stack.push(m[2]!);
    if (stack.length > 64) return undefined;
  }
  const version = own.get('version') ?? parent.get('version');
  const resolve = (s: string | undefined): string | undefined =>
    s?.replace(/\$\{([\w.-]+)\}/g, (_, k: string) => (k === 'project.version' ? (version ?? _) : (props.get(k) ?? _)));
  return coords(resolve(own.get('groupId') ?? parent.get('groupId')), resolve(own.get('artifactId')), resolve(version), location);
}

export function parsePomProperties(text: string, location: string): Package | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (m) kv.set(m[1]!, m[2]!);
  }
  return coords(kv.get('groupId'), kv.get('artifactId'), kv.get('version'), location);
}

/** The Maven packages a jar (war, ear) declares through its pom.properties entries; a string says why it was not read. */
export function readJar(fd: number, size: number, location: string): Package[] | string {
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return 'no zip end record';
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOff = tail.readUInt32LE(eocd + 16);
  if (cdOff === 0xffffffff || cdSize === 0xffffffff) return 'zip64 archives are not read';
  if (cdSize > MAX_CENTRAL_DIR || cdOff + cdSize > size) return 'central directory out of bounds';
  const cd = readAt(fd, cdOff, cdSize);
  const out: Package[] = [];
  for (let p = 0; p + 46 <= cd.length; ) {
    if (cd.readUInt32LE(p) !== 0x02014b50) return out.length > 0 ? out : 'corrupt central directory';
    const method = cd.readUInt16LE(p + 10);
    const csize = cd.readUInt32LE(p + 20);
    const usize = cd.readUInt32LE(p + 24);
    const nlen = cd.readUInt16LE(p + 28);
    const xlen = cd.readUInt16LE(p + 30);
    const clen = cd.readUInt16LE(p + 32);
    const lho = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nlen);
    p += 46 + nlen + xlen + clen;
    if (!/^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(name)) continue;
    if (usize > MAX_ENTRY || csize > MAX_ENTRY || lho + 30 > size) continue;
    const lh = readAt(fd, lho, 30);
    if (lh.length < 30 || lh.readUInt32LE(0) !== 0x04034b50) continue;
    const dataOff = lho + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (dataOff + csize > size) continue;
    const raw = readAt(fd, dataOff, csize);
    let data: Buffer;
    try {
      data = method === 0 ? raw : method === 8 ? inflateRawSync(raw, { maxOutputLength: MAX_ENTRY }) : Buffer.alloc(0);
    } catch {
      continue;
    }
    const pkg = parsePomProperties(data.toString('utf8'), location);
    if (pkg) out.push(pkg);
  }
  return out;
}
