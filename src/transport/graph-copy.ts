// Copying a content graph between any two Targets, as oras-go v2 copy.go: resolve the source reference, walk
// the DAG (index → manifests → config + layers, and any `subject`), copy leaves before the manifests that name
// them, at most `concurrency` transfers at a time, skip every node (and the sub-DAG under it) the destination
// already has, mount blobs across repositories when the destination can, and tag the root last — so a failed
// or cancelled copy never leaves the tag pointing at an incomplete image.
//
// Unlike transport/copy.ts (`copyImage`), nothing is converted here: the bytes, digests and media types
// arrive unchanged (a Docker manifest stays Docker, zstd stays zstd, every platform of an index is copied).
// Use copyImage to pick a platform, change the manifest format or recompress layers.
import { Readable } from 'node:stream';
import { parseManifestDocument } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import {
  abortError,
  isManifestDescriptor,
  isMounter,
  isReferenceFetcher,
  isReferencePusher,
  readManifestContent,
  type Mounter,
  type ReadOnlyStorage,
  type ReadOnlyTarget,
  type Storage,
  type Target,
} from './roles.js';
import { VerifyStream, skipBytes } from './verify.js';

/** Nodes transferred at once when no `concurrency` is given (oras-go's default). */
export const DEFAULT_COPY_CONCURRENCY = 3;

type Hook = (desc: Descriptor) => void | Promise<void>;

export interface CopyGraphOptions {
  /** Transfers (exists checks, manifest reads, blob copies, manifest pushes) running at once. Default 3. */
  concurrency?: number;
  /** Cancels the copy: nothing new starts, transfers in flight are destroyed, it rejects with ERR_ABORTED. Default: none. */
  signal?: AbortSignal;
  /**
   * Repositories on the destination's registry that may already hold a blob, tried in order when the
   * destination is a Mounter (distribution-spec "Mounting a blob from another repository"); after the last
   * candidate fails the blob is copied from the source. Default: no mounting.
   */
  mountFrom?: (desc: Descriptor) => string[] | Promise<string[]>;
  /** Before a node's content is transferred (not called for skipped nodes). Default: none. */
  preCopy?: Hook;
  /** After a node was pushed to the destination. Default: none. */
  postCopy?: Hook;
  /** When the destination already had a node (its sub-DAG is skipped as well). Default: none. */
  onCopySkipped?: Hook;
  /** When a blob was mounted from `fromRepo` instead of copied (postCopy is not called for it). Default: none. */
  onMounted?: (desc: Descriptor, fromRepo: string) => void | Promise<void>;
  /** The children of a node. Default: `successors` (manifest/index parsing, image-spec). */
  findSuccessors?: (desc: Descriptor, content: Buffer) => Descriptor[];
}

/** Options for `copy`: the graph options; the root is tagged `dstRef` after the whole graph is in place. */
export type CopyOptions = CopyGraphOptions;

/**
 * The children of a manifest or index (oras-go content.Successors): an image manifest's `subject`, `config`
 * and `layers`; an index's `subject` and `manifests`. Blobs have none. `content` is verified bytes of `desc`.
 */
export function successors(desc: Descriptor, content: Buffer): Descriptor[] {
  if (!isManifestDescriptor(desc)) return [];
  const parsed = parseManifestDocument(content, desc.mediaType);
  if (parsed.kind === 'index') {
    const { subject, manifests } = parsed.index;
    return [...(subject ? [subject] : []), ...manifests];
  }
  const { subject, config, layers } = parsed.manifest;
  return [...(subject ? [subject] : []), config, ...layers];
}

/**
 * Copies the graph of `srcRef` from `src` to `dst` and tags the root `dstRef`; resolves to the root
 * descriptor. The root is found with `fetchReference` when the source offers it (one round trip), and pushed
 * with its tag in one request when the destination is a ReferencePusher; otherwise pushed, then tagged.
 */
export async function copy(src: ReadOnlyTarget, srcRef: string, dst: Target, dstRef: string, opts: CopyOptions = {}): Promise<Descriptor> {
  if (opts.signal?.aborted) throw abortError(opts.signal, `copy ${srcRef}`);
  let root: Descriptor;
  let rootContent: Buffer | undefined;
  if (isReferenceFetcher(src)) {
    const got = await src.fetchReference(srcRef, opts.signal ? { signal: opts.signal } : {});
    root = got.descriptor;
    rootContent = await readManifestContent(root, got.content, `manifest ${srcRef}`);
  } else {
    root = await src.resolve(srcRef, opts.signal ? { signal: opts.signal } : {});
  }
  const { rootTagged } = await runCopy(src, dst, root, opts, { rootContent, dstRef });
  if (!rootTagged) {
    if (opts.signal?.aborted) throw abortError(opts.signal, `copy ${srcRef}`);
    await dst.tag(root, dstRef, opts.signal ? { signal: opts.signal } : {});
  }
  return root;
}

/** Copies the graph under `root` from `src` to `dst` (no tag); the same walk as `copy`. */
export async function copyGraph(src: ReadOnlyStorage, dst: Storage, root: Descriptor, opts: CopyGraphOptions = {}): Promise<void> {
  await runCopy(src, dst, root, opts, {});
}

/** At most `n` callers inside at once; not held while a manifest waits for its children (no deadlock). */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Thrown by a non-final mount candidate's getContent: "not mounted, try the next one". */
const tryNextCandidate = Symbol('try the next mount candidate');

async function runCopy(
  src: ReadOnlyStorage,
  dst: Storage,
  root: Descriptor,
  opts: CopyGraphOptions,
  rootInfo: { rootContent?: Buffer | undefined; dstRef?: string },
): Promise<{ rootTagged: boolean }> {
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_COPY_CONCURRENCY));
  const limit = limiter(concurrency);
  const findSuccessors = opts.findSuccessors ?? successors;
  // Fail fast: the first error (or the caller's abort) stops every other branch.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let firstError: unknown;
  const fail = (e: unknown): never => {
    if (firstError === undefined) {
      firstError = opts.signal?.aborted ? abortError(opts.signal, `copy ${root.digest}`) : e;
      stop.abort(firstError);
    }
    throw e;
  };
  const check = (what: string): void => {
    if (signal.aborted) throw opts.signal?.aborted ? abortError(opts.signal, what) : abortError(signal, what);
  };
  const ro = { signal };
  let rootTagged = false;

  /** A verified stream of `desc` from the source, starting at `offset` (the whole blob is re-read and checked). */
  const openSource = async (desc: Descriptor, offset: number): Promise<Readable> => {
    check(`copy ${desc.digest}`);
    const s = await src.fetch(desc, ro);
    const verify = new VerifyStream(desc, `${desc.digest} from the source`);
    s.on('error', (e) => verify.destroy(e));
    return skipBytes(s.pipe(verify), offset);
  };

  const readManifest = async (desc: Descriptor): Promise<Buffer> => {
    if (desc.digest === root.digest && rootInfo.rootContent) return rootInfo.rootContent;
    return readManifestContent(desc, await src.fetch(desc, ro), `manifest ${desc.digest} from the source`);
  };

  const copyBlob = async (desc: Descriptor): Promise<void> => {
    await opts.preCopy?.(desc);
    check(`copy ${desc.digest}`);
    const candidates = isMounter(dst) && opts.mountFrom ? (await opts.mountFrom(desc)).filter((r) => r !== '') : [];
    for (let i = 0; i < candidates.length; i++) {
      const from = candidates[i]!;
      const last = i === candidates.length - 1;
      let mounted: boolean;
      try {
        mounted = await (dst as Storage & Mounter).mount(
          desc,
          from,
          last
            ? () => openSource(desc, 0)
            : () => {
                throw tryNextCandidate;
              },
          ro,
        );
      } catch (e) {
        if (e === tryNextCandidate) continue;
        throw e;
      }
      if (mounted) await opts.onMounted?.(desc, from);
      else await opts.postCopy?.(desc);
      return;
    }
    await dst.push(desc, (offset) => openSource(desc, offset), ro);
    await opts.postCopy?.(desc);
  };

  const copyManifest = async (desc: Descriptor, content: Buffer): Promise<void> => {
    await opts.preCopy?.(desc);
    check(`copy ${desc.digest}`);
    const body = Readable.from([content]);
    if (desc.digest === root.digest && rootInfo.dstRef !== undefined && isReferencePusher(dst)) {
      await dst.pushReference(desc, body, rootInfo.dstRef, ro);
      rootTagged = true;
    } else {
      await dst.push(desc, body, ro);
    }
    await opts.postCopy?.(desc);
  };

  const seen = new Map<string, Promise<void>>();
  const visit = (desc: Descriptor): Promise<void> => {
    let p = seen.get(desc.digest);
    if (!p) {
      p = copyNode(desc).catch(fail);
      seen.set(desc.digest, p);
    }
    return p;
  };

  const copyNode = async (desc: Descriptor): Promise<void> => {
    check(`copy ${desc.digest}`);
    if (await limit(() => dst.exists(desc, ro))) {
      await opts.onCopySkipped?.(desc);
      return;
    }
    if (!isManifestDescriptor(desc)) {
      await limit(() => copyBlob(desc));
      return;
    }
    const content = await limit(() => readManifest(desc));
    const children = findSuccessors(desc, content);
    // Every child settles before the parent decides, so no transfer outlives a failed copy.
    const results = await Promise.allSettled(children.map(visit));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    check(`copy ${desc.digest}`);
    await limit(() => copyManifest(desc, content));
  };

  try {
    await visit(root);
  } catch (e) {
    throw firstError ?? e;
  }
  if (firstError !== undefined) throw firstError;
  return { rootTagged };
}
