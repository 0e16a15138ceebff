// The attestations of a pushed build: SLSA provenance (attest/provenance.ts) in a DSSE envelope, signed when a key
// was given, attached next to the image (attest/attach.ts: referrers or cosign tags). The provenance's parameters
// are picked here from the typed options, flag by flag: -e and --build-env values, -E files, --inject, --volume,
// --callback-url and credentials have no place in it (names of the variables only), and URLs lose their user and
// password.
import { attach, type AttachResult } from '../attest/attach.js';
import type { Attachment } from '../attest/artifacts.js';
import { DsseEnvelopeMediaType, envelopeOf, InTotoPayloadType } from '../attest/dsse.js';
import { provenanceStatement, SlsaProvenanceV1, type ExternalParameters } from '../attest/provenance.js';
import { randomUUID } from 'node:crypto';
import type { Descriptor } from '../oci/types.js';
import type { EnvList } from '../s2i/environment.js';
import type { SbomDocument } from '../sbom/index.js';
import { signDsse } from '../sign/dsse.js';
import { formatImageLocation } from '../transport/parse.js';
import { baseNameOf, withoutCredentials } from './commit.js';
import type { Engine } from './context.js';
import type { BuildOptions } from './options.js';
import type { PulledImage } from './pull.js';

export interface AttestFacts {
  /** The image pushed. */
  subject: Descriptor;
  /** Its `created` (RFC 3339). */
  created: string;
  builder: PulledImage;
  /** The runtime image the layer went on (--runtime-image). */
  runtimeImage?: PulledImage | undefined;
  source: { uri: string; revision?: string | undefined };
  /** When the build started (RFC 3339). */
  startedOn: string;
  /** How assemble ran (the isolation path, the OCI runtime). */
  internal: Record<string, string>;
  /** The SBOM being made (commit.ts startSbom), when one was asked for. */
  sbom?: Promise<SbomDocument> | undefined;
  /** The image's push, when it is still running (publish.ts): the attachments' manifests are written after it. */
  pushed?: Promise<unknown>;
}

const names = (env: EnvList): string[] => env.map(([name]) => name);

/** The build as the user asked for it, without a value that can hold a secret (see the file comment). */
export function externalParameters(opts: BuildOptions): ExternalParameters {
  const flags: ExternalParameters['flags'] = {};
  const put = (k: string, v: string | boolean | string[] | undefined): void => {
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) return;
    flags[k] = v;
  };
  put('compression', opts.compression);
  put('pull-policy', opts.pullPolicy);
  put('isolation', opts.isolation);
  put('platform', opts.platform ? [opts.platform.os, opts.platform.architecture, opts.platform.variant].filter(Boolean).join('/') : undefined);
  put('check', opts.check === false ? 'none' : opts.check);
  put('reproducible', opts.reproducible === true);
  put('timestamp', opts.timestamp !== undefined ? String(opts.timestamp) : undefined);
  put('scripts-url', opts.scriptsUrl !== undefined ? withoutCredentials(opts.scriptsUrl) : undefined);
  put('image-scripts-url', opts.imageScriptsUrl !== undefined ? withoutCredentials(opts.imageScriptsUrl) : undefined);
  put('destination', opts.destination);
  put('assemble-user', opts.assembleUser);
  put('allowed-uids', opts.allowedUids.length > 0 ? opts.allowedUids.map((r) => (r.max === undefined ? `${r.min}-` : `${r.min}-${r.max}`)) : undefined);
  put('label', Object.entries(opts.labels).map(([k, v]) => `${k}=${v}`));
  put('annotation', Object.entries(opts.annotations ?? {}).map(([k, v]) => `${k}=${v}`));
  put('application-name', opts.applicationName);
  put('description', opts.description);
  put('incremental', opts.incremental !== undefined);
  put('incremental-from', opts.incremental ? formatImageLocation(opts.incremental.from) : undefined);
  put('runtime-image', opts.runtimeImage ? formatImageLocation(opts.runtimeImage.image) : undefined);
  put('runtime-artifact', opts.runtimeImage?.artifacts.map((a) => `${a.source}:${a.destination}`));
  put('assemble-runtime-user', opts.runtimeImage?.assembleRuntimeUser);
  put('network', opts.network);
  put('cap-drop', opts.capDrop);
  put('exclude', opts.exclude);
  put('keep-symlinks', opts.keepSymlinks === true);
  put('copy', opts.copy === true);
  put('ignore-submodules', opts.submodules === false);
  const env = names(opts.env);
  const buildEnv = names(opts.buildEnv);
  return {
    source: { uri: withoutCredentials(opts.source), ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.contextDir ? { contextDir: opts.contextDir } : {}) },
    builder: withoutCredentials(opts.builderName ?? formatImageLocation(opts.builder)),
    tag: formatImageLocation(opts.target),
    format: opts.format,
    flags,
    ...(env.length > 0 ? { env } : {}),
    ...(buildEnv.length > 0 ? { buildEnv } : {}),
  };
}

/** An image as a URI (containers-transports(5) syntax): `docker://HOST/REPO:TAG`, `oci:DIR:TAG`, … */
function imageUri(image: PulledImage): string {
  return image.location.transport === 'docker' ? `docker://${baseNameOf(image)}` : baseNameOf(image);
}

/** The documents to attach: the provenance envelope (and the SBOM, when asked for). */
export async function buildAttachments(opts: BuildOptions, f: AttestFacts): Promise<Attachment[]> {
  const a = opts.attest;
  if (!a) return [];
  const out: Attachment[] = [];
  if (a.provenance !== false) {
    const deterministic = a.provenance === 'deterministic';
    const statement = provenanceStatement({
      subject: { name: formatImageLocation(opts.target), digest: f.subject.digest },
      external: externalParameters(opts),
      internal: f.internal,
      builder: { uri: imageUri(f.builder), digest: f.builder.manifestDescriptor.digest },
      ...(f.runtimeImage ? { runtimeImage: { uri: imageUri(f.runtimeImage), digest: f.runtimeImage.manifestDescriptor.digest } } : {}),
      source: { uri: f.source.uri, commit: f.source.revision },
      engineVersion: a.engineVersion,
      startedOn: deterministic ? f.created : f.startedOn,
      finishedOn: deterministic ? f.created : new Date().toISOString(),
      ...(deterministic ? {} : { invocationId: randomUUID() }),
    });
    // Signed with the image's key when one was given (--sign-by-sigstore-private-key), as cosign signs attestations.
    const key = opts.signingKey;
    const sign = key ? async (type: string, payload: Buffer) => signDsse(key, type, payload).signatures : undefined;
    const envelope = await envelopeOf(InTotoPayloadType, Buffer.from(JSON.stringify(statement), 'utf8'), sign);
    out.push({ kind: 'attestation', mediaType: DsseEnvelopeMediaType, bytes: Buffer.from(JSON.stringify(envelope), 'utf8'), predicateType: SlsaProvenanceV1 });
  }
  return out;
}

/** Attaches the documents to the pushed image; one line says where they went (or why they did not). */
export async function attestBuild(engine: Engine, opts: BuildOptions, f: AttestFacts): Promise<AttachResult | undefined> {
  const attachments = await buildAttachments(opts, f);
  if (f.sbom) {
    // The image is pushed already: an SBOM that could not be made is a warning, and the provenance still goes.
    try {
      const doc = await f.sbom;
      for (const w of doc.warnings) engine.onProgress({ type: 'log', level: 'warn', message: `SBOM: ${w}` });
      attachments.push({ kind: 'sbom', mediaType: doc.mediaType, bytes: doc.bytes });
    } catch (e) {
      engine.onProgress({ type: 'log', level: 'warn', message: `no SBOM attached: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  if (attachments.length === 0) return undefined;
  const r = await attach(
    { client: engine.client, onProgress: engine.onProgress, signal: engine.signal, tmpDir: engine.root, ...(f.pushed ? { subjectWritten: f.pushed } : {}) },
    { target: opts.target, subject: f.subject, format: opts.format, created: f.created, attachments },
  );
  const what = attachments.map((x) => (x.kind === 'sbom' ? 'SBOM' : 'provenance')).join(' and ');
  const how: Record<typeof r.mode, string> = {
    'referrers-api': 'as OCI referrers (the registry lists them by subject)',
    'referrers-tag': `as OCI referrers, listed in the tag ${r.written.find((w) => w.tag)?.tag ?? ''}`,
    'cosign-tags': `under cosign's tags ${r.written.map((w) => w.tag).join(', ')}`,
    none: `: not attached (${r.reason ?? ''})`,
  };
  engine.onProgress({ type: 'log', level: 'info', message: `${what} ${r.mode === 'none' ? how.none : `attached ${how[r.mode]}`}` });
  return r;
}
