// OS package databases across layers: this host's own dpkg status stanzas and a real-format apk database, in
// layer trees with real overlay whiteouts and opaque directories; the documents checked by independent validators.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSbom, type SbomInput } from '../../src/sbom/index.js';
import { cyclonedxErrors, diffID, hostDpkgStanzas, hostDpkgVersion, makeLayer, spdxErrors } from '../helpers/sbom.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'sbom-os-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const osRelease = readFileSync('/usr/lib/os-release', 'utf8');
const versionId = /^VERSION_ID="?([^"\n]*)"?$/m.exec(osRelease)![1]!;
const tool = { name: 'oci-s2i', version: '0.1.0' };

interface Cdx {
  components: Array<{ name: string; version: string; purl: string; licenses?: unknown[]; properties: Array<{ name: string; value: string }> }>;
  serialNumber: string;
}
interface Spdx {
  packages: Array<{ SPDXID: string; name: string; versionInfo?: string; licenseDeclared: string; externalRefs?: Array<{ referenceLocator: string }> }>;
  relationships: Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
  documentNamespace: string;
}

function layerOf(c: Cdx['components'][number]): string {
  return c.properties.find((p) => p.name === 'oci-s2i:layer:diffID')!.value;
}

async function both(input: Omit<SbomInput, 'format'>): Promise<{ cdx: Cdx; spdx: Spdx; warnings: string[] }> {
  const c = await generateSbom({ ...input, format: 'cyclonedx' });
  const s = await generateSbom({ ...input, format: 'spdx' });
  t.equal(await cyclonedxErrors(c.bytes), null, 'CycloneDX 1.5 schema (cyclonedx-library strict validator) accepts the document');
  t.same(spdxErrors(s.bytes), [], 'the SPDX 2.3 JSON schema accepts the document');
  t.equal(c.mediaType, 'application/vnd.cyclonedx+json');
  t.equal(s.mediaType, 'application/spdx+json');
  t.equal(c.packages, s.packages, 'both formats list the same packages');
  return { cdx: JSON.parse(c.bytes.toString()) as Cdx, spdx: JSON.parse(s.bytes.toString()) as Spdx, warnings: c.warnings };
}

const bashV = hostDpkgVersion('bash');
const base = makeLayer(path.join(tmp, 'base'), {
  'etc/os-release': osRelease,
  'var/lib/dpkg/status': hostDpkgStanzas(['base-files', 'libc6', 'bash', 'tar']),
});
// The second layer rewrites the database as dpkg does: tar removed, gzip added, bash upgraded.
const upgraded = hostDpkgStanzas(['base-files', 'libc6', 'bash', 'gzip']).replace(`Version: ${bashV}`, `Version: ${bashV}+sec1`);
const second = makeLayer(path.join(tmp, 'second'), { 'var/lib/dpkg/status': upgraded, 'usr/share/doc/gzip/copyright': 'x' });

t.test('dpkg across layers: each package credited to the layer that introduced its version', async (t) => {
  const { cdx, spdx } = await both({
    subject: { name: 'registry.example/app:1', digest: `sha256:${'f'.repeat(64)}` },
    layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('2'), dir: second }],
    created: '2024-05-06T07:08:09.123Z',
    tool,
  });
  const by = new Map(cdx.components.map((c) => [c.name, c]));
  t.same([...by.keys()].sort(), ['base-files', 'bash', 'gzip', 'libc6'], 'tar, removed by the second layer, is gone');
  t.equal(layerOf(by.get('libc6')!), diffID('1'), 'libc6 unchanged: the base layer');
  t.equal(layerOf(by.get('bash')!), diffID('2'), 'bash upgraded: the second layer');
  t.equal(by.get('bash')!.version, `${bashV}+sec1`);
  t.equal(layerOf(by.get('gzip')!), diffID('2'));
  const libc = by.get('libc6')!;
  t.equal(libc.purl, `pkg:deb/debian/libc6@${encodeURIComponent(hostDpkgVersion('libc6'))}?arch=amd64&distro=debian-${versionId}`);
  const image = spdx.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!;
  t.equal(image.versionInfo, `sha256:${'f'.repeat(64)}`);
  t.ok(spdx.relationships.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES' && r.relatedSpdxElement === 'SPDXRef-Image'));
  t.equal(spdx.relationships.filter((r) => r.relationshipType === 'CONTAINS').length, 4, 'the image CONTAINS each package');
});

t.test('a whiteout of the database, or an opaque directory above it, deletes what lower layers had', async (t) => {
  const wh = makeLayer(path.join(tmp, 'wh'), { 'var/lib/dpkg/status': { whiteout: true } });
  let r = await both({ subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('3'), dir: wh }], created: '2024-01-01T00:00:00Z', tool });
  t.equal(r.cdx.components.length, 0, 'a whiteout of var/lib/dpkg/status: no deb packages');
  const whDir = makeLayer(path.join(tmp, 'wh-dir'), { 'var/lib/dpkg': { whiteout: true } });
  r = await both({ subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('4'), dir: whDir }], created: '2024-01-01T00:00:00Z', tool });
  t.equal(r.cdx.components.length, 0, 'a whiteout of var/lib/dpkg: no deb packages');
  const opaque = makeLayer(path.join(tmp, 'opaque'), { 'var/lib': { opaqueDir: true }, 'var/lib/other': 'x' });
  r = await both({ subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('5'), dir: opaque }], created: '2024-01-01T00:00:00Z', tool });
  t.equal(r.cdx.components.length, 0, 'an opaque var/lib hides the lower status');
  const opaqueWith = makeLayer(path.join(tmp, 'opaque-with'), { 'var/lib/dpkg': { opaqueDir: true }, 'var/lib/dpkg/status': hostDpkgStanzas(['libc6']) });
  r = await both({ subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('6'), dir: opaqueWith }], created: '2024-01-01T00:00:00Z', tool });
  t.same(r.cdx.components.map((c) => [c.name, layerOf(c)]), [['libc6', diffID('1')]], 'a rewritten status keeps the unchanged package with the layer that introduced it');
  const other = makeLayer(path.join(tmp, 'other'), { 'var/lib/dpkg/status.d/foo': 'x' });
  r = await both({ subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('7'), dir: other }], created: '2024-01-01T00:00:00Z', tool });
  t.equal(r.cdx.components.length, 4, 'a layer that leaves the status alone changes nothing');
});

t.test('distroless status.d: one stanza per file, removed by a whiteout of its file', async (t) => {
  const stanza = (n: string): string => hostDpkgStanzas([n]).replace(/^Status: .*\n/m, '');
  const d1 = makeLayer(path.join(tmp, 'dl1'), {
    'etc/os-release': osRelease,
    'var/lib/dpkg/status.d/libc6': stanza('libc6'),
    'var/lib/dpkg/status.d/libc6.md5sums': 'd41d8cd98f00b204e9800998ecf8427e  lib/x\n',
    'var/lib/dpkg/status.d/tar': stanza('tar'),
  });
  const d2 = makeLayer(path.join(tmp, 'dl2'), { 'var/lib/dpkg/status.d/tar': { whiteout: true }, 'var/lib/dpkg/status.d/base-files': stanza('base-files') });
  const r = await both({ subject: { name: 'distroless' }, layers: [{ diffID: diffID('a'), dir: d1 }, { diffID: diffID('b'), dir: d2 }], created: '2024-01-01T00:00:00Z', tool });
  t.same(r.cdx.components.map((c) => [c.name, layerOf(c)]).sort(), [['base-files', diffID('b')], ['libc6', diffID('a')]]);
});

t.test('apk: lib/apk/db/installed with licenses and the alpine purl', async (t) => {
  const db = [
    'C:Q1HK6xC0Qjw9CmcBCDGXpeSvIHrzw=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nI:622592\nT:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nt:1698686357\nc:73fc3ed7c7e6b6a6a0aa5d5d3d0fd38a6c1e5c5a\nF:lib\nR:ld-musl-x86_64.so.1\n',
    'C:Q1abc=\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:bin\nR:busybox\n',
    'C:Q1def=\nP:ca-certificates-bundle\nV:20230506-r0\nA:x86_64\nL:MPL-2.0 AND MIT\no:ca-certificates\n',
    'C:Q1ghi=\nP:odd\nV:1-r0\nA:x86_64\nL:Custom Licence v2\n',
  ].join('\n');
  const alpine = makeLayer(path.join(tmp, 'alpine'), {
    'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n',
    'lib/apk/db/installed': db,
  });
  const r = await both({ subject: { name: 'alpine' }, layers: [{ diffID: diffID('c'), dir: alpine }], created: '2024-01-01T00:00:00Z', tool });
  const by = new Map(r.cdx.components.map((c) => [c.name, c]));
  t.equal(by.get('musl')!.purl, 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1');
  t.same(by.get('musl')!.licenses, [{ license: { id: 'MIT' } }]);
  t.same(by.get('ca-certificates-bundle')!.licenses, [{ expression: 'MPL-2.0 AND MIT' }]);
  t.same(by.get('odd')!.licenses, [{ license: { name: 'Custom Licence v2' } }], 'a license that is not an SPDX expression is kept as a name');
  const spdxBusybox = r.spdx.packages.find((p) => p.name === 'busybox')!;
  t.equal(spdxBusybox.licenseDeclared, 'GPL-2.0-only');
  t.equal(r.spdx.packages.find((p) => p.name === 'odd')!.licenseDeclared, 'NOASSERTION');
});

t.test('the same input gives the same bytes, cached or not, and the cache is per diffID', async (t) => {
  const cacheDir = path.join(tmp, 'cache');
  const input: SbomInput = {
    format: 'spdx',
    subject: { name: 'registry.example/app:1' },
    layers: [{ diffID: diffID('1'), dir: base }, { diffID: diffID('2'), dir: second }],
    created: '2024-05-06T07:08:09Z',
    tool,
  };
  const cold = await generateSbom(input);
  const a = await generateSbom({ ...input, cacheDir });
  t.same(readdirSync(cacheDir).sort(), [`sha256-${'1'.repeat(64)}.v1.json`, `sha256-${'2'.repeat(64)}.v1.json`]);
  const b = await generateSbom({ ...input, cacheDir });
  t.ok(cold.bytes.equals(a.bytes) && a.bytes.equals(b.bytes), 'identical bytes');
  const spdx = JSON.parse(a.bytes.toString()) as Spdx;
  const other = JSON.parse((await generateSbom({ ...input, subject: { name: 'registry.example/other:1' } })).bytes.toString()) as Spdx;
  t.not(spdx.documentNamespace, other.documentNamespace, 'the namespace follows the subject');
  const c1 = (await generateSbom({ ...input, format: 'cyclonedx' })).bytes;
  const c2 = (await generateSbom({ ...input, format: 'cyclonedx', cacheDir })).bytes;
  t.ok(c1.equals(c2));
});

t.test('bad input: one line, a stable code', async (t) => {
  await t.rejects(generateSbom({ format: 'spdx', subject: { name: 'x' }, layers: [], created: 'yesterday', tool }), { code: 'ERR_SBOM_INPUT', message: /created time "yesterday" is not RFC 3339/ });
  await t.rejects(generateSbom({ format: 'xml' as 'spdx', subject: { name: 'x' }, layers: [], created: '2024-01-01T00:00:00Z', tool }), { code: 'ERR_SBOM_INPUT', message: /unknown format "xml"; use spdx or cyclonedx/ });
  await t.rejects(generateSbom({ format: 'spdx', subject: { name: 'x' }, layers: [{ diffID: diffID('9'), dir: path.join(tmp, 'missing') }], created: '2024-01-01T00:00:00Z', tool }), { code: 'ERR_SBOM_INPUT', message: /layer sha256:9+ at .* cannot be opened as a directory \(ENOENT\)/ });
  const empty = await generateSbom({ format: 'cyclonedx', subject: { name: 'scratch' }, layers: [], created: '2024-01-01T00:00:00Z', tool });
  t.equal(empty.packages, 0);
  t.equal(await cyclonedxErrors(empty.bytes), null, 'an empty image still has a valid document');
});

t.test('the validators refuse a broken document (so the checks above can fail)', async (t) => {
  const input: SbomInput = { format: 'spdx', subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: base }], created: '2024-01-01T00:00:00Z', tool };
  const spdx = JSON.parse((await generateSbom(input)).bytes.toString()) as Record<string, unknown>;
  delete spdx.spdxVersion;
  t.not(spdxErrors(Buffer.from(JSON.stringify(spdx))).length, 0, 'SPDX without spdxVersion is refused');
  const cdx = JSON.parse((await generateSbom({ ...input, format: 'cyclonedx' })).bytes.toString()) as { components: Array<Record<string, unknown>> };
  cdx.components[0]!.type = 'not-a-type';
  t.not(await cyclonedxErrors(Buffer.from(JSON.stringify(cdx))), null, 'CycloneDX with a bad component type is refused');
});
