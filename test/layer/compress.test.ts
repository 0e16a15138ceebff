// Compression backends checked with the independent tools (gzip, gunzip, zstd): valid streams, the input back,
// deterministic output, headers without timestamp or name, and clean errors on bad input. The `zstd` command is
// only an oracle here: our zstd output must decode with `zstd -dc`.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { compressor, compressionLevel } from '../../src/layer/compress.js';
import { ParallelGzip, PARALLEL_GZIP_BLOCK } from '../../src/layer/parallel-gzip.js';
import { ZstdCompress } from '../../src/layer/compress-zstd.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-compress-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** ~4 MiB that compresses like a real layer: text lines plus a slice of the node binary. */
function sample(): Buffer {
  const words = ['usr', 'lib', 'share', 'bin', 'locale', 'python3', 'site-packages', 'LICENSE', 'README', '__init__'];
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) lines.push(`${words[rnd() % 10]}/${words[rnd() % 10]}/${rnd().toString(36)} ${i}`);
  const fd = fs.openSync(process.execPath, 'r');
  const bin = Buffer.alloc(2 * 1024 * 1024 + 333);
  fs.readSync(fd, bin, 0, bin.length, 1024 * 1024);
  fs.closeSync(fd);
  return Buffer.concat([Buffer.from(lines.join('\n')), bin]);
}
const input = sample();

/** Runs `data` through `tr` in uneven pieces, as a tar stream would arrive. */
async function run(tr: Transform, data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  const pieces = function* () {
    for (let off = 0, k = 0; off < data.length; k++) {
      const n = [1, 511, 65536, 300_000, 7][k % 5]!;
      yield data.subarray(off, off + n);
      off += n;
    }
  };
  await pipeline(Readable.from(pieces(), { objectMode: false }), tr, new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c);
      cb();
    },
  }));
  return Buffer.concat(parts);
}
function tool(cmd: string, args: string[], data: Buffer): Buffer {
  return execFileSync(cmd, args, { input: data, maxBuffer: 1 << 30 });
}

t.test('gzip backends: valid, the input back, deterministic, no timestamp or name', async (t) => {
  for (const backend of ['libdeflate', 'parallel', 'zlib', 'pako'] as const) {
    const a = await run(compressor('gzip', { backend })!, input);
    const b = await run(compressor('gzip', { backend })!, input);
    t.ok(a.equals(b), `${backend}: two runs, same bytes`);
    tool('gzip', ['-t'], a);
    t.ok(tool('gunzip', ['-c'], a).equals(input), `${backend}: gunzip gives the input back`);
    t.same([...a.subarray(0, 4)], [0x1f, 0x8b, 8, 0], `${backend}: deflate, no FNAME/FEXTRA/FCOMMENT flags`);
    t.equal(a.readUInt32LE(4), 0, `${backend}: header mtime 0`);
    t.equal(a[9], 3, `${backend}: OS byte Unix`);
  }
});

t.test('pako: level changes output; output matches zlib decoding for every level', async (t) => {
  const small = input.subarray(0, 200_000);
  const sizes: number[] = [];
  for (const level of [0, 1, 6, 9]) {
    const out = await run(compressor('gzip', { backend: 'pako', level })!, small);
    t.ok(zlib.gunzipSync(out).equals(small), `level ${level}`);
    sizes.push(out.length);
  }
  t.ok(sizes[0]! > sizes[1]! && sizes[1]! > sizes[3]!, 'higher level, smaller output');
});

t.test('parallel gzip: one valid stream whatever the concurrency, close to zlib in size', async (t) => {
  const ref = await run(compressor('gzip', { backend: 'zlib', level: 6 })!, input);
  const one = await run(new ParallelGzip(6, { concurrency: 1 }), input);
  const many = await run(new ParallelGzip(6, { concurrency: 8 }), input);
  t.ok(one.equals(many), 'output does not depend on concurrency');
  t.ok(Math.abs(many.length - ref.length) / ref.length < 0.02, `size ${many.length} within 2% of zlib ${ref.length}`);
  tool('gzip', ['-t'], many);
  t.ok(tool('gunzip', ['-c'], many).equals(input));

  for (const len of [0, 1, PARALLEL_GZIP_BLOCK - 1, PARALLEL_GZIP_BLOCK, 3 * PARALLEL_GZIP_BLOCK, 3 * PARALLEL_GZIP_BLOCK + 5]) {
    const data = input.subarray(0, len);
    const out = await run(new ParallelGzip(6), data);
    tool('gzip', ['-t'], out);
    t.ok(zlib.gunzipSync(out).equals(data), `length ${len} round-trips`);
  }
  for (const level of [1, 9]) {
    const out = await run(new ParallelGzip(level), input);
    t.ok(tool('gunzip', ['-c'], out).equals(input), `level ${level}`);
    t.equal(out[8], level === 9 ? 2 : 4, `XFL for level ${level} as zlib sets it`);
  }
});

t.test('zstd: zstd -dc gives the input back, deterministic, checksum on', async (t) => {
  const a = await run(compressor('zstd', {})!, input);
  const b = await run(compressor('zstd', { level: 3 })!, input);
  t.ok(a.equals(b), 'deterministic');
  t.ok(tool('zstd', ['-dc'], a).equals(input), 'round trip');
  t.equal(a.readUInt32LE(0), 0xfd2fb528, 'zstd frame magic');
  t.equal(a[4]! & 0x04, 0x04, 'frame header: content checksum flag set');
  tool('zstd', ['-t'], a);
  const l19 = await run(compressor('zstd', { level: 19 })!, input.subarray(0, 100_000));
  t.ok(tool('zstd', ['-dc'], l19).equals(input.subarray(0, 100_000)), 'level 19');
  const l1 = await run(compressor('zstd', { level: 1 })!, input);
  t.not(l1.length, a.length, 'the level is applied');
  const empty = await run(compressor('zstd', {})!, Buffer.alloc(0));
  t.equal(tool('zstd', ['-dc'], empty).length, 0, 'empty input');
});

t.test('zstd: output does not depend on the worker count', async (t) => {
  // Enough input for several jobs at level 1 (jobs are a few MiB), so the workers really split it.
  const big = Buffer.concat([input, input.subarray(0, 3_000_000), input, input.subarray(1000)]);
  const one = await run(new ZstdCompress(1, { workers: 1 }), big);
  const four = await run(new ZstdCompress(1, { workers: 4 }), big);
  const eight = await run(new ZstdCompress(1, { workers: 8 }), big);
  t.ok(one.equals(four) && one.equals(eight), 'same bytes for 1, 4 and 8 workers');
  t.ok(tool('zstd', ['-dc'], four).equals(big), 'round trip');
});

t.test('zstd: failures are ERR_COMPRESS; destroying midway cleans up', async (t) => {
  t.throws(() => new ZstdCompress(3, { workers: 0 }), { name: 'S2IError', code: 'ERR_COMPRESS' });
  // A failure inside libzstd (simulated: the binding throws) fails the stream with ERR_COMPRESS.
  const broken = new ZstdCompress(3);
  (broken as unknown as { cctx: { compressStream2: () => never } }).cctx.compressStream2 = () => {
    throw new Error('Allocation error : not enough memory');
  };
  await t.rejects(run(broken, input), { name: 'S2IError', code: 'ERR_COMPRESS', message: /not enough memory/ });

  // Aborting a pipeline midway: rejects with the abort, the transform is destroyed and lets go of its context.
  const ac = new AbortController();
  const z = new ZstdCompress(3);
  let seen = 0;
  const src = Readable.from((function* () {
    for (let i = 0; i < 1000; i++) yield input.subarray(0, 64 * 1024);
  })());
  const p = pipeline(src, z, new Writable({
    write(c: Buffer, _e, cb) {
      seen += c.length;
      if (seen > 0) ac.abort();
      cb();
    },
  }), { signal: ac.signal });
  await t.rejects(p, { name: 'AbortError' });
  t.ok(z.destroyed, 'destroyed');
  t.equal((z as unknown as { cctx: unknown }).cctx, undefined, 'native context released');
  // Writing after destroy is an error, not a crash.
  const late = await new Promise<Error | null | undefined>((resolve) => z.write(Buffer.from('late'), resolve));
  t.ok(late, 'late write fails');
});

t.test('none: no transform', async (t) => {
  t.equal(compressor('none'), null);
});

t.test('bad kind, backend or level', async (t) => {
  t.equal(compressionLevel('gzip', undefined), 6);
  t.equal(compressionLevel('zstd', undefined), 3);
  for (const [kind, level] of [['gzip', -1], ['gzip', 10], ['gzip', 1.5], ['zstd', 0], ['zstd', 20], ['gzip', Number.NaN]] as const) {
    t.throws(() => compressor(kind, { level }), { name: 'S2IError', code: 'ERR_BAD_COMPRESSION_LEVEL' }, `${kind} ${level}`);
  }
  t.throws(() => compressor('brotli' as 'gzip'), { code: 'ERR_BAD_COMPRESSION' });
  t.throws(() => compressor('gzip', { backend: 'igzip' as 'zlib' }), { code: 'ERR_BAD_COMPRESSION' });
});
