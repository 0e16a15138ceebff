import t from 'tap';
import { exitCodeFor } from '../helpers/exit-code.js';
import { S2IError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import { formatPlatform, hostPlatform, isAttestation, parsePlatform, selectPlatform } from '../../src/oci/platform.js';
import type { Descriptor, ImageIndex, Platform } from '../../src/oci/types.js';

const entry = (c: string, platform?: Platform, annotations?: Record<string, string>): Descriptor => {
  const d: Descriptor = { mediaType: MediaType.ociManifest, digest: `sha256:${c.repeat(64)}`, size: 100 };
  if (platform) d.platform = platform;
  if (annotations) d.annotations = annotations;
  return d;
};
const index = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });

t.test('hostPlatform maps Node arch names', async (t) => {
  t.same(hostPlatform('x64', 'linux'), { os: 'linux', architecture: 'amd64' });
  t.same(hostPlatform('arm64', 'linux'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  t.equal(hostPlatform('arm', 'linux').architecture, 'arm');
  t.match(hostPlatform('arm', 'linux').variant, /^v\d+$/);
  t.same(hostPlatform('ia32', 'linux'), { os: 'linux', architecture: '386' });
  t.same(hostPlatform('ppc64', 'linux'), { os: 'linux', architecture: 'ppc64le' });
  t.same(hostPlatform('s390x', 'linux'), { os: 'linux', architecture: 's390x' });
  t.same(hostPlatform('riscv64', 'linux'), { os: 'linux', architecture: 'riscv64' });
  t.equal(hostPlatform('x64', 'darwin').os, 'linux', 'Linux images even on macOS');
  t.equal(hostPlatform('x64', 'win32').os, 'windows');
  t.equal(hostPlatform().os, 'linux');
});

t.test('parsePlatform / formatPlatform', async (t) => {
  const ok: Array<[string, Platform, string]> = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64/v8'],
    ['Linux/AMD64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['linux/armhf', { os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }, 'linux/arm/v6'],
    [' linux/s390x ', { os: 'linux', architecture: 's390x' }, 'linux/s390x'],
  ];
  for (const [s, p, f] of ok) {
    t.same(parsePlatform(s), p, s);
    t.equal(formatPlatform(parsePlatform(s)), f, `format ${s}`);
  }
  const bad = ['', '   ', 'linux', 'amd64', 'linux/', '/amd64', 'linux//v8', 'linux/arm64/v8/x', 'linux/amd 64', 'linux/../x', 'linux/$x'];
  for (const s of bad) t.throws(() => parsePlatform(s), { code: 'ERR_INVALID_PLATFORM', message: /OS\/ARCH\[\/VARIANT\]/ }, JSON.stringify(s));
  t.throws(() => parsePlatform(undefined as unknown as string), { code: 'ERR_INVALID_PLATFORM' });
});

const amd64 = entry('1', { os: 'linux', architecture: 'amd64' });
const arm64NoVariant = entry('2', { os: 'linux', architecture: 'arm64' });
const arm64v8 = entry('3', { os: 'linux', architecture: 'arm64', variant: 'v8' });
const armv6 = entry('4', { os: 'linux', architecture: 'arm', variant: 'v6' });
const armv7 = entry('5', { os: 'linux', architecture: 'arm', variant: 'v7' });
const attestAmd64 = entry('6', { os: 'unknown', architecture: 'unknown' }, {
  'vnd.docker.reference.type': 'attestation-manifest',
  'vnd.docker.reference.digest': amd64.digest,
});
const annotatedOnly = entry('7', { os: 'linux', architecture: 'amd64' }, { 'vnd.docker.reference.type': 'attestation-manifest' });
const windows = entry('8', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' });

t.test('selectPlatform', async (t) => {
  const want = (s: string): Platform => parsePlatform(s);
  t.equal(selectPlatform(index(amd64, arm64v8), want('linux/amd64')), amd64);
  t.equal(selectPlatform(index(annotatedOnly, amd64), want('linux/amd64')), amd64, 'attestation annotation skipped even with a real platform');
  t.equal(selectPlatform(index(attestAmd64, arm64v8, amd64), want('linux/amd64')), amd64, 'unknown/unknown skipped');
  t.equal(selectPlatform(index(arm64NoVariant), want('linux/arm64/v8')), arm64NoVariant, 'arm64 with no variant is v8');
  t.equal(selectPlatform(index(arm64v8), want('linux/arm64')), arm64v8, 'want without variant matches v8');
  t.equal(selectPlatform(index(armv6, armv7), want('linux/arm')), armv7, 'arm without a variant prefers v7');
  t.equal(selectPlatform(index(armv6, armv7), want('linux/arm/v6')), armv6);
  t.equal(selectPlatform(index(armv6), want('linux/arm')), armv6, 'no preferred variant → first same-arch entry');
  t.equal(selectPlatform(index(windows, amd64), want('linux/amd64')), amd64, 'os must match');
  t.equal(selectPlatform(index(amd64), hostPlatform('x64', 'linux')), amd64);
  t.equal(selectPlatform(index(arm64v8), hostPlatform('arm64', 'linux')), arm64v8);
});

t.test('selectPlatform errors list what exists', async (t) => {
  const err = t.throws(() => selectPlatform(index(amd64, attestAmd64, arm64v8, entry('9')), parsePlatform('linux/s390x'))) as S2IError;
  t.equal(err.code, 'ERR_PLATFORM_NOT_FOUND');
  t.equal(exitCodeFor(err), 2);
  t.match(err.message, /linux\/s390x/);
  t.match(err.message, /linux\/amd64, linux\/arm64\/v8, \(no platform\)/);
  t.notMatch(err.message, /unknown/, 'attestations are not offered');
  t.match(err.message, /--platform/);
  t.throws(() => selectPlatform(index(armv7), parsePlatform('linux/arm/v6')), { code: 'ERR_PLATFORM_NOT_FOUND' }, 'variant must match');
  t.throws(() => selectPlatform(index(arm64v8), parsePlatform('linux/arm64/v9')), { code: 'ERR_PLATFORM_NOT_FOUND' });
  t.throws(() => selectPlatform(index(), parsePlatform('linux/amd64')), { code: 'ERR_PLATFORM_NOT_FOUND', message: /available: none/ });
  t.throws(() => selectPlatform(index(attestAmd64), parsePlatform('linux/amd64')), { code: 'ERR_PLATFORM_NOT_FOUND' });
});

t.test('isAttestation', async (t) => {
  t.ok(isAttestation(attestAmd64));
  t.ok(isAttestation(annotatedOnly));
  t.notOk(isAttestation(amd64));
  t.notOk(isAttestation(entry('9')));
});
