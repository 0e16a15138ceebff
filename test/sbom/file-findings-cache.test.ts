// sbom/cache.ts, the findings of an in-image build's builder files kept by image ID: what is written reads back
// the same; anything else in its place (another version, another image, a truncated or hand-edited file, entries of
// the wrong shape, a file too large to be one) reads as nothing kept, never as findings, and never throws.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadFileFindings, storeFileFindings, type CachedFile } from '../../src/sbom/cache.js';
import { FINDINGS_VERSION } from '../../src/sbom/layer-catalog.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'file-findings-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const image = `sha256:${'c'.repeat(64)}`;
const entry = (dir: string): string => path.join(dir, `image-sha256-${'c'.repeat(64)}.v${FINDINGS_VERSION}.files.json`);
const files = new Map<string, CachedFile>([
  ['usr/bin/tool', { size: 1234, mtimeMs: 1_700_000_000_000, mode: 0o100755, found: { packages: [{ type: 'golang', name: 'stdlib', version: 'go1.22.1', purl: 'pkg:golang/stdlib@go1.22.1', layer: '', location: 'usr/bin/tool' }], warnings: [] } }],
  ['app/package-lock.json', { size: 99, mtimeMs: 1_700_000_000_500.25, mode: 0o100644, found: { packages: [], warnings: ['/app/package-lock.json: no "packages"'] } }],
]);

t.test('what is written reads back the same, private to the user', async (t) => {
  const dir = path.join(tmp, 'ok');
  storeFileFindings(dir, image, files);
  t.same(loadFileFindings(dir, image), files);
  t.equal(fs.statSync(entry(dir)).mode & 0o777, 0o600, 'the entry is 0600');
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'its directory 0700');
  t.same(fs.readdirSync(dir), [path.basename(entry(dir))], 'no temp file left');
  t.equal(loadFileFindings(dir, `sha256:${'d'.repeat(64)}`), undefined, 'nothing for another image');
  t.equal(loadFileFindings(path.join(tmp, 'none'), image), undefined, 'nothing where nothing was kept');
  t.equal(loadFileFindings(dir, 'sha256:../../etc'), undefined, 'an ID that is not a digest names no file');
  storeFileFindings(dir, '../escape', files);
  t.notOk(fs.existsSync(path.join(tmp, 'escape')) || fs.readdirSync(dir).length !== 1, 'nor is written to');
});

t.test('anything else in its place is nothing kept', async (t) => {
  const dir = path.join(tmp, 'bad');
  const good = JSON.stringify({ version: FINDINGS_VERSION, image, files: [['a', 1, 2, 0o100755, [], []]] });
  const cases: Array<[string, string]> = [
    ['truncated', good.slice(0, -5)],
    ['another findings version', good.replace(`"version":${FINDINGS_VERSION}`, `"version":${FINDINGS_VERSION + 1}`)],
    ['another image', good.replace(image, `sha256:${'e'.repeat(64)}`)],
    ['files not a list', JSON.stringify({ version: FINDINGS_VERSION, image, files: {} })],
    ['an entry of five fields', JSON.stringify({ version: FINDINGS_VERSION, image, files: [['a', 1, 2, 3, []]] })],
    ['a size that is not a number', JSON.stringify({ version: FINDINGS_VERSION, image, files: [['a', '1', 2, 3, [], []]] })],
    ['a package without a name', JSON.stringify({ version: FINDINGS_VERSION, image, files: [['a', 1, 2, 3, [{ type: 'npm' }], []]] })],
    ['a warning that is not text', JSON.stringify({ version: FINDINGS_VERSION, image, files: [['a', 1, 2, 3, [], [7]]] })],
    ['null', 'null'],
  ];
  fs.mkdirSync(dir, { recursive: true });
  t.ok(loadFileFindings((fs.writeFileSync(entry(dir), good), dir), image), 'the good one reads');
  for (const [what, text] of cases) {
    fs.writeFileSync(entry(dir), text);
    t.equal(loadFileFindings(dir, image), undefined, what);
  }
  fs.rmSync(entry(dir));
  fs.writeFileSync(entry(dir), '');
  fs.truncateSync(entry(dir), (64 << 20) + 1);
  t.equal(loadFileFindings(dir, image), undefined, 'larger than 64 MiB: not read');
  fs.rmSync(entry(dir));
  fs.mkdirSync(entry(dir));
  t.equal(loadFileFindings(dir, image), undefined, 'a directory in its place');
});
