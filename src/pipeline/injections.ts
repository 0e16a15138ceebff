// -i/--inject as s2i does it (pkg/api/types.go VolumeList.Set, pkg/util/injection.go, pkg/docker UploadToContainer):
// SRC's contents are copied into DEST in the builder's root file system before assemble, writable by assemble's
// user, and after assemble every injected file is emptied then removed, so that none of it reaches a layer (a
// hard link assemble made to one is emptied with it). DEST's parent directory must exist in the image (docker
// copies into an existing directory; s2i's `-i DIR:/bad/dir` fails the build), and that is checked before
// assemble runs. Every path inside the root goes through sys/in-root.ts: resolved in-root, written through
// descriptors, an image's symlink at an entry written replaced, never followed.
import { closeSync, fchmodSync, fchownSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../errors.js';
import { InRoot, UnsafeRootPathError, childKind, copyFileInto, openOrMakeChildDir, rootComponents, type Owner } from '../sys/in-root.js';

export interface Injection {
  /** Absolute path on the host (it existed when parsed): a directory (its contents are injected) or a file. */
  source: string;
  /** Path in the builder: absolute, or relative to its WORKDIR ('' is the WORKDIR itself, as s2i). */
  destination: string;
}

/** Where an injection may not go: the runtime mounts its own file systems there. */
const reserved = ['/proc', '/sys', '/dev'];

/** Directories of a source followed through symlinks (Kubernetes secret volumes are links into `..data`). */
const MAX_DEPTH = 64;

function bad(item: string, why: string): S2IError {
  return new S2IError('ERR_BAD_MOUNT', `--inject "${item}": ${why}`);
}

/**
 * `-i` values as s2i takes them: items `;`-separated, each `SRC:DEST` split at the LAST colon, quotes around
 * either part trimmed; `SRC` alone or `SRC:` injects into the builder's WORKDIR. SRC must exist; DEST must not
 * climb out with `..` nor go into /proc, /sys or /dev.
 */
export function parseInjections(values: string[]): Injection[] {
  const out: Injection[] = [];
  for (const item of values.flatMap((v) => v.split(';')).map((v) => v.trim()).filter(Boolean)) {
    const colon = item.lastIndexOf(':');
    const unquote = (s: string) => s.replace(/^["']+|["']+$/g, '');
    const srcRaw = unquote(colon < 0 ? item : item.slice(0, colon));
    const dstRaw = unquote(colon < 0 ? '' : item.slice(colon + 1));
    if (srcRaw === '') throw bad(item, 'use SOURCE:DESTINATION (or SOURCE alone: the working directory)');
    if (dstRaw.split('/').includes('..')) throw bad(item, 'the destination may not contain ".."');
    const destination = dstRaw.startsWith('/') ? path.posix.normalize(dstRaw).replace(/(.)\/+$/, '$1') : path.posix.normalize(dstRaw || '.').replace(/^\.$/, '').replace(/\/+$/, '');
    if (isReserved(destination)) throw bad(item, `the destination ${destination} is reserved`);
    const source = path.resolve(srcRaw);
    if (!statSync(source, { throwIfNoEntry: false })) throw bad(item, `the source ${source} does not exist`);
    out.push({ source, destination });
  }
  return out;
}

function isReserved(dst: string): boolean {
  return reserved.some((r) => dst === r || dst.startsWith(r + '/'));
}

/** The injections with their destinations absolute: relative ones (and '') under the builder's WORKDIR. */
export function injectionsUnder(injections: Injection[], workdir: string): Injection[] {
  return injections.map((i) => {
    const destination = i.destination.startsWith('/') ? i.destination : path.posix.join(workdir || '/', i.destination).replace(/(.)\/+$/, '$1');
    if (isReserved(destination)) throw bad(`${i.source}:${i.destination}`, `the destination ${destination} is reserved`);
    return { source: i.source, destination };
  });
}

function destinationError(i: Injection, why: string): S2IError {
  return new S2IError('ERR_INJECT_DESTINATION', `--inject ${i.source}:${i.destination}: ${why}; inject into an existing directory of the builder image (or a new one in an existing directory)`);
}

/**
 * Copies each injection (absolute destinations) into the root file system at `rootfs`, owned by `owner` (assemble's
 * user; without it, this process's ids) with the owner's read and write bits added. Returns what to remove
 * after assemble: the paths created or replaced, in the order made. A destination whose parent is not a
 * directory of the image fails here, before assemble, with nothing of that injection written.
 */
export function placeInjections(rootfs: string, injections: Injection[], owner?: Owner): string[] {
  const placed: string[] = [];
  const who = owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  InRoot.with(rootfs, (root) => {
    for (const inj of injections) {
      const src = statSync(inj.source);
      const comps = rootComponents(inj.destination);
      const name = comps.pop();
      const parentPath = '/' + comps.join('/');
      let parent: number;
      try {
        parent = root.openDir(parentPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw destinationError(inj, `${parentPath} does not exist in the builder image`);
        if (e instanceof UnsafeRootPathError) throw destinationError(inj, `${parentPath} is not a directory in the builder image (${e.message})`);
        throw e;
      }
      try {
        if (name === undefined) {
          if (!src.isDirectory()) throw destinationError(inj, 'a file cannot be injected as /');
          mergeInto(inj.source, parent, '/', who, placed, 0);
          continue;
        }
        const existing = existingDir(root, parent, name, inj.destination);
        if (existing !== undefined) {
          // DEST is a directory of the image (or a link to one, followed in-root): merged into, as docker copies.
          try {
            if (src.isDirectory()) mergeInto(inj.source, existing, inj.destination, who, placed, 0);
            else copyEntry(inj.source, src, existing, path.basename(inj.source), path.posix.join(inj.destination, path.basename(inj.source)), who, placed, 0);
          } finally {
            closeSync(existing);
          }
        } else {
          if (src.isDirectory() && childKind(parent, name) === 'file') throw destinationError(inj, `${inj.destination} is a file in the builder image and the source a directory`);
          copyEntry(inj.source, src, parent, name, inj.destination, who, placed, 0);
        }
      } finally {
        closeSync(parent);
      }
    }
  });
  return placed;
}

/** A descriptor of `name` in `parent` when it is a directory, or a link that resolves in-root to one. */
function existingDir(root: InRoot, parent: number, name: string, containerPath: string): number | undefined {
  const kind = childKind(parent, name);
  if (kind === 'dir') return openOrMakeChildDir(parent, name);
  if (kind !== 'symlink') return undefined;
  try {
    return root.openDir(containerPath, { last: 'follow' });
  } catch {
    return undefined; // a dangling link or one to a file: replaced
  }
}

/** Copies the contents of the host directory `srcDir` into `dirFd` (an existing directory), recording each entry. */
function mergeInto(srcDir: string, dirFd: number, containerDir: string, owner: Owner, placed: string[] | undefined, depth: number): void {
  if (depth > MAX_DEPTH) throw new S2IError('ERR_BAD_MOUNT', `--inject: ${srcDir} is nested more than ${MAX_DEPTH} directories deep (a symlink loop?)`);
  for (const name of readdirSync(srcDir).sort()) {
    const src = path.join(srcDir, name);
    const st = statSync(src, { throwIfNoEntry: false });
    if (!st) continue; // a dangling link: nothing to inject (s2i warns and goes on)
    const containerPath = path.posix.join(containerDir, name);
    if (st.isDirectory() && placed && childKind(dirFd, name) === 'dir') {
      // A directory of the image: merged into, each entry recorded.
      const fd = openOrMakeChildDir(dirFd, name);
      try {
        mergeInto(src, fd, containerPath, owner, placed, depth + 1);
      } finally {
        closeSync(fd);
      }
      continue;
    }
    copyEntry(src, st, dirFd, name, containerPath, owner, placed, depth);
  }
}

/** Copies the host entry `src` (followed: `st` is its target's) to `name` in `dirFd`; recorded when `placed`. */
function copyEntry(src: string, st: Stats, dirFd: number, name: string, containerPath: string, owner: Owner, placed: string[] | undefined, depth: number): void {
  if (st.isDirectory()) {
    placed?.push(containerPath);
    const fd = openOrMakeChildDir(dirFd, name, 0o700, owner);
    try {
      // Everything under a directory made here goes with it: nothing more to record.
      mergeInto(src, fd, containerPath, owner, undefined, depth + 1);
      fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, (st.mode & 0o7777) | 0o700);
    } finally {
      closeSync(fd);
    }
  } else if (st.isFile()) {
    placed?.push(containerPath);
    copyFileInto(dirFd, name, realpathSync(src), { mode: (st.mode & 0o7777) | 0o600, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000, owner });
  }
  // sockets, fifos and devices are not injected
}

/**
 * Empties and removes what placeInjections recorded (last first), each path resolved in-root again and its last
 * component never followed. A failure fails the build: the layer is not written with an injection in it.
 */
export function removeInjections(rootfs: string, placed: string[]): void {
  InRoot.with(rootfs, (root) => {
    for (const p of [...placed].reverse()) {
      try {
        root.truncateAndRemove(p);
      } catch (e) {
        throw new S2IError('ERR_INJECT_DESTINATION', `cannot remove the injected ${p} after assemble: ${(e as Error).message}; the image is not written`, { cause: e });
      }
    }
  });
}
