// Strict extraction of a save-artifacts tar stream (S2I-CONTRACT.md "Incremental") into <dest>/artifacts.
// The tar comes from a program in the previous image, i.e. from the application: it is untrusted. Only
// regular files, directories, hard links to earlier entries and symlinks that stay inside are written; names
// with `..` or a leading `/` are refused; devices and FIFOs are skipped; sizes and entry counts are capped.
// Every parent is resolved inside the root (securejoin semantics), and files are created with O_EXCL after
// removing what was there, so no entry can write through a symlink an earlier entry planted.
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { S2IError } from '../errors.js';
import { TarHeaderCheck } from '../layer/tar-header-check.js';
import { entryComponents, resolveDirInRoot, resolveLinkTarget, UnsafePathError } from '../layer/secure-path.js';

export interface ArtifactLimits {
  /** Total bytes of file contents; default 8 GiB. */
  maxBytes?: number;
  /** Tar entries; default 1,000,000. */
  maxEntries?: number;
}

export interface ExtractResult {
  entries: number;
  bytes: number;
  skipped: string[];
}

function refuse(name: string, why: string): S2IError {
  return new S2IError('ERR_ARTIFACTS_UNSAFE', `save-artifacts output entry "${name.slice(0, 200)}" ${why}`);
}

async function removeNonDir(p: string): Promise<void> {
  const st = await fs.lstat(p).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) throw new UnsafePathError('replaces a directory');
  await fs.unlink(p);
}

/** True when a symlink at `entryComps` pointing to `target` stays inside the root when read lexically. */
function linkStaysInside(entryComps: string[], target: string): boolean {
  if (target.startsWith('/') || target === '') return false;
  const depth = entryComps.length - 1;
  let level = depth;
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      level--;
      if (level < 0) return false;
    } else level++;
  }
  return true;
}

/** Extracts `tarStream` into the existing directory `root`. Errors leave a partial tree: the caller removes it. */
export async function extractArtifacts(tarStream: Readable, root: string, opts: ArtifactLimits & { onWarning?: (m: string) => void } = {}): Promise<ExtractResult> {
  const maxBytes = opts.maxBytes ?? 8 * 1024 ** 3;
  const maxEntries = opts.maxEntries ?? 1_000_000;
  const realRoot = await fs.realpath(root);
  const extract = tar.extract();
  const result: ExtractResult = { entries: 0, bytes: 0, skipped: [] };
  let feedError: unknown;
  // Headers checked before tar-stream trusts them (a negative or non-octal size would stall the extraction).
  const feeding = pipeline(tarStream, new TarHeaderCheck(), extract).catch((e: unknown) => {
    feedError = e;
  });
  try {
    for await (const entry of extract as unknown as AsyncIterable<Readable & { header: tar.Headers }>) {
      const h = entry.header;
      if (++result.entries > maxEntries) throw refuse(h.name, `is past the limit of ${maxEntries} entries`);
      await extractEntry(entry, h, realRoot, result, maxBytes);
    }
    await feeding;
    if (feedError) throw feedError;
  } catch (e) {
    extract.destroy();
    tarStream.destroy();
    await feeding;
    if (e instanceof S2IError) throw e;
    if (e instanceof UnsafePathError) throw new S2IError('ERR_ARTIFACTS_UNSAFE', `save-artifacts output is unsafe: ${e.message}`, { cause: e });
    throw new S2IError('ERR_ARTIFACTS_CORRUPT', `save-artifacts output is not a valid tar stream (${(e as Error).message})`, { cause: e });
  }
  if (result.skipped.length > 0) opts.onWarning?.(`save-artifacts: skipped ${result.skipped.length} special or outward-pointing entries (e.g. ${result.skipped[0]})`);
  return result;
}

async function extractEntry(entry: Readable, h: tar.Headers, root: string, result: ExtractResult, maxBytes: number): Promise<void> {
  const name = h.name;
  if (name.startsWith('/')) {
    entry.resume();
    throw refuse(name, 'is an absolute path');
  }
  let comps: string[];
  try {
    comps = entryComponents(name);
  } catch (e) {
    entry.resume();
    throw refuse(name, (e as Error).message);
  }
  if (comps.length === 0) {
    entry.resume();
    return;
  }
  const mode = (h.mode ?? 0o644) & 0o1777; // no setuid/setgid from an application's tar
  if (h.type === 'directory') {
    entry.resume();
    const dir = await resolveDirInRoot(root, comps, { create: true });
    await fs.chmod(dir!, mode | 0o700);
    return;
  }
  const parent = (await resolveDirInRoot(root, comps.slice(0, -1), { create: true }))!;
  const target = path.join(parent, comps[comps.length - 1]!);
  switch (h.type) {
    case 'file':
    case 'contiguous-file': {
      await removeNonDir(target);
      let seen = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          seen += chunk.length;
          result.bytes += chunk.length;
          if (result.bytes > maxBytes) cb(refuse(name, `takes the output past the limit of ${maxBytes} bytes`));
          else cb(null, chunk);
        },
      });
      // 'wx' = O_CREAT|O_EXCL: never follows a symlink at the final component.
      await pipeline(entry, counter, createWriteStream(target, { flags: 'wx', mode }));
      if (h.size !== undefined && seen !== h.size) throw refuse(name, 'is truncated');
      if (h.mtime) await fs.utimes(target, h.mtime, h.mtime).catch(() => {});
      return;
    }
    case 'symlink': {
      entry.resume();
      const to = h.linkname ?? '';
      if (!linkStaysInside(comps, to)) {
        result.skipped.push(name);
        return;
      }
      await removeNonDir(target);
      await fs.symlink(to, target);
      return;
    }
    case 'link': {
      entry.resume();
      let linkComps: string[];
      try {
        linkComps = entryComponents(h.linkname ?? '');
      } catch (e) {
        throw refuse(name, `links to ${h.linkname}: ${(e as Error).message}`);
      }
      const src = await resolveLinkTarget(root, linkComps);
      await removeNonDir(target);
      await fs.link(src, target);
      return;
    }
    default:
      entry.resume();
      result.skipped.push(name);
  }
}
