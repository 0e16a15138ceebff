// The libdeflate engine of parallel gzip (native/deflate.c): every block but the last is made non-final and
// ended with an empty stored block by walking the DEFLATE blocks libdeflate wrote, so the joined blocks must be
// one valid stream for independent decoders (GNU gunzip, busybox gunzip, zlib), at every level and for stored,
// fixed-Huffman and dynamic-Huffman blocks alike. CRC-32s are combined from per-block CRCs.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { nativeDeflate, type NativeDeflate } from '../../src/sys/native.js';
import { ParallelGzip, LIBDEFLATE_GZIP_BLOCK } from '../../src/layer/parallel-gzip.js';
import { compressor, defaultGzipBackend } from '../../src/layer/compress.js';
import { BufferPool } from '../../src/layer/buffer-pool.js';
import { writeLayer } from '../../src/layer/write.js';
import { tarChunks } from '../../src/layer/tar-writer.js';

const lib = nativeDeflate();
if (!lib) {
  t.fail('build/deflate.node was not built: setup installs libdeflate-dev for the tests');
  t.end();
  process.exit(1);
}
const native: NativeDeflate = lib;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libdeflate-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

let seed = 7;
const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
/** kind 0: random bytes (stored blocks), 1: one byte repeated, 2: text-like (dynamic Huffman). */
function data(n: number, kind: number): Buffer {
  if (kind === 0) return randomBytes(n);
  if (kind === 1) return Buffer.alloc(n, 0x61);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rnd() % 10 < 8 ? 0x61 + (i % 13) : rnd() & 0xff;
  return b;
}

function deflateBlock(input: Buffer, level: number, last: boolean): Promise<{ out: Buffer; crc: number }> {
  const out = Buffer.alloc(native.deflateBound(input.length), 0xa5); // garbage around: nothing may rely on zeros
  return new Promise((resolve, reject) =>
    native.deflateBlock(input, out, level, last, (err, n, crc) => (err ? reject(err) : resolve({ out: out.subarray(0, n), crc }))),
  );
}

function tool(cmd: string, args: string[], input: Buffer): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
}

function gzipOf(raw: Buffer, crc: number, length: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), raw, trailer]);
}

t.test('joined blocks are one DEFLATE stream at every level, for every block type', async (t) => {
  for (let level = 0; level <= 12; level++) {
    for (const kind of [0, 1, 2]) {
      const sizes = [0, 1, 100, 70_000, 300_001];
      const parts = sizes.map((n) => data(n, kind));
      const outs: Buffer[] = [];
      let crc = 0;
      for (const [i, p] of parts.entries()) {
        const r = await deflateBlock(p, level, i === parts.length - 1);
        t.equal(r.crc, zlib.crc32(p), `level ${level} kind ${kind} part ${i}: CRC of the input`);
        crc = native.crc32Combine(crc, r.crc, p.length);
        outs.push(r.out);
      }
      const whole = Buffer.concat(parts);
      t.equal(crc, zlib.crc32(whole), `level ${level} kind ${kind}: combined CRC`);
      const raw = Buffer.concat(outs);
      t.ok(zlib.inflateRawSync(raw).equals(whole), `level ${level} kind ${kind}: zlib inflates the joined stream`);
      const gz = gzipOf(raw, crc, whole.length);
      if (level % 4 === 0 || level === 6) {
        t.ok(tool('gunzip', ['-c'], gz).equals(whole), `level ${level} kind ${kind}: GNU gunzip`);
        t.ok(tool('busybox', ['gunzip', '-c'], gz).equals(whole), `level ${level} kind ${kind}: busybox gunzip`);
      }
    }
  }
});

t.test('a non-final block ends like Z_SYNC_FLUSH: byte-aligned, BFINAL clear, empty stored block', async (t) => {
  for (const kind of [0, 1, 2]) {
    const { out } = await deflateBlock(data(50_000, kind), 6, false);
    t.same([...out.subarray(out.length - 4)], [0, 0, 0xff, 0xff], `kind ${kind}: ends with LEN=0 NLEN=0xffff`);
    // Inflating it alone must not reach the end of a stream (no BFINAL anywhere).
    const inf = zlib.createInflateRaw();
    const got: Buffer[] = [];
    inf.on('data', (c: Buffer) => got.push(c));
    let ended = false;
    inf.on('end', () => (ended = true));
    inf.write(out);
    await new Promise((r) => inf.flush(zlib.constants.Z_SYNC_FLUSH, () => r(undefined)));
    t.equal(Buffer.concat(got).length, 50_000, `kind ${kind}: all the data decodes`);
    t.notOk(ended, `kind ${kind}: the stream is not final`);
    inf.destroy();
  }
});

t.test('crc32Combine: matches zlib and is associative for any lengths (up to 2^50 bytes)', async (t) => {
  const a = data(1000, 2);
  const b = data(12345, 0);
  t.equal(native.crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length), zlib.crc32(Buffer.concat([a, b])));
  t.equal(native.crc32Combine(zlib.crc32(a), 0, 0), zlib.crc32(a), 'empty B');
  t.equal(native.crc32Combine(0, zlib.crc32(b), b.length), zlib.crc32(b), 'empty A');
  t.equal(native.crc32(a), zlib.crc32(a), 'crc32 agrees with zlib');
  for (const [la, lb] of [[2 ** 32 + 7, 3], [2 ** 40, 2 ** 33 + 1], [2 ** 50, 1]] as const) {
    const [x, y, z] = [0x12345678, 0x9abcdef0, 0x0fedcba9];
    const left = native.crc32Combine(native.crc32Combine(x, y, la), z, lb);
    const right = native.crc32Combine(x, native.crc32Combine(y, z, lb), la + lb);
    t.equal(left, right, `(x·y)·z = x·(y·z) with lengths ${la}, ${lb}`);
  }
});

t.test('bad arguments are refused before any work', async (t) => {
  const input = Buffer.alloc(1000);
  t.throws(() => native.deflateBlock(input, Buffer.alloc(10), 6, true, () => {}), { name: 'RangeError' }, 'output smaller than the bound');
  t.throws(() => native.deflateBlock(input, Buffer.alloc(native.deflateBound(1000)), 13, true, () => {}), { name: 'RangeError' }, 'level 13');
  t.throws(() => native.deflateBlock('x' as unknown as Buffer, Buffer.alloc(10), 6, true, () => {}), { name: 'TypeError' }, 'input not a Buffer');
  t.throws(() => native.deflateBound(-1), { name: 'RangeError' });
  t.throws(() => native.crc32Combine(1, 2, -1), { name: 'RangeError' });
});

async function run(tr: Transform, input: Buffer, pieces: number[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const gen = function* () {
    for (let off = 0, k = 0; off < input.length; k++) {
      const n = pieces[k % pieces.length]!;
      yield input.subarray(off, off + n);
      off += n;
    }
  };
  await pipeline(Readable.from(gen(), { objectMode: false }), tr, new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c);
      cb();
    },
  }));
  return Buffer.concat(parts);
}

/** Like a layer: text lines, machine code (a slice of the node binary), a run of one byte, random bytes. */
function layerLike(): Buffer {
  const words = ['usr', 'lib', 'share', 'bin', 'locale', 'python3', 'site-packages', 'LICENSE', 'README', '__init__'];
  const lines: string[] = [];
  for (let i = 0; i < 60_000; i++) lines.push(`${words[rnd() % 10]}/${words[rnd() % 10]}/${rnd().toString(36)} ${i}`);
  const fd = fs.openSync(process.execPath, 'r');
  const bin = Buffer.alloc(2_000_000);
  fs.readSync(fd, bin, 0, bin.length, 4_000_000);
  fs.closeSync(fd);
  return Buffer.concat([Buffer.from(lines.join('\n')), bin, data(300_000, 1), data(200_000, 0), data(333, 2)]);
}

t.test('ParallelGzip libdeflate: same bytes whatever the chunking and concurrency, gunzip-able, near zlib size', async (t) => {
  const input = layerLike();
  const a = await run(new ParallelGzip(6, { engine: 'libdeflate', concurrency: 1 }), input, [LIBDEFLATE_GZIP_BLOCK]);
  const b = await run(new ParallelGzip(6, { engine: 'libdeflate', concurrency: 16 }), input, [1, 511, 65536, 300_000, 7]);
  t.ok(a.equals(b), 'output depends only on the input');
  t.ok(tool('gunzip', ['-c'], a).equals(input), 'gunzip gives the input back');
  const ref = zlib.gzipSync(input, { level: 6 });
  t.ok(Math.abs(a.length - ref.length) / ref.length < 0.02, `size ${a.length} within 2 % of zlib's ${ref.length}`);
  for (const len of [0, 1, LIBDEFLATE_GZIP_BLOCK - 1, LIBDEFLATE_GZIP_BLOCK, 2 * LIBDEFLATE_GZIP_BLOCK + 1]) {
    const d = input.subarray(0, len);
    const out = await run(new ParallelGzip(1, { engine: 'libdeflate' }), d, [100_000]);
    t.ok(zlib.gunzipSync(out).equals(d), `length ${len} round-trips`);
  }
  t.equal(defaultGzipBackend(), 'libdeflate', 'the default backend when the addon is built');
});

t.test('pooled chunks are reused only after their block is deflated: same layer bytes as without the pool', async (t) => {
  const dir = path.join(tmp, 'tree');
  for (let i = 0; i < 40; i++) {
    fs.mkdirSync(path.join(dir, `d${i % 5}`), { recursive: true });
    fs.writeFileSync(path.join(dir, `d${i % 5}`, `f${i}`), data(40_000 + i * 5_000, i % 3));
  }
  const sink = (parts: Buffer[]): Writable => new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(Buffer.from(c));
      cb();
    },
  });
  const pooled: Buffer[] = [];
  const r1 = await writeLayer(dir, sink(pooled), { backend: 'libdeflate', overlayWhiteouts: false }); // pools its chunks
  const plain: Buffer[] = [];
  const tarParts: Buffer[] = [];
  const r2 = await writeLayer(dir, sink(tarParts), { compression: 'none', overlayWhiteouts: false });
  await run(compressor('gzip', { backend: 'libdeflate' })!, Buffer.concat(tarParts), [LIBDEFLATE_GZIP_BLOCK]).then((b) => plain.push(b));
  t.ok(Buffer.concat(pooled).equals(Buffer.concat(plain)), 'pooled writer = tar then compress');
  t.equal(r1.diffID, r2.diffID, 'same tar');
  t.ok(zlib.gunzipSync(Buffer.concat(pooled)).equals(Buffer.concat(tarParts)), 'decodes to the tar');

  const pool = new BufferPool(4096, 2);
  const x = pool.acquire();
  const stranger = Buffer.alloc(4096);
  pool.release(stranger);
  pool.releaseView(stranger.subarray(0, 10));
  t.not(pool.acquire(), stranger, 'a buffer the pool did not make is never handed out');
  pool.release(x);
  pool.release(x);
  t.equal(pool.acquire(), x, 'a released buffer is reused');
  t.not(pool.acquire(), x, '… once');
  pool.releaseView(x.subarray(1, 10));
  t.not(pool.acquire(), x, 'a view that does not start the buffer does not give it back');
  pool.releaseView(x.subarray(0, 10));
  t.equal(pool.acquire(), x, 'a view from offset 0 gives its buffer back');
  t.throws(() => new BufferPool(100), { name: 'RangeError' }, 'small buffers would share a slab');
});

t.test('the tar writer hands on a large file chunk by chunk: memory never holds a whole file', async (t) => {
  const dir = path.join(tmp, 'big');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'big.bin'), data(24 << 20, 1));
  const pool = new BufferPool(1 << 20);
  let out = 0;
  let most = 0;
  const acquire = pool.acquire.bind(pool);
  pool.acquire = () => {
    out++;
    return acquire();
  };
  for await (const chunk of tarChunks(dir, { overlayWhiteouts: false, pool }, { entries: 0 })) {
    most = Math.max(most, out);
    if (pool.owns(chunk)) {
      pool.release(chunk);
      out--;
    }
  }
  t.ok(most <= 3, `at most ${most} chunks of 1 MiB were out at once for a 24 MiB file`);
});
