// What a build is asked to do, as typed values: the CLI (cli/commands/build-options.ts) parses every flag string
// once and decides every default (format, compression, check, timestamp, pull policies); the pipeline only
// reads these. What cannot be known before the builder is pulled (WORKDIR for relative bind destinations, the
// builder's labels) is resolved by the steps.
import type { ImageFormat, Platform } from '../oci/types.js';
import type { CompatProfile } from '../image/compat.js';
import type { Compression } from '../layer/compress.js';
import type { UidRange } from '../s2i/allowed-uids.js';
import type { EnvList } from '../s2i/environment.js';
import type { ImageLocation } from '../transport/parse.js';
import type { EngineOptions } from './context.js';
import type { SigningKey } from '../sign/key.js';
import type { Injection } from './injections.js';
import type { BindSpec, HostEntry } from './mounts.js';
import type { PullPolicy } from './pull.js';
import type { RuntimeArtifact } from './runtime-stage.js';
import type { OnBuildStrategy } from './build.js';

/** --incremental: the previous image (`--incremental-from`, else the TAG) and when to fetch it. */
export interface IncrementalOptions {
  from: ImageLocation;
  pullPolicy: PullPolicy;
}

/** --runtime-image and the flags that go with it. */
export interface RuntimeImageOptions {
  image: ImageLocation;
  /** -a SRC[:DST]; empty: the builder's assemble-input-files label. */
  artifacts: RuntimeArtifact[];
  pullPolicy: PullPolicy;
  assembleRuntimeUser?: string;
}

export type Isolation = 'auto' | 'sandbox' | 'in-image';

/** What a pushed build attaches to its image (pipeline/attest.ts). */
export interface AttestOptions {
  /** SLSA provenance: with the run's times and an invocation id, deterministic (the image's created time for both,
   *  no id: a reproducible build's provenance is the same bytes too), or none. */
  provenance: 'full' | 'deterministic' | false;
  /** The SBOM's format, or none. */
  sbom: 'spdx' | 'cyclonedx' | 'none';
  /** runDetails.builder.version. */
  engineVersion: string;
}

export interface BuildOptions extends EngineOptions {
  /** Local directory or git URL (`https://`, `file://`, `git@host:path`, with optional `#ref`). */
  source: string;
  builder: ImageLocation;
  /** BUILDER as the user wrote it (label io.openshift.s2i.build.image, as s2i: no added registry or `:latest`). */
  builderName?: string;
  /** Where the result goes (named by tag: a registry destination with a digest is refused when parsed). */
  target: ImageLocation;
  /** The result's format, decided once (--format, else the destination transport's default). */
  format: ImageFormat;
  compression: Compression;
  compressionLevel?: number;
  /** Refuse to push a result this importer would reject (image/compat.ts); false: no check. */
  check: CompatProfile | false;
  /**
   * Build timestamp, unix seconds (--timestamp, SOURCE_DATE_EPOCH, 0 for --reproducible): new-layer mtimes
   * clamped to it, config and history `created` set to it. Absent: the current time, mtimes as they are.
   */
  timestamp?: number;
  /** Bit-reproducible output: the pako gzip backend. */
  reproducible?: boolean;
  platform?: Platform;
  pullPolicy: PullPolicy;
  runtime?: string;
  /**
   * Where assemble runs (default auto): `sandbox`, a runc/crun container on the builder's unpacked layers;
   * `in-image`, this process's own container, which is the builder (in-image.ts): no namespace, mount or runtime;
   * `auto`, the sandbox, with the fallbacks where this host or pod refuses part of it: a user namespace for root
   * without CAP_SYS_ADMIN and one ID where no range can be mapped (sandbox/namespace.ts), a copied rootfs where
   * overlay cannot be mounted (copied-rootfs.ts). `sandbox` takes none of them: the sandbox error (exit 13).
   */
  isolation?: Isolation;
  /** -e NAME=VALUE, in order. */
  env: EnvList;
  /** -E files, in order (read when the build starts, after .s2i/environment). */
  envFiles: string[];
  /** --build-env: assemble sees them, the image does not. */
  buildEnv: EnvList;
  scriptsUrl?: string;
  /** --image-scripts-url: where the builder's scripts are, instead of its label. */
  imageScriptsUrl?: string;
  destination?: string;
  assembleUser?: string;
  /** --label NAME=VALUE */
  labels: Record<string, string>;
  /** --annotation NAME=VALUE: over the pre-defined OCI annotations (image/annotations.ts); labels in Docker format. */
  annotations?: Record<string, string>;
  applicationName?: string;
  description?: string;
  /** --allowed-uids; empty: no policy. */
  allowedUids: UidRange[];
  network: 'host' | 'none';
  capDrop: string[];
  exclude?: string;
  /** Do not push; only write the image into the local store. */
  noPush?: boolean;
  /**
   * --sign-by-sigstore-private-key: the decrypted key the pushed image is signed with (pipeline/push.ts
   * signPushed); a registry destination only (checked when the flags are parsed).
   */
  signingKey?: SigningKey;
  /** --ref (git sources) */
  ref?: string;
  /** --context-dir */
  contextDir?: string;
  /** Fetch git submodules (default true). */
  submodules?: boolean;
  /** -c/--copy: a local git repository's working tree as it is (default: its committed tree, cloned). */
  copy?: boolean;
  incremental?: IncrementalOptions;
  runtimeImage?: RuntimeImageOptions;
  /** --inject: copied in for assemble, removed after it (injections.ts). */
  injections: Injection[];
  /** -v/--volume binds, in order. */
  binds: BindSpec[];
  /** --add-host */
  addHosts: HostEntry[];
  callbackUrl?: string;
  /** Keep the build directory and report it (BuildResult.tempDir). */
  saveTempDir?: boolean;
  keepSymlinks?: boolean;
  /**
   * s2i's onbuild strategy, run instead of the S2I scripts when the builder has ONBUILD triggers (the CLI gives
   * containerfile/onbuild.ts: pipeline/ does not import containerfile/). Absent: the triggers are not run (warned).
   */
  onBuildStrategy?: OnBuildStrategy;
  /** --block-onbuild: never run the builder's ONBUILD triggers; build with its S2I scripts (s2i's BlockOnBuild). */
  blockOnBuild?: boolean;
  /** Cap on the save-artifacts tar (bytes). */
  artifactsMaxBytes?: number;
  /** Attestations and SBOM attached to the pushed image; absent: none. */
  attest?: AttestOptions;
}
