// `append(image, layer, configEdits)`: one new layer on top of a base image, as a pure function (go-containerregistry's
// mutate.Append + mutate.Config). The config gets the layer's diffID and history entry and the edits (Cmd, Env,
// Labels, …); its bytes are canonical JSON and the manifest is built in the chosen format (fixed key order), so the
// same inputs always give the same digests. `build`'s commit uses it (build/build.ts).
import { sha256Digest } from '../oci/digest.js';
import type { ContainerConfig, Descriptor, History, ImageConfig, ImageFormat } from '../oci/types.js';
import { appendLayer, configMediaType, serializeConfig, setConfigFields } from './config.js';
import { buildManifest, type BuildManifestOptions, type BuiltManifest } from './manifest.js';

export interface AppendBase {
  config: ImageConfig;
  /** The base's layer descriptors as the result carries them (already converted for `format` where needed). */
  layers: readonly Descriptor[];
}

export interface AppendedLayer {
  descriptor: Descriptor;
  diffID: string;
}

export interface ConfigEdits {
  /** The layer's history entry; its `created` becomes the image's. */
  history: History;
  /** Container config fields to set (setConfigFields: `undefined` removes one). */
  fields?: Partial<ContainerConfig>;
}

export interface AppendedImage {
  config: ImageConfig;
  configBytes: Buffer;
  configDescriptor: Descriptor;
  /** Base layers, then the new one. */
  layers: Descriptor[];
  manifest: BuiltManifest;
}

/** `manifest`: the manifest's own annotations (OCI only: buildManifest drops them for Docker). */
export function append(base: AppendBase, layer: AppendedLayer, edits: ConfigEdits, format: ImageFormat, manifest: BuildManifestOptions = {}): AppendedImage {
  let config = appendLayer(base.config, layer.diffID, edits.history);
  if (edits.fields) config = setConfigFields(config, edits.fields);
  const configBytes = serializeConfig(config);
  const configDescriptor: Descriptor = { mediaType: configMediaType(format), digest: sha256Digest(configBytes), size: configBytes.length };
  const layers = [...base.layers, layer.descriptor];
  return { config, configBytes, configDescriptor, layers, manifest: buildManifest(format, configDescriptor, layers, manifest) };
}
