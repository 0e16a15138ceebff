// Layer decompression by media type (image-spec media-types.md; distribution manifest-v2-2.md for Docker names).
// gzip uses Node's zlib. Node 20 has no zstd, so zstd frames go through the `zstd` CLI (`zstd -dc`) wrapped in a
// Transform; a native binding can replace it behind the same function.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Transform, type TransformCallback, type Readable, type Writable } from 'node:stream';
import zlib from 'node:zlib';
import { S2IError } from '../errors.js';
import { MediaType, type Compression } from '../oci/media-types.js';

const byMediaType: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  [MediaType.ociLayer, 'none'],
  [MediaType.ociLayerNonDistributable, 'none'],
  [MediaType.dockerLayer, 'none'],
  [MediaType.ociLayerGzip, 'gzip'],
  [MediaType.ociLayerNonDistributableGzip, 'gzip'],
  [MediaType.dockerLayerGzip, 'gzip'],
  [MediaType.dockerForeignLayerGzip, 'gzip'],
  [MediaType.ociLayerZstd, 'zstd'],
  [MediaType.ociLayerNonDistributableZstd, 'zstd'],
]);

/** The compression of a layer media type; throws ERR_LAYER_MEDIA_TYPE for anything that is not a layer. */
export function layerCompression(mediaType: string): Compression {
  const c = byMediaType.get(mediaType);
  if (c === undefined) {
    throw new S2IError(
      'ERR_LAYER_MEDIA_TYPE',
      `unsupported layer media type ${JSON.stringify(mediaType.slice(0, 200))}: expected an OCI or Docker tar, tar+gzip or tar+zstd layer`,
    );
  }
  return c;
}

/** A Transform that decompresses the layer, or null for an uncompressed tar. */
export function decompressor(mediaType: string): Transform | null {
  switch (layerCompression(mediaType)) {
    case 'none':
      return null;
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      return new ZstdCliDecompress();
  }
}

/** Maps a decompression failure to a clean layer error (leaves our own errors and aborts alone). */
export function corruptLayerError(e: unknown, what: string): unknown {
  if (e instanceof S2IError || (e as Error | undefined)?.name === 'AbortError') return e;
  return new S2IError('ERR_LAYER_CORRUPT', `${what} is corrupt (${(e as Error).message}); pull it again`, { cause: e });
}

/** `zstd -dc` as a Transform: stdin gets the compressed bytes, stdout's data is pushed with backpressure. */
class ZstdCliDecompress extends Transform {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private exited: Promise<number | null>;
  private outEnded: Promise<void>;
  private pendingCb: TransformCallback | undefined;

  constructor() {
    super();
    this.child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => resolve(code));
      this.child.on('error', (e) => {
        this.stderr += `cannot run zstd: ${e.message}`;
        resolve(-1);
      });
    });
    this.outEnded = new Promise((resolve) => this.child.stdout.on('end', resolve).on('close', resolve));
    this.child.stdout.on('data', (d: Buffer) => {
      if (!this.push(d)) this.child.stdout.pause();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString('utf8');
    });
    this.child.stdin.on('error', () => {
      /* EPIPE when zstd exits early; the exit code carries the failure */
    });
    this.child.stdin.on('close', () => this.release());
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.child.stdin.destroyed) return cb();
    if (this.child.stdin.write(chunk)) return cb();
    this.pendingCb = cb;
    this.child.stdin.once('drain', () => this.release());
  }

  private release(): void {
    const cb = this.pendingCb;
    this.pendingCb = undefined;
    cb?.();
  }

  override _flush(cb: TransformCallback): void {
    this.child.stdin.end();
    void Promise.all([this.exited, this.outEnded]).then(([code]) => {
      if (code === 0) cb();
      else cb(new Error(`zstd -dc failed (exit ${code}): ${this.stderr.trim().split('\n').pop() ?? ''}`));
    });
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    cb(err);
  }
}
