// The one rule for which layers must become gzip (image/convert.ts needsGzip), as `copy` asks it (plain
// layers gzipped on request, e.g. out of a docker-archive) and as `build` asks it (build/convert-layers.ts:
// plain layers too, for the Docker format only). Foreign layers are never rewritten; a media type that is no
// layer is refused only when the answer depends on it.
import t from 'tap';
import { needsGzipFor } from '../../src/pipeline/convert-layers.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { ImageFormat } from '../../src/oci/types.js';
import { needsGzip } from '../../src/image/convert.js';

t.test('needsGzip: zstd for Docker, plain tar when asked, foreign and gzip layers never', async (t) => {
  const table: Array<[string, ImageFormat, boolean, boolean]> = [
    [MediaType.ociLayerZstd, 'docker', false, true],
    [MediaType.ociLayerZstd, 'docker', true, true],
    [MediaType.ociLayerZstd, 'oci', true, false],
    [MediaType.ociLayerZstd, 'oci', false, false],
    [MediaType.ociLayer, 'oci', true, true],
    [MediaType.dockerLayer, 'oci', true, true],
    [MediaType.ociLayer, 'docker', false, false],
    [MediaType.dockerLayer, 'docker', false, false],
    [MediaType.ociLayer, 'docker', true, true],
    [MediaType.ociLayer, 'oci', false, false],
    [MediaType.ociLayerGzip, 'docker', true, false],
    [MediaType.dockerLayerGzip, 'oci', true, false],
    [MediaType.ociLayerNonDistributable, 'oci', true, false],
    [MediaType.ociLayerNonDistributableZstd, 'docker', true, false],
    [MediaType.dockerForeignLayerGzip, 'docker', true, false],
  ];
  for (const [mt, format, plain, want] of table) t.equal(needsGzip(mt, format, plain), want, `${mt} → ${format}${plain ? ', plain layers gzipped' : ''}`);
  t.throws(() => needsGzip('application/json', 'docker', false), { code: 'ERR_LAYER_MEDIA_TYPE' });
  t.throws(() => needsGzip('application/json', 'oci', true), { code: 'ERR_LAYER_MEDIA_TYPE' });
  t.equal(needsGzip('application/json', 'oci', false), false, 'nothing to decide: the media type is not looked at');
});

t.test("build's question is needsGzip with plain layers gzipped exactly for Docker", async (t) => {
  const types = [MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.dockerLayer, MediaType.dockerLayerGzip, MediaType.ociLayerNonDistributable, MediaType.dockerForeignLayerGzip];
  for (const mt of types) for (const f of ['docker', 'oci'] as const) t.equal(needsGzipFor(f, mt), needsGzip(mt, f, f === 'docker'), `${mt} → ${f}`);
});
