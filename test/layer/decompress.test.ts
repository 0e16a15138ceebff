import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { decompressor, layerCompression } from '../../src/layer/decompress.js';
import { MediaType } from '../../src/oci/media-types.js';

async function run(mediaType: string, input: Buffer): Promise<Buffer> {
  const d = decompressor(mediaType);
  const src = Readable.from([input]);
  const out: Buffer[] = [];
  for await (const c of d ? src.pipe(d) : src) out.push(c as Buffer);
  return Buffer.concat(out);
}

const data = Buffer.from('hello layer '.repeat(50000));

t.test('media types map to compressions (Docker and OCI names)', async (t) => {
  t.equal(layerCompression(MediaType.dockerLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.dockerForeignLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.ociLayerGzip), 'gzip');
  t.equal(layerCompression(MediaType.ociLayerZstd), 'zstd');
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

t.test('zstd round trip and corrupt zstd', async (t) => {
  const z = execFileSync('zstd', ['-c', '-q'], { input: data });
  t.same(await run(MediaType.ociLayerZstd, z), data);
  await t.rejects(run(MediaType.ociLayerZstd, z.subarray(0, z.length - 8)), /zstd -dc failed/, 'truncated');
  await t.rejects(run(MediaType.ociLayerZstd, Buffer.from('not zstd at all')), /zstd -dc failed/);
});
