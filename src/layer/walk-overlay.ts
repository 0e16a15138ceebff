// What the walk needs to know about a node's extended attributes, and how an overlayfs upper dir marks
// deletions (kernel Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories"):
// a whiteout is a character device 0/0; an opaque directory carries `trusted.overlay.opaque=y`
// (`user.overlay.opaque=y` when mounted with `userxattr`). Both translate to the OCI image-spec layer
// whiteouts (`.wh.NAME`, `.wh..wh..opq`).
import { native } from '../sys/native.js';
import { S2IError } from '../errors.js';
import type { WalkNode } from './walk.js';

export interface NodeXattrs {
  /** The xattrs to record in the tar, sorted by name (bytes). */
  keep: Array<[string, Buffer]>;
  /** Directory marked opaque by overlayfs. */
  opaque: boolean;
}

const OVERLAY_PREFIXES = ['trusted.overlay.', 'user.overlay.'];

/** A character device 0/0: an overlayfs whiteout. */
export function isWhiteoutDevice(node: WalkNode): boolean {
  return node.st.type === 'char' && node.st.devMajor === 0 && node.st.devMinor === 0;
}

/** Reads the node's xattrs; with `overlay`, interprets and drops overlayfs-internal ones. */
export function readXattrs(node: WalkNode, overlay: boolean): NodeXattrs {
  if (!node.st.hasXattrs) return { keep: [], opaque: false };
  const path = node.abs.toString('utf8');
  // The native helper takes string paths; a non-UTF-8 path cannot be passed through it (README caveat).
  if (!Buffer.from(path, 'utf8').equals(node.abs)) return { keep: [], opaque: false };
  const sys = native();
  const names = sys.llistxattr(path);
  if (names.length === 0) return { keep: [], opaque: false };
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const keep: Array<[string, Buffer]> = [];
  let opaque = false;
  for (const name of names) {
    const value = sys.lgetxattr(path, name);
    if (value === null) continue;
    const prefix = overlay ? OVERLAY_PREFIXES.find((p) => name.startsWith(p)) : undefined;
    if (prefix === undefined) {
      keep.push([name, value]);
      continue;
    }
    const key = name.slice(prefix.length);
    if (key === 'opaque') opaque ||= node.st.type === 'dir' && value.toString('latin1') === 'y';
    else if (key === 'redirect' || key === 'metacopy') {
      // A redirected dir or a metacopy file is not a plain diff: its data lives in a lower layer.
      throw new S2IError('ERR_OVERLAY_UNSUPPORTED',
        `${node.rel.toString('utf8')} in the overlay upper dir uses overlayfs ${key}; mount the overlay with redirect_dir=off,metacopy=off`);
    }
  }
  return { keep, opaque };
}
