// rpm databases made by rpm itself: packages built with rpmbuild and recorded with `rpm --dbpath D -i --justdb`
// (rpmdb.sqlite, as UBI/RHEL 9 keep it), and a Berkeley DB hash `Packages` (RHEL 8) written by libdb's
// db5.3_load. What the SBOM lists is compared with what `rpm -q` reads from the same packages.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSbom } from '../../src/sbom/index.js';
import { cyclonedxErrors, diffID, makeLayer, spdxErrors } from '../helpers/sbom.js';
import { projectRoot } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'sbom-rpm-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const tool = { name: 'oci-s2i', version: '0.1.0' };

interface Spec {
  name: string;
  epoch?: number;
  version: string;
  release: string;
  license: string;
  files: number;
}
const specs: Spec[] = [
  { name: 'tiny-lib', epoch: 2, version: '1.2.3', release: '4.el9', license: 'MIT AND (Apache-2.0 OR BSD-3-Clause)', files: 1 },
  { name: 'big-tool', version: '0.9', release: '1.el9', license: 'GPLv2+', files: 400 },
  { name: 'plain', version: '7', release: '2.el9_3', license: 'BSD-3-Clause', files: 2 },
];

function buildRpm(s: Spec): string {
  const top = path.join(tmp, 'rpmbuild');
  mkdirSync(path.join(top, 'SPECS'), { recursive: true });
  const spec = path.join(top, 'SPECS', `${s.name}.spec`);
  const files = Array.from({ length: s.files }, (_, i) => `/usr/share/${s.name}/file-with-a-longish-name-${i}`);
  writeFileSync(spec, [
    `Name: ${s.name}`, `Version: ${s.version}`, `Release: ${s.release}`, ...(s.epoch !== undefined ? [`Epoch: ${s.epoch}`] : []),
    'Summary: a package for the SBOM tests', `License: ${s.license}`, 'BuildArch: noarch', '%description', 'test',
    '%install', `mkdir -p %{buildroot}/usr/share/${s.name}`, ...files.map((f) => `echo x > %{buildroot}${f}`),
    '%files', ...files, '',
  ].join('\n'));
  execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '-bb', spec], { stdio: 'ignore' });
  return path.join(top, 'RPMS', 'noarch', `${s.name}-${s.version}-${s.release}.noarch.rpm`);
}

const rpms = specs.map(buildRpm);
const rhel9 = makeLayer(path.join(tmp, 'rhel9'), {
  'etc/os-release': 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n',
  'var/lib/rpm': { dir: true },
});
const sqliteDb = path.join(rhel9, 'var/lib/rpm');
execFileSync('rpm', ['--dbpath', sqliteDb, '-i', '--nodeps', '--justdb', ...rpms], { stdio: 'ignore' });
const queryFormat = '%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{LICENSE}\n';
const expected = execFileSync('rpm', ['--dbpath', sqliteDb, '-qa', '--qf', queryFormat], { encoding: 'utf8' })
  .trim().split('\n').map((l) => l.split('|')).map(([n, e, v, r, l]) => ({ name: n!, version: `${e === '(none)' ? '' : `${e}:`}${v}-${r}`, license: l! }))
  .sort((a, b) => (a.name < b.name ? -1 : 1));

interface Cdx { components: Array<{ name: string; version: string; purl: string; licenses?: Array<{ license?: { id?: string; name?: string }; expression?: string }>; properties: Array<{ name: string; value: string }> }> }

function licenseOf(c: Cdx['components'][number]): string | undefined {
  const l = c.licenses?.[0];
  return l?.expression ?? l?.license?.id ?? l?.license?.name;
}

t.test('rpmdb.sqlite written by rpm: every package, epoch, release, license, the redhat purl', async (t) => {
  t.ok(readdirSync(sqliteDb).includes('rpmdb.sqlite'), 'rpm wrote an sqlite database');
  t.equal(expected.length, 3, 'rpm lists the three packages');
  const doc = await generateSbom({ format: 'cyclonedx', subject: { name: 'ubi9-app' }, layers: [{ diffID: diffID('1'), dir: rhel9 }], created: '2024-01-01T00:00:00Z', tool });
  t.same(doc.warnings, []);
  t.equal(await cyclonedxErrors(doc.bytes), null);
  const cdx = JSON.parse(doc.bytes.toString()) as Cdx;
  t.same(cdx.components.map((c) => ({ name: c.name, version: c.version, license: licenseOf(c) })), expected, 'the same packages as rpm -qa');
  const tiny = cdx.components.find((c) => c.name === 'tiny-lib')!;
  t.equal(tiny.purl, 'pkg:rpm/redhat/tiny-lib@1.2.3-4.el9?arch=noarch&distro=rhel-9.4&epoch=2');
  const spdx = await generateSbom({ format: 'spdx', subject: { name: 'ubi9-app' }, layers: [{ diffID: diffID('1'), dir: rhel9 }], created: '2024-01-01T00:00:00Z', tool });
  t.same(spdxErrors(spdx.bytes), []);
  const big = (JSON.parse(spdx.bytes.toString()) as { packages: Array<{ name: string; licenseDeclared: string; licenseComments?: string }> }).packages.find((p) => p.name === 'big-tool')!;
  t.equal(big.licenseDeclared, 'NOASSERTION', "rpm's GPLv2+ is not an SPDX expression");
  t.equal(big.licenseComments, 'As stated by the package: GPLv2+');
});

t.test('a Berkeley DB Packages database (RHEL 8) is read too', async (t) => {
  const rhel8 = makeLayer(path.join(tmp, 'rhel8'), { 'etc/os-release': 'ID="rhel"\nVERSION_ID="8.9"\n', 'var/lib/rpm': { dir: true } });
  execFileSync('python3', [path.join(projectRoot, 'test/fixtures/sbom/make-bdb-rpmdb.py'), path.join(rhel8, 'var/lib/rpm/Packages'), ...rpms]);
  const dump = execFileSync('db5.3_dump', ['-p', path.join(rhel8, 'var/lib/rpm/Packages')], { encoding: 'latin1' });
  t.match(dump, /type=hash/, 'libdb says it is a hash database');
  const doc = await generateSbom({ format: 'cyclonedx', subject: { name: 'ubi8-app' }, layers: [{ diffID: diffID('2'), dir: rhel8 }], created: '2024-01-01T00:00:00Z', tool });
  t.same(doc.warnings, []);
  const cdx = JSON.parse(doc.bytes.toString()) as Cdx;
  t.same(cdx.components.map((c) => ({ name: c.name, version: c.version, license: licenseOf(c) })), expected);
  t.match(cdx.components[0]!.purl, /distro=rhel-8\.9/);
});

t.test('a package removed in a later layer (rpm -e --justdb) is gone; the rest keep their layer', async (t) => {
  const upper = path.join(tmp, 'upper');
  cpSync(rhel9, upper, { recursive: true });
  execFileSync('rpm', ['--dbpath', path.join(upper, 'var/lib/rpm'), '-e', '--nodeps', '--justdb', 'plain'], { stdio: 'ignore' });
  rmSync(path.join(upper, 'etc'), { recursive: true });
  const doc = await generateSbom({ format: 'cyclonedx', subject: { name: 'x' }, layers: [{ diffID: diffID('1'), dir: rhel9 }, { diffID: diffID('3'), dir: upper }], created: '2024-01-01T00:00:00Z', tool });
  const cdx = JSON.parse(doc.bytes.toString()) as Cdx;
  t.same(cdx.components.map((c) => [c.name, c.properties.find((p) => p.name === 'oci-s2i:layer:diffID')!.value]), [['big-tool', diffID('1')], ['tiny-lib', diffID('1')]]);
});

t.test('corrupt rpm databases: one warning, no packages, no crash', async (t) => {
  const good = readFileSync(path.join(sqliteDb, 'rpmdb.sqlite'));
  const cases: Record<string, Buffer> = {
    'not sqlite': Buffer.from('hello, not a database\n'.repeat(20)),
    truncated: good.subarray(0, 4096 + 100),
    'pages scrambled': Buffer.concat([good.subarray(0, 4096), Buffer.alloc(good.length - 4096, 0xa5)]),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const dir = makeLayer(path.join(tmp, `bad-${what.replace(/ /g, '-')}`), { 'var/lib/rpm/rpmdb.sqlite': bytes });
    const doc = await generateSbom({ format: 'spdx', subject: { name: 'x' }, layers: [{ diffID: diffID('4'), dir }], created: '2024-01-01T00:00:00Z', tool });
    t.equal(doc.packages, 0, `${what}: no packages`);
    t.equal(doc.warnings.length, 1, `${what}: one warning`);
    t.match(doc.warnings[0], /^\/var\/lib\/rpm\/rpmdb\.sqlite: (corrupt rpm database|no Packages table)/, what);
    t.same(spdxErrors(doc.bytes), []);
  }
  const bdb = makeLayer(path.join(tmp, 'bad-bdb'), { 'var/lib/rpm/Packages': Buffer.alloc(8192, 0x61) });
  const doc = await generateSbom({ format: 'spdx', subject: { name: 'x' }, layers: [{ diffID: diffID('5'), dir: bdb }], created: '2024-01-01T00:00:00Z', tool });
  t.same(doc.warnings, ['/var/lib/rpm/Packages: corrupt rpm database (not a Berkeley DB hash database); its packages are not listed']);
});
