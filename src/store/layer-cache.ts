// Unpacked-layer cache: one overlay lower dir per diffID at <root>/layers/sha256/<hex>, plus the compressed-blob
// → diffID mapping at <root>/layers/by-blob/<alg>/<hex> (spec/store-format.md). A layer is unpacked into
// <root>/layers/tmp/<pid>-… and renamed into place only when complete and verified, so a kill -9 at any moment
// leaves either nothing or a whole layer; dead processes' temp dirs are swept on open.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { applyLayer } from '../layer/apply.js';
import { decompressor, layerCompression } from '../layer/decompress.js';
import type { UnpackLimits } from '../layer/unpack-limits.js';
import { isValidDigest, parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { VerifyingStream } from './blob-store.js';
import { layerMetaDir, touchLayerMeta, writeLayerMeta } from './layer-meta.js';
import { acquireLock, lockPath } from './lock-file.js';
import { lockDir, sweepDeadTemps, writeFileAtomic } from './store-paths.js';
import { openStoreRoot } from './store-root.js';
import { treeDigest } from './tree-digest.js';

export interface UnpackOptions {
  signal?: AbortSignal;
  limits?: UnpackLimits;
  onWarning?: (msg: string) => void;
}

export interface EnsuredLayer {
  diffID: string;
  dir: string;
  /** False when this call unpacked it. */
  cached: boolean;
}

export const layersDir = 'layers';
export const leasesDir = 'leases';

export class LayerCache {
  private readonly inflight = new Map<string, Promise<EnsuredLayer>>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<LayerCache> {
    const abs = path.resolve(root);
    await openStoreRoot(abs); // private to its user: the layers keep setuid files and devices (store-root.ts)
    for (const d of [['sha256'], ['by-blob', 'sha256'], ['tmp']]) await fs.mkdir(path.join(abs, layersDir, ...d), { recursive: true });
    await fs.mkdir(path.join(abs, lockDir), { recursive: true });
    await fs.mkdir(path.join(abs, leasesDir), { recursive: true });
    await fs.mkdir(path.join(abs, layerMetaDir), { recursive: true });
    await sweepDeadTemps(path.join(abs, layersDir, 'tmp'));
    await sweepDeadTemps(path.join(abs, leasesDir));
    return new LayerCache(abs);
  }

  /** The lower dir of a diffID (sha256 only: diffIDs are sha256 by image-spec config.md). */
  dir(diffID: string): string {
    const { algorithm, hex } = parseDigest(diffID);
    if (algorithm !== 'sha256') throw new S2IError('ERR_INVALID_DIGEST', `diffID ${diffID} is not sha256 (image-spec config.md rootfs.diff_ids)`);
    return path.join(this.root, layersDir, 'sha256', hex);
  }

  /** True for complete entries (a dir only ever appears there by the final rename). */
  async has(diffID: string): Promise<boolean> {
    try {
      return (await fs.lstat(this.dir(diffID))).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async diffIDForBlob(blobDigest: string): Promise<string | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.byBlobPath(blobDigest), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const d = text.trim();
    return isValidDigest(d) && d.startsWith('sha256:') ? d : undefined; // a damaged mapping is just a miss
  }

  /** Ensures the layer of compressed blob `blob` is unpacked (see the class comment); `open` is called only when needed. */
  async ensure(
    blob: Descriptor,
    open: () => Promise<Readable>,
    opts: UnpackOptions & { expectedDiffID?: string } = {},
  ): Promise<EnsuredLayer> {
    parseDigest(blob.digest);
    layerCompression(blob.mediaType); // unknown media type: fail before any work
    if (opts.expectedDiffID !== undefined) this.dir(opts.expectedDiffID);
    for (;;) {
      const hit = await this.lookup(blob, opts.expectedDiffID);
      if (hit) return hit;
      const running = this.inflight.get(blob.digest);
      if (!running) break;
      await running.catch(() => undefined); // the first caller failed: try ourselves
    }
    const work = this.unpackLocked(blob, open, opts);
    this.inflight.set(blob.digest, work);
    try {
      return await work;
    } finally {
      if (this.inflight.get(blob.digest) === work) this.inflight.delete(blob.digest);
    }
  }

  /** Marks dirs in use by a running build: `<root>/leases/<pid>-<random>.json`; prune skips leased diffIDs. */
  async lease(diffIDs: string[]): Promise<{ release(): Promise<void> }> {
    for (const d of diffIDs) this.dir(d);
    const file = path.join(this.root, leasesDir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
    await writeFileAtomic(file, JSON.stringify({ pid: process.pid, created: new Date().toISOString(), diffIDs }));
    await Promise.all(diffIDs.map((d) => touchLayerMeta(this.root, d)));
    return {
      release: async () => {
        await fs.rm(file, { force: true });
      },
    };
  }

  private byBlobPath(blobDigest: string): string {
    const { algorithm, hex } = parseDigest(blobDigest);
    return path.join(this.root, layersDir, 'by-blob', algorithm, hex);
  }

  private async lookup(blob: Descriptor, expected: string | undefined): Promise<EnsuredLayer | undefined> {
    const mapped = await this.diffIDForBlob(blob.digest);
    if (mapped !== undefined && (await this.has(mapped))) {
      if (expected !== undefined && mapped !== expected) throw mismatch(blob, expected, mapped);
      await touchLayerMeta(this.root, mapped);
      return { diffID: mapped, dir: this.dir(mapped), cached: true };
    }
    // Same uncompressed content reached through another blob (recompressed layer): the dir is keyed by content.
    if (expected !== undefined && (await this.has(expected))) {
      await touchLayerMeta(this.root, expected);
      return { diffID: expected, dir: this.dir(expected), cached: true };
    }
    return undefined;
  }

  private async unpackLocked(blob: Descriptor, open: () => Promise<Readable>, opts: UnpackOptions & { expectedDiffID?: string }): Promise<EnsuredLayer> {
    const { algorithm, hex } = parseDigest(blob.digest);
    const lock = await acquireLock(lockPath(path.join(this.root, lockDir), `layer-${algorithm}-${hex}`), {
      done: async () => (await this.lookup(blob, opts.expectedDiffID)) !== undefined,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      const again = await this.lookup(blob, opts.expectedDiffID);
      if (again) return again;
      return await this.unpack(blob, open, opts);
    } finally {
      await lock?.release();
    }
  }

  private async unpack(blob: Descriptor, open: () => Promise<Readable>, opts: UnpackOptions & { expectedDiffID?: string }): Promise<EnsuredLayer> {
    const tmp = path.join(this.root, layersDir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
    await fs.mkdir(tmp, { mode: 0o755 });
    try {
      const src = await open();
      const { algorithm } = parseDigest(blob.digest);
      const dec = decompressor(blob.mediaType);
      const verify = new VerifyingStream(blob, algorithm);
      const noop = (): void => undefined; // errors surface through applyLayer's own pipeline
      const tar: Readable = dec ? pipeline(src, verify, dec, noop) : pipeline(src, verify, noop);
      const res = await applyLayer(tar, tmp, {
        layerDigest: blob.digest,
        ...(opts.limits ? { limits: opts.limits } : {}),
        ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (opts.expectedDiffID !== undefined && res.diffID !== opts.expectedDiffID) throw mismatch(blob, opts.expectedDiffID, res.diffID);
      const dir = this.dir(res.diffID);
      if (!(await this.has(res.diffID))) {
        // The record goes first: a dir never appears without the identity `cache verify` checks it against. The
        // applier hashed every file as it wrote it, so this is a walk of metadata only.
        const tree = await treeDigest(tmp, { known: res.files });
        await writeLayerMeta(this.root, {
          version: 1,
          diffID: res.diffID,
          blob: blob.digest,
          tree: tree.digest,
          entries: tree.entries,
          bytes: tree.bytes,
          unpacked: new Date().toISOString(),
        });
      }
      try {
        await fs.rename(tmp, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e; // else: the same content is already there
      }
      await fs.mkdir(path.dirname(this.byBlobPath(blob.digest)), { recursive: true });
      await writeFileAtomic(this.byBlobPath(blob.digest), `${res.diffID}\n`);
      return { diffID: res.diffID, dir, cached: false };
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
}

function mismatch(blob: Descriptor, expected: string, actual: string): S2IError {
  return new S2IError(
    'ERR_DIGEST_MISMATCH',
    `layer ${blob.digest} unpacks to diffID ${actual} but the image config expects ${expected}; nothing was cached (the image is inconsistent)`,
  );
}
