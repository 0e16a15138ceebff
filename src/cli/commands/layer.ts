// `oci-s2i layer DIR -o FILE`: one directory → one layer blob (deterministic tar, compressed, double-digested in
// one pass). What `build` does to the upper dir, as a command of its own: to benchmark layer creation, or to
// make a layer for another tool. The result (diffID, digest, size) goes to stdout.
import { writeLayerFile, type WriteLayerOptions } from '../../layer/write.js';
import { compressionLevel, defaultGzipBackend, gzipBackends, type Compression, type GzipBackend } from '../../layer/compress.js';
import type { Command } from '../command.js';
import { str, oneOf, intFlag } from '../command.js';
import { S2IError } from '../../errors.js';

export const layerCommand: Command = {
  name: 'layer',
  summary: 'Write DIR as one layer blob (tar, compressed, with its diffID and digest) to the file given with -o.',
  args: ['DIR'],
  params: [
    { name: 'output', short: 'o', type: 'string', value: 'FILE', description: 'where to write the blob (written beside it, then renamed)' },
    { name: 'compression', type: 'string', value: 'gzip|zstd|none', description: 'compression of the blob', default: 'gzip' },
    { name: 'level', type: 'string', value: 'N', description: 'compression level (gzip 0-9, default 6; zstd 1-19, default 3)' },
    {
      name: 'backend', type: 'string', value: 'libdeflate|parallel|zlib|pako',
      description: 'gzip implementation: libdeflate (every core, fastest; needs libdeflate at build time), parallel (zlib on every core), zlib (one core), pako (same bytes on every machine)',
      default: 'libdeflate when built, else parallel',
    },
    { name: 'overlay', type: 'boolean', description: 'DIR is an overlayfs upper dir: turn whiteouts and opaque dirs into OCI whiteout entries' },
    { name: 'mtime-clamp', type: 'string', value: 'SECONDS', description: 'clamp every mtime to at most this (seconds since the epoch; SOURCE_DATE_EPOCH style)' },
  ],
  async run(ctx) {
    const v = ctx.values;
    const [dir] = ctx.positionals as [string];
    const output = str(v.output);
    if (!output) throw new S2IError('ERR_USAGE', 'layer needs -o FILE: where to write the blob');
    const compression: Compression = oneOf('compression', str(v.compression), ['gzip', 'zstd', 'none'] as const) ?? 'gzip';
    const backend: GzipBackend | undefined = oneOf('backend', str(v.backend), gzipBackends);
    if (backend && compression !== 'gzip') {
      throw new S2IError('ERR_USAGE', `--backend chooses a gzip implementation; it does not apply to --compression ${compression}`);
    }
    const level = compression === 'none' ? undefined
      : intFlag('level', str(v.level), compression === 'zstd' ? 1 : 0, compression === 'zstd' ? 19 : 9);
    if (compression === 'none' && str(v.level) !== undefined) {
      throw new S2IError('ERR_USAGE', '--level does not apply to --compression none');
    }
    const clamp = intFlag('mtime-clamp', str(v['mtime-clamp']), 0, 2 ** 33 - 1);
    const opts: WriteLayerOptions = {
      compression,
      overlayWhiteouts: v.overlay === true,
      signal: ctx.signal,
      ...(level !== undefined ? { level } : {}),
      ...(backend ? { backend } : {}),
      ...(clamp !== undefined ? { mtimeClamp: clamp } : {}),
    };
    const start = performance.now();
    const r = await writeLayerFile(dir, output, opts);
    const ms = Math.round(performance.now() - start);
    if (ctx.global.json) {
      ctx.stdout.write(JSON.stringify({ file: output, ...r, ...(compression === 'gzip' ? { backend: backend ?? defaultGzipBackend() } : {}), level: compression === 'none' ? null : compressionLevel(compression, level), ms }) + '\n');
    } else {
      if (!ctx.global.quiet) {
        const rate = ms > 0 ? ` (${(r.uncompressedSize / 1e6 / (ms / 1000)).toFixed(1)} MB/s of tar)` : '';
        ctx.stderr.write(`${r.entries} entries, tar ${r.uncompressedSize} bytes → ${compression} ${r.size} bytes in ${ms} ms${rate}\n`);
        ctx.stderr.write(`diffID ${r.diffID}\n`);
      }
      ctx.stdout.write(`${r.digest}\n`);
    }
    return 0;
  },
};
