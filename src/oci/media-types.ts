// Media types (image-spec media-types.md, distribution manifest-v2-2.md). Pure constants and predicates.
import { S2IError } from '../errors.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'gzip' | 'zstd' | 'none';

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

/** Every manifest type the engine reads, in Accept-header order of preference. */
export const manifestAcceptTypes: readonly string[] = [
  MediaType.ociIndex,
  MediaType.dockerList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
];
