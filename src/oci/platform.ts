// Platforms (image-spec image-index.md "platform"), named the way GOOS/GOARCH name them, and choosing one
// manifest out of an index the way containerd's platforms matcher does.
import { S2IError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

/** Node's process.arch → GOARCH. Node's ppc64 is little-endian on Linux (the only ppc64 it supports). */
const nodeArch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
/** Names people type for architectures → GOARCH (+ the variant the alias implies). */
const archAliases: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
};
/** The variant an architecture means when none is written (containerd normalize.go). */
const defaultVariant: Record<string, string> = { arm64: 'v8', arm: 'v7' };

/**
 * The platform of this machine. `os` is linux except on Windows: the images this engine runs are Linux
 * images. `arch`/`os` parameters exist for tests.
 */
export function hostPlatform(arch: string = process.arch, os: string = process.platform): Platform {
  const architecture = nodeArch[arch] ?? arch;
  const p: Platform = { os: os === 'win32' ? 'windows' : 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    p.variant = typeof v === 'string' || typeof v === 'number' ? `v${v}` : 'v7';
  }
  return p;
}

const component = /^[a-z0-9][a-z0-9_.-]*$/;

/** Parses `os/arch[/variant]` (as in `--platform linux/arm64/v8`); aliases like x86_64 are normalised. Bad input is a usage error (exit 64). */
export function parsePlatform(s: string): Platform {
  const bad = (why: string): S2IError =>
    new S2IError('ERR_INVALID_PLATFORM', `invalid platform ${JSON.stringify(String(s).slice(0, 100))}: ${why}; expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8`);
  if (typeof s !== 'string' || s.trim() === '') throw bad('empty');
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3) throw bad('it needs two or three parts separated by "/"');
  for (const p of parts) if (!component.test(p)) throw bad(`"${p}" is not a valid platform component`);
  const [os, arch, variant] = parts as [string, string, string | undefined];
  const alias = archAliases[arch];
  const p: Platform = { os, architecture: alias?.architecture ?? arch };
  const v = variant ?? alias?.variant;
  if (v !== undefined) p.variant = v;
  return p;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

function normalizedVariant(p: Platform): string {
  return p.variant || defaultVariant[p.architecture] || '';
}

/** Attestation manifests (buildx provenance/SBOM) sit in indexes beside images; they are not images. */
export function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.['vnd.docker.reference.type'] !== undefined) return true;
  return d.platform?.os === 'unknown' || d.platform?.architecture === 'unknown';
}

/**
 * Chooses the manifest for `want` in an index. os and architecture must match; a variant in `want` must
 * match too (arm64 without a variant is v8, arm without one is v7). Without a variant in `want`, an entry with
 * the default variant is preferred, then the first match in index order.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  const images = index.manifests.filter((d) => !isAttestation(d));
  const sameArch = images.filter((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture);
  const wantVariant = normalizedVariant(want);
  const exact = sameArch.find((d) => normalizedVariant(d.platform!) === wantVariant);
  if (exact) return exact;
  if (!want.variant && sameArch[0]) return sameArch[0];
  const available = images.map((d) => (d.platform ? formatPlatform(d.platform) : '(no platform)'));
  throw new S2IError(
    'ERR_PLATFORM_NOT_FOUND',
    `the image has no ${formatPlatform(want)} variant; available: ${available.length ? [...new Set(available)].join(', ') : 'none'}; choose one with --platform`,
  );
}
