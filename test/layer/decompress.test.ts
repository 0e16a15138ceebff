// Decompression by media type. zstd goes through zstd-napi; the `zstd` command is only an oracle here: what it
// writes must decode with ours (tests of our output against `zstd -dc` are in compress.test.ts).
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import t from 'tap';
import { corruptLayerError, decompressor, layerCompression, ZstdDecompress } from '../../src/layer/decompress.js';
import { MediaType } from '../../src/oci/media-types.js';

async function run(mediaType: string, input: Buffer, piece = input.length || 1): Promise<Buffer> {
  const d = decompressor(mediaType);
  const parts: Buffer[] = [];
  for (let off = 0; off < input.length; off += piece) parts.push(input.subarray(off, off + piece));
  const src = Readable.from(parts);
  const out: Buffer[] = [];
  for await (const c of d ? src.pipe(d) : src) out.push(c as Buffer);
  return Buffer.concat(out);
}
function zstdCli(args: string[], input: Buffer): Buffer {
  return execFileSync('zstd', args, { input, maxBuffer: 1 << 30 });
}

const data = Buffer.from('hello layer '.repeat(50000));
const corrupt = { name: 'S2IError', code: 'ERR_LAYER_CORRUPT' };

t.test('media types map to compressions (Docker and OCI names)', async (t) => {
  t.equal(layerCompression(MediaType.dockerLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.dockerForeignLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.ociLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.ociLayerZstd), 'zstd');
  t.equal(layerCompression(MediaType.ociLayerNonDistributableZstd), 'zstd');
  t.equal(layerCompression(MediaType.ociLayer), 'none');
  t.equal(layerCompression(MediaType.dockerLayer), 'none');
  t.equal(decompressor(MediaType.ociLayer), null);
  t.throws(() => decompressor('application/json'), { code: 'ERR_LAYER_MEDIA_TYPE' });
  t.throws(() => decompressor(MediaType.ociManifest), { code: 'ERR_LAYER_MEDIA_TYPE' });
});

t.test('gzip round trip and truncated gzip', async (t) => {
  t.same(await run(MediaType.ociLayerGzip, zlib.gzipSync(data)), data);
  const gz = zlib.gzipSync(data);
  await t.rejects(run(MediaType.dockerLayerGzip, gz.subarray(0, gz.length - 30)));
});

t.test('zstd: what the zstd command writes decodes, in any piece size', async (t) => {
  const z = zstdCli(['-c', '-q'], data);
  t.same(await run(MediaType.ociLayerZstd, z), data, 'one chunk');
  t.same(await run(MediaType.ociLayerZstd, z, 1), data, '1-byte chunks');
  t.same(await run(MediaType.ociLayerZstd, z, 777), data, '777-byte chunks');
  const l19 = zstdCli(['-c', '-q', '-19', '-T0'], data);
  t.same(await run(MediaType.ociLayerZstd, l19), data, 'level 19 multi-threaded');
  // Several frames and a skippable frame (zstd format spec, "Skippable frames") are one stream.
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
  const multi = Buffer.concat([z, skippable, zstdCli(['-c', '-q'], Buffer.from('tail'))]);
  t.same(await run(MediaType.ociLayerZstd, multi, 4096), Buffer.concat([data, Buffer.from('tail')]), 'frames + skippable');
  const empty = zstdCli(['-c', '-q'], Buffer.alloc(0));
  t.equal((await run(MediaType.ociLayerZstd, empty)).length, 0, 'a frame of nothing');
});

t.test('zstd: bad input is ERR_LAYER_CORRUPT', async (t) => {
  const z = zstdCli(['-c', '-q'], data);
  await t.rejects(run(MediaType.ociLayerZstd, z.subarray(0, z.length - 8)), { ...corrupt, message: /truncated/ }, 'truncated frame');
  await t.rejects(run(MediaType.ociLayerZstd, z.subarray(0, 3)), { ...corrupt, message: /truncated/ }, 'cut inside the header');
  await t.rejects(run(MediaType.ociLayerZstd, Buffer.from('not zstd at all')), { ...corrupt, message: /Unknown frame descriptor/ }, 'garbage');
  await t.rejects(run(MediaType.ociLayerZstd, Buffer.alloc(0)), { ...corrupt, message: /empty input/ }, 'no bytes at all');
  await t.rejects(run(MediaType.ociLayerZstd, Buffer.concat([z, Buffer.from('trailing junk')])), corrupt, 'junk after the frame');
  const flipped = Buffer.from(z);
  flipped[flipped.length - 2]! ^= 0xff; // inside the content checksum
  await t.rejects(run(MediaType.ociLayerZstd, flipped), { ...corrupt, message: /checksum/i }, 'bad checksum');
  // A frame asking for a 2 GiB window is refused (the decoder's memory is capped at 128 MiB of window).
  const long = zstdCli(['-c', '-q', '--long=31'], data);
  await t.rejects(run(MediaType.ociLayerZstd, long), { ...corrupt, message: /memory|window/i }, 'window over the limit');

  // corruptLayerError names the layer; other errors keep their meaning.
  const e = await run(MediaType.ociLayerZstd, Buffer.from('nope')).catch((x: unknown) => x);
  t.match(corruptLayerError(e, 'layer sha256:abc'), { code: 'ERR_LAYER_CORRUPT', message: /^layer sha256:abc is corrupt \(zstd: Unknown frame descriptor\)/ });
  t.match(corruptLayerError(new Error('boom'), 'layer x'), { code: 'ERR_LAYER_CORRUPT', message: /layer x is corrupt \(boom\)/ });
  const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
  t.equal(corruptLayerError(abort, 'layer x'), abort);
});

t.test('zstd: a bomb is decoded with bounded buffering (backpressure inside a chunk)', async (t) => {
  const size = 256 * 1024 * 1024;
  const bomb = zstdCli(['-c', '-q', '-19'], Buffer.alloc(size));
  t.ok(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes`);
  const d = new ZstdDecompress();
  d.write(bomb); // one chunk that expands 10000×
  await new Promise((r) => setImmediate(r));
  t.ok(d.readableLength <= 512 * 1024, `buffered ${d.readableLength} bytes while nobody reads`);
  let total = 0;
  let maxBuffered = 0;
  d.end();
  await pipeline(d, new Writable({
    write(c: Buffer, _e, cb) {
      total += c.length;
      maxBuffered = Math.max(maxBuffered, d.readableLength);
      setImmediate(cb); // a slow reader
    },
  }));
  t.equal(total, size, 'all bytes out');
  t.ok(maxBuffered <= 512 * 1024, `never more than ${maxBuffered} bytes buffered`);
});

t.test('zstd: aborting mid-stream cleans up', async (t) => {
  const z = zstdCli(['-c', '-q', '-1'], Buffer.alloc(64 * 1024 * 1024, 'x'));
  const ac = new AbortController();
  const d = new ZstdDecompress();
  let got = 0;
  const p = pipeline(Readable.from([z]), d, new Writable({
    write(c: Buffer, _e, cb) {
      got += c.length;
      if (got > 1024 * 1024) ac.abort();
      cb();
    },
  }), { signal: ac.signal });
  await t.rejects(p, { name: 'AbortError' });
  t.ok(d.destroyed, 'decompressor destroyed');
  t.ok(got < 64 * 1024 * 1024, 'stopped before the end');
  t.equal((d as unknown as { dctx: unknown }).dctx, undefined, 'native context released');
  // destroy() on a fresh one is fine too
  const fresh = new ZstdDecompress();
  fresh.destroy();
  await new Promise((r) => fresh.once('close', r));
  t.ok(fresh.destroyed);
});
