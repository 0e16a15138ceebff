// A whole root filesystem's SBOM from the files another walk listed (an in-image build's snapshot diff,
// sbom/walk.ts `visitListedFiles`) finds what a walk of the root finds, under the walk's rules: nothing under
// node_modules or .git, nothing through a symlinked directory or a symlinked file (the listed path is the image's,
// never followed out of the root), no `..`.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSbom, type SbomLayer } from '../../src/sbom/index.js';
import { catalogCandidate } from '../../src/sbom/layer-catalog.js';
import { diffID } from '../helpers/sbom.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'sbom-listed-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const lock = (name: string, version: string): string => JSON.stringify({ lockfileVersion: 3, packages: { '': {}, [`node_modules/${name}`]: { version } } });

const root = path.join(tmp, 'root');
const outside = path.join(tmp, 'outside');
const files: Record<string, string> = {
  'app/package-lock.json': lock('left-pad', '1.3.0'),
  'opt/lib/package-lock.json': lock('is-odd', '3.0.1'),
  'app/node_modules/dep/package-lock.json': lock('under-node-modules', '1.0.0'),
  'app/.git/package-lock.json': lock('under-git', '1.0.0'),
  'srv/package-lock.json': lock('in-srv', '1.0.0'),
  'app/README.md': 'not a candidate',
};
for (const [rel, text] of Object.entries(files)) {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
}
mkdirSync(outside);
writeFileSync(path.join(outside, 'package-lock.json'), lock('outside-the-root', '6.6.6'));
symlinkSync(outside, path.join(root, 'linked-dir'));
symlinkSync(path.join(outside, 'package-lock.json'), path.join(root, 'app', 'requirements-link.txt'));

async function purls(rootfs: SbomLayer['rootfs']): Promise<string[]> {
  const doc = await generateSbom({ format: 'cyclonedx', subject: { name: 'registry.example/app:1' }, layers: [{ diffID: diffID('1'), dir: root, rootfs }], created: '2024-05-06T07:08:09Z', tool: { name: 'oci-s2i', version: 'test' } });
  return (JSON.parse(doc.bytes.toString('utf8')) as { components: Array<{ purl: string }> }).components.map((c) => c.purl).sort();
}

t.test('the listed files give what the walk gives', async (t) => {
  const walked = await purls({});
  t.same(walked, ['pkg:npm/in-srv@1.0.0', 'pkg:npm/is-odd@3.0.1', 'pkg:npm/left-pad@1.3.0'], 'the walk: no node_modules, no .git, no symlink followed');
  const listed = [...Object.keys(files), 'linked-dir/package-lock.json', 'app/requirements-link.txt', '../outside/package-lock.json', 'app/../outside/package-lock.json'];
  t.same(await purls({ files: listed }), walked, 'the same from the list, the symlinked and `..` paths included');
  t.same(await purls({ files: ['opt/lib/package-lock.json'] }), ['pkg:npm/is-odd@3.0.1'], 'only what is listed is read');
});

t.test('catalogCandidate: what a walk would read', async (t) => {
  for (const name of ['package-lock.json', 'requirements.txt', 'requirements-dev.txt', 'poetry.lock', 'Pipfile.lock', 'pom.xml', 'app.jar', 'app.war']) t.ok(catalogCandidate(name, 0o100644, 10), name);
  t.ok(catalogCandidate('server', 0o100755, 64), 'an executable of 64 bytes or more (could be a Go binary)');
  t.notOk(catalogCandidate('server', 0o100755, 63), 'a smaller one cannot be ELF');
  t.notOk(catalogCandidate('README.md', 0o100644, 1000), 'anything else');
});
