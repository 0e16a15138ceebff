// The ORAS v2 content model in TypeScript (oras-go v2 content/storage.go, target.go, registry/repository.go):
// single-verb roles composed into Storage and Target, plus optional capabilities that `copy` looks for with a
// type guard. A registry repository, an OCI layout, the local blob store and the docker-archive writer all
// implement these, so graph-copy.ts moves content between any two of them.
//
// These roles sit beside the older ImageSource/ImageDestination shape in types.ts (which copyImage uses for
// format conversion); they do not replace it.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { MAX_MANIFEST_BYTES, isIndexMediaType, isManifestMediaType } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import { VerifyStream, readCappedStream } from './verify.js';

/** Options every role method accepts. */
export interface RoleOptions {
  /** Cancels the operation; the promise (or stream) then fails with the signal's reason or ERR_ABORTED. Default: none. */
  signal?: AbortSignal;
}

/**
 * Gives the bytes of a blob or manifest (image-spec descriptor.md: content is addressed by `digest`).
 * The stream errors before its end when the bytes do not match `desc.digest` and `desc.size`
 * (ERR_DIGEST_MISMATCH); a missing item fails with ERR_BLOB_UNKNOWN or ERR_MANIFEST_UNKNOWN.
 */
export interface Fetcher {
  fetch(desc: Descriptor, opts?: RoleOptions): Promise<Readable>;
}

/** Opens the content at byte `offset`; called again (with the offset the destination holds) to resume. */
export type OpenContent = (offset: number) => Readable | Promise<Readable>;

/** A stream (pushed once, not resumable) or an opener (resumable after a cut connection). */
export type PushContent = Readable | OpenContent;

/**
 * Stores content under `desc` (distribution-spec "Push"; image-spec image-layout.md "Blobs"). The content is
 * verified against `desc`; on a mismatch nothing is stored (ERR_DIGEST_MISMATCH). Pushing what is already
 * there succeeds. A Readable is consumed or destroyed.
 */
export interface Pusher {
  push(desc: Descriptor, content: PushContent, opts?: RoleOptions): Promise<void>;
}

/** Whether content with this digest and size is stored (distribution-spec "Checking if content exists"). */
export interface Exister {
  exists(desc: Descriptor, opts?: RoleOptions): Promise<boolean>;
}

/** Content you can read (oras-go content.ReadOnlyStorage). */
export interface ReadOnlyStorage extends Fetcher, Exister {}

/** Content you can read and write (oras-go content.Storage). */
export interface Storage extends ReadOnlyStorage, Pusher {}

/**
 * Turns a tag or a digest into the descriptor of a manifest or index (distribution-spec "Pulling manifests").
 * Fails with ERR_MANIFEST_UNKNOWN / ERR_TAG_NOT_FOUND when there is none.
 */
export interface Resolver {
  resolve(reference: string, opts?: RoleOptions): Promise<Descriptor>;
}

/** Names a stored manifest (distribution-spec "Pushing manifests" with a tag; image-layout `ref.name`). */
export interface Tagger {
  tag(desc: Descriptor, reference: string, opts?: RoleOptions): Promise<void>;
}

/** A source for `copy`: readable storage plus references (oras-go ReadOnlyTarget). */
export interface ReadOnlyTarget extends ReadOnlyStorage, Resolver {}

/** A destination (and source) for `copy`: storage + resolve + tag (oras-go Target). */
export interface Target extends Storage, Resolver, Tagger {}

// ---- optional capabilities, each found with its type guard ----

/**
 * Cross-repository blob mount (distribution-spec "Mounting a blob from another repository").
 * Resolves `true` when the registry mounted it (201). Otherwise the blob is pushed — from `getContent` when
 * given, else fetched from `fromRepo` on the same registry — and it resolves `false`. Errors thrown by
 * `getContent` propagate unchanged (copy uses that to move on to the next candidate).
 */
export interface Mounter {
  mount(desc: Descriptor, fromRepo: string, getContent?: () => Promise<Readable>, opts?: RoleOptions): Promise<boolean>;
}

/** Resolve and fetch in one round trip (distribution-spec GET manifest by tag), as oras-go ReferenceFetcher. */
export interface ReferenceFetcher {
  fetchReference(reference: string, opts?: RoleOptions): Promise<{ descriptor: Descriptor; content: Readable }>;
}

/** Push a manifest and name it in one request (PUT /v2/NAME/manifests/TAG), as oras-go ReferencePusher. */
export interface ReferencePusher {
  pushReference(desc: Descriptor, content: PushContent, reference: string, opts?: RoleOptions): Promise<void>;
}

/** Manifests whose `subject` is `desc` (distribution-spec v1.1 "Listing Referrers"). Default: every artifactType. */
export interface ReferrerLister {
  referrers(desc: Descriptor, opts?: RoleOptions & { artifactType?: string }): Promise<Descriptor[]>;
}

/** The tags of a repository or layout (distribution-spec "Listing Tags"), in the store's order. */
export interface TagLister {
  tags(opts?: RoleOptions): Promise<string[]>;
}

/** Removes a manifest (distribution-spec "Deleting manifests"); registries may refuse (405). */
export interface Deleter {
  delete(desc: Descriptor, opts?: RoleOptions): Promise<void>;
}

function hasMethods(x: unknown, ...names: string[]): boolean {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return false;
  const o = x as Record<string, unknown>;
  return names.every((n) => typeof o[n] === 'function');
}

export const isFetcher = (x: unknown): x is Fetcher => hasMethods(x, 'fetch');
export const isPusher = (x: unknown): x is Pusher => hasMethods(x, 'push');
export const isExister = (x: unknown): x is Exister => hasMethods(x, 'exists');
export const isResolver = (x: unknown): x is Resolver => hasMethods(x, 'resolve');
export const isTagger = (x: unknown): x is Tagger => hasMethods(x, 'tag');
export const isReadOnlyStorage = (x: unknown): x is ReadOnlyStorage => hasMethods(x, 'fetch', 'exists');
export const isStorage = (x: unknown): x is Storage => hasMethods(x, 'fetch', 'exists', 'push');
export const isReadOnlyTarget = (x: unknown): x is ReadOnlyTarget => hasMethods(x, 'fetch', 'exists', 'resolve');
export const isTarget = (x: unknown): x is Target => hasMethods(x, 'fetch', 'exists', 'push', 'resolve', 'tag');
export const isMounter = (x: unknown): x is Mounter => hasMethods(x, 'mount');
export const isReferenceFetcher = (x: unknown): x is ReferenceFetcher => hasMethods(x, 'fetchReference');
export const isReferencePusher = (x: unknown): x is ReferencePusher => hasMethods(x, 'pushReference');
export const isReferrerLister = (x: unknown): x is ReferrerLister => hasMethods(x, 'referrers');
export const isTagLister = (x: unknown): x is TagLister => hasMethods(x, 'tags');
export const isDeleter = (x: unknown): x is Deleter => hasMethods(x, 'delete');

// ---- small helpers the adapters share ----

/** An opener for `content`: a bare stream can be opened once (a resume after a cut fails with ERR_PUSH_NOT_RESUMABLE). */
export function openerOf(content: PushContent, what: string): OpenContent {
  if (typeof content === 'function') return content;
  let used = false;
  return (offset) => {
    if (used || offset !== 0) {
      content.destroy();
      throw new S2IError('ERR_PUSH_NOT_RESUMABLE', `${what}: the push was cut and its content was a one-shot stream; retry, or pass an opener (offset) => stream`);
    }
    used = true;
    return content;
  };
}

/** Manifests and indexes (the nodes of a graph that have successors); everything else is a blob. */
export function isManifestDescriptor(desc: Descriptor): boolean {
  return isManifestMediaType(desc.mediaType) || isIndexMediaType(desc.mediaType);
}

/** Reads a manifest's content whole, verified against `desc` and capped at MAX_MANIFEST_BYTES. */
export async function readManifestContent(desc: Descriptor, content: PushContent, what: string): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST_BYTES) {
    if (typeof content !== 'function') content.destroy();
    throw new S2IError('ERR_MANIFEST_TOO_LARGE', `${what}: ${desc.size} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit for manifests`);
  }
  const src = await openerOf(content, what)(0);
  const verify = new VerifyStream(desc, what);
  src.on('error', (e) => verify.destroy(e));
  return readCappedStream(src.pipe(verify), MAX_MANIFEST_BYTES, what);
}

/** The error a cancelled operation fails with. */
export function abortError(signal: AbortSignal, what: string): S2IError {
  return new S2IError('ERR_ABORTED', `${what} was cancelled`, { cause: signal.reason });
}

/** Destroys `stream` with ERR_ABORTED when `signal` fires (for stores whose own API takes no signal). */
export function abortable(stream: Readable, signal: AbortSignal | undefined, what: string): Readable {
  if (!signal) return stream;
  // A stream destroyed before anyone reads it must not become an uncaught 'error'; readers still see the error.
  stream.on('error', () => {});
  if (signal.aborted) {
    stream.destroy(abortError(signal, what));
    return stream;
  }
  const onAbort = (): void => void stream.destroy(abortError(signal, what));
  signal.addEventListener('abort', onAbort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', onAbort));
  return stream;
}
