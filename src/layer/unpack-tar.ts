// A tar-stream extractor that also keeps PAX `SCHILY.xattr.*` values as raw bytes. tar-stream decodes PAX values
// as UTF-8 strings, which corrupts binary attributes such as security.capability; GNU tar and Go's archive/tar
// store them raw. We hook the two (stable in tar-stream 3.x) methods that parse a PAX header and attach it to the
// entry that follows, falling back to the decoded strings if the hook points ever disappear.
import tarStream from 'tar-stream';

export const xattrPrefix = 'SCHILY.xattr.';

/** The header of an entry, with raw xattrs when the hook worked. */
export type UnpackHeader = tarStream.Headers & { pax?: Record<string, string> | null; rawXattrs?: Map<string, Buffer> };

/** Parses PAX records (`LEN key=value\n`, POSIX pax "extended header") keeping only xattrs, as bytes. */
export function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number.parseInt(buf.toString('latin1', off, sp), 10);
    if (!Number.isSafeInteger(len) || len <= sp - off || off + len > buf.length) break;
    const eq = buf.indexOf(0x3d, sp + 1);
    const end = off + len - 1; // the record's trailing "\n"
    if (eq > sp && eq < end) {
      const key = buf.toString('utf8', sp + 1, eq);
      if (key.startsWith(xattrPrefix)) out.set(key.slice(xattrPrefix.length), Buffer.from(buf.subarray(eq + 1, end)));
    }
    off += len;
  }
  return out;
}

interface ExtractInternals {
  _header: UnpackHeader | null;
  _decodeLongHeader?: (buf: Buffer) => void;
  _applyLongHeaders?: () => void;
}

export function createExtract(): tarStream.Extract {
  const ex = tarStream.extract();
  const x = ex as unknown as ExtractInternals;
  const decode = x._decodeLongHeader;
  const apply = x._applyLongHeaders;
  if (typeof decode !== 'function' || typeof apply !== 'function') return ex;
  let pending: Map<string, Buffer> | undefined;
  x._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    if (this._header?.type === 'pax-header') pending = parsePaxXattrs(buf);
    decode.call(this, buf);
  };
  x._applyLongHeaders = function (this: ExtractInternals): void {
    apply.call(this);
    if (this._header) this._header.rawXattrs = pending ?? new Map();
    pending = undefined;
  };
  return ex;
}

/** The entry's xattrs: raw when the hook worked, else from the decoded PAX strings. */
export function entryXattrs(h: UnpackHeader): Map<string, Buffer> {
  if (h.rawXattrs) return h.rawXattrs;
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(h.pax ?? {})) {
    if (k.startsWith(xattrPrefix)) out.set(k.slice(xattrPrefix.length), Buffer.from(v, 'utf8'));
  }
  return out;
}
