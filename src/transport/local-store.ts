// `local:NAME|ID`: an image of the engine's local store (an OCI layout under <root>/oci, spec/store-format.md) as an
// ImageSource. The store itself is reached through `TransportContext.local` (pipeline/local-images.ts looks the name
// or ID up and gives the store as a destination): transport/ does not import store/.
import type { Readable } from 'node:stream';
import { S2IError } from '../errors.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import { OciLayout } from './oci-layout.js';
import type { ImageSource, LocalImages, TransportContext, TransportName } from './types.js';

/** The context's local store, or a one-line refusal where none is given. */
export function localImagesOf(ctx: TransportContext, name: string): LocalImages {
  if (ctx.local) return ctx.local;
  throw new S2IError('ERR_USAGE', `${name}: local images cannot be used here`, { step: 'usage' });
}

export async function openLocalSource(local: LocalImages, nameOrId: string, name: string): Promise<ImageSource> {
  const found = await local.find(nameOrId);
  return new LocalStoreSource(await OciLayout.openExisting(found.layoutDir), found.descriptor, name);
}

class LocalStoreSource implements ImageSource {
  readonly transport: TransportName = 'local';
  constructor(
    private readonly layout: OciLayout,
    private readonly top: Descriptor,
    readonly name: string,
  ) {}

  async resolve(): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    return { descriptor: this.top, bytes: await this.layout.readSmall(this.top, MAX_MANIFEST_BYTES) };
  }

  fetchManifest(desc: Descriptor): Promise<Buffer> {
    return this.layout.readSmall(desc, MAX_MANIFEST_BYTES);
  }

  fetchBlob(desc: Descriptor): Promise<Readable> {
    return this.layout.open(desc);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
