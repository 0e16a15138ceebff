// The origin registry of the sync tests: a two-platform OCI index of the busybox builder (this host's platform
// works for a build; the other one has an extra layer of its own), a Docker v2s2 tag, and what travels with the
// index: an artifact whose `subject` is the index (listed, as docker-registry 2.8 has no referrers API, in the
// referrers tag schema index `sha256-<hex>`), a cosign `.sig` tag for the index and a cosign `.att` tag for the
// host's platform image.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeBuilderImage, pushBuiltImage, type BuiltImage } from '../../src/demo/busybox-image.js';
import { buildManifest } from '../../src/image/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { hostPlatform } from '../../src/oci/platform.js';
import type { Descriptor } from '../../src/oci/types.js';
import { RegistryClient, type Repository } from '../../src/registry/client.js';

export interface Origin {
  repository: string;
  /** Tag 1.0: the index; its two images. */
  index: Descriptor;
  host: Descriptor;
  other: Descriptor;
  /** The layer only the other platform has. */
  otherLayer: Descriptor;
  /** Tag 1.1: a Docker v2s2 manifest. */
  docker: Descriptor;
  /** The artifact whose subject is the index, and the tag schema index listing it. */
  artifact: Descriptor;
  referrersIndex: Descriptor;
  sig: Descriptor;
  att: Descriptor;
  /** Every blob (config or layer) of tags 1.0 and 1.1. */
  imageBlobs: Set<string>;
  /** Every blob of the companions (artifact, .sig, .att). */
  companionBlobs: Set<string>;
}

async function blob(repo: Repository, bytes: Buffer, mediaType: string, annotations?: Record<string, string>): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...(annotations ? { annotations } : {}) };
  await repo.pushBlob(d, (o) => Readable.from([bytes.subarray(o)]));
  return d;
}

async function manifest(repo: Repository, doc: object, tag?: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const mediaType = (doc as { mediaType: string }).mediaType;
  const digest = await repo.pushManifest(tag ?? sha256Digest(bytes), bytes, mediaType);
  return { mediaType, digest, size: bytes.length };
}

/** An OCI 1.1 artifact about `subject` (artifactType, the empty config, one layer), pushed by digest only. */
export async function pushArtifact(repo: Repository, subject: Descriptor, content: string): Promise<Descriptor> {
  const empty = await blob(repo, Buffer.from('{}'), MediaType.ociEmpty);
  const payload = await blob(repo, Buffer.from(content), 'application/vnd.example.sbom.v1+json');
  const artifactType = 'application/vnd.example.sbom.v1';
  return { ...(await manifest(repo, { schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType, config: empty, layers: [payload], subject })), artifactType };
}

function descriptorOf(image: BuiltImage): Descriptor {
  return { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.length };
}

/** The other platform: the host's image with an extra layer and another architecture in its config. */
async function otherPlatform(scripts: string, dir: string): Promise<{ image: BuiltImage; architecture: string }> {
  const architecture = hostPlatform().architecture === 'arm64' ? 'amd64' : 'arm64';
  const base = await makeBuilderImage({ scriptsDir: scripts, format: 'oci', extraLayer: [{ name: 'platform.txt', content: architecture }] }, dir);
  const config = JSON.parse(base.config.toString()) as Record<string, unknown>;
  delete config.variant;
  const bytes = Buffer.from(JSON.stringify({ ...config, architecture }));
  const configDescriptor: Descriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(bytes), size: bytes.length };
  const m = buildManifest('oci', configDescriptor, base.layers.map((l) => l.descriptor));
  return { image: { ...base, config: bytes, configDescriptor, manifest: { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest } }, architecture };
}

export async function pushOrigin(registry: string, workDir: string, repository = 's2i/builder'): Promise<Origin> {
  const scripts = path.join(workDir, 'scripts');
  await mkdir(scripts, { recursive: true });
  await writeFile(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\necho "assembling"\ncp -Rf /tmp/src/. ./\necho built > built.txt\n', { mode: 0o755 });
  await writeFile(path.join(scripts, 'run'), '#!/bin/sh\ncat built.txt\n', { mode: 0o755 });
  await writeFile(path.join(scripts, 'usage'), '#!/bin/sh\necho usage\n', { mode: 0o755 });
  const dirs = await Promise.all(['host', 'other', 'docker'].map(async (n) => (await mkdir(path.join(workDir, n), { recursive: true }), path.join(workDir, n))));
  const hostImage = await makeBuilderImage({ scriptsDir: scripts, format: 'oci' }, dirs[0]!);
  const other = await otherPlatform(scripts, dirs[1]!);
  const dockerImage = await makeBuilderImage({ scriptsDir: scripts, format: 'docker', labels: { tag: '1.1' } }, dirs[2]!);
  const client = new RegistryClient();
  try {
    const repo = client.repository(registry, repository);
    const hp = hostPlatform();
    const host = descriptorOf(hostImage);
    const otherDesc = descriptorOf(other.image);
    await pushBuiltImage(repo, hostImage, host.digest);
    await pushBuiltImage(repo, other.image, otherDesc.digest);
    const index = await manifest(
      repo,
      {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...host, platform: { os: 'linux', architecture: hp.architecture, ...(hp.variant ? { variant: hp.variant } : {}) } },
          { ...otherDesc, platform: { os: 'linux', architecture: other.architecture } },
        ],
      },
      '1.0',
    );
    const docker = { ...descriptorOf(dockerImage), digest: await pushBuiltImage(repo, dockerImage, '1.1') };

    // An artifact about the index, and the referrers tag schema index a client writes for it where the registry
    // has no referrers API.
    const artifact = await pushArtifact(repo, index, '{"sbom":"the index"}');
    const hex = (d: Descriptor) => d.digest.slice('sha256:'.length);
    const referrersIndex = await manifest(repo, { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [artifact] }, `sha256-${hex(index)}`);

    // cosign's tags: a signature of the index, an attestation of this host's image.
    const cosignConfig = await blob(repo, Buffer.from('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'), MediaType.ociConfig);
    const sigLayer = await blob(repo, Buffer.from(`{"critical":{"image":{"docker-manifest-digest":"${index.digest}"}}}`), 'application/vnd.dev.cosign.simplesigning.v1+json', { 'dev.cosignproject.cosign/signature': 'MEUCIQ-test' });
    const sig = await manifest(repo, { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cosignConfig, layers: [sigLayer] }, `sha256-${hex(index)}.sig`);
    const attLayer = await blob(repo, Buffer.from(`{"payloadType":"application/vnd.in-toto+json","subject":"${host.digest}"}`), 'application/vnd.dsse.envelope.v1+json');
    const att = await manifest(repo, { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cosignConfig, layers: [attLayer] }, `sha256-${hex(host)}.att`);

    const layersOf = (i: BuiltImage) => [i.configDescriptor.digest, ...i.layers.map((l) => l.descriptor.digest)];
    return {
      repository,
      index,
      host,
      other: otherDesc,
      otherLayer: other.image.layers[other.image.layers.length - 1]!.descriptor,
      docker,
      artifact,
      referrersIndex,
      sig,
      att,
      imageBlobs: new Set([...layersOf(hostImage), ...layersOf(other.image), ...layersOf(dockerImage)]),
      companionBlobs: new Set([sha256Digest(Buffer.from('{}')), sha256Digest(Buffer.from('{"sbom":"the index"}')), cosignConfig.digest, sigLayer.digest, attLayer.digest]),
    };
  } finally {
    await client.close();
  }
}
