// sbom/cache.ts, the findings of an in-image build's builder files kept by image ID: what is written reads back
// the same; anything else in its place (another version or format, another image, a truncated or hand-edited file,
// entries of the wrong shape, a file too large to be one) reads as nothing kept, never as findings, and never
// throws. The note of which image a builder reference was is a guess that names only an image with an entry.
// `cache prune` removes the entries of what the store no longer holds, and nothing a running build may be writing.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keptImageOf, loadFileFindings, noteBuilderImage, pruneFindings, storeFileFindings, storeFindings, type KeptFiles } from '../../src/sbom/cache.js';
import { runCli } from '../helpers/cli.js';
import { FINDINGS_VERSION, type KnownFile } from '../../src/sbom/layer-catalog.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'file-findings-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const image = `sha256:${'c'.repeat(64)}`;
const entry = (dir: string): string => path.join(dir, `image-sha256-${'c'.repeat(64)}.v${FINDINGS_VERSION}.files.json`);
const files = new Map<string, KnownFile>([
  ['usr/bin/tool', { size: 1234, mtimeMs: 1_700_000_000_000, mode: 0o100755, found: { packages: [{ type: 'golang', name: 'stdlib', version: 'go1.22.1', purl: 'pkg:golang/stdlib@go1.22.1', layer: '', location: 'usr/bin/tool' }], warnings: [] } }],
  ['app/package-lock.json', { size: 99, mtimeMs: 1_700_000_000_500.25, mode: 0o100644, found: { packages: [], warnings: ['/app/package-lock.json: no "packages"'] } }],
]);
const kept: KeptFiles = { files, covered: ['usr', 'app'], reader: 'uid 1001 gid 0 groups 0' };

t.test('what is written reads back the same, private to the user', async (t) => {
  const dir = path.join(tmp, 'ok');
  storeFileFindings(dir, image, kept);
  t.same(loadFileFindings(dir, image), kept);
  t.equal(fs.statSync(entry(dir)).mode & 0o777, 0o600, 'the entry is 0600');
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'its directory 0700');
  t.same(fs.readdirSync(dir), [path.basename(entry(dir))], 'no temp file left');
  t.equal(loadFileFindings(dir, `sha256:${'d'.repeat(64)}`), undefined, 'nothing for another image');
  t.equal(loadFileFindings(path.join(tmp, 'none'), image), undefined, 'nothing where nothing was kept');
  t.equal(loadFileFindings(dir, 'sha256:../../etc'), undefined, 'an ID that is not a digest names no file');
  storeFileFindings(dir, '../escape', kept);
  t.notOk(fs.existsSync(path.join(tmp, 'escape')) || fs.readdirSync(dir).length !== 1, 'nor is written to');
});

t.test('anything else in its place is nothing kept', async (t) => {
  const dir = path.join(tmp, 'bad');
  const entryOf = (over: Record<string, unknown>): string => JSON.stringify({ version: FINDINGS_VERSION, format: 2, image, reader: 'uid 0 gid 0 groups 0 dac', covered: ['a'], files: [['a/b', 1, 2, 0o100755, [], []]], ...over });
  const good = entryOf({});
  const cases: Array<[string, string]> = [
    ['truncated', good.slice(0, -5)],
    ['another findings version', good.replace(`"version":${FINDINGS_VERSION}`, `"version":${FINDINGS_VERSION + 1}`)],
    ['the format before covered directories', entryOf({ format: undefined, covered: undefined })],
    ['another image', good.replace(image, `sha256:${'e'.repeat(64)}`)],
    ['files not a list', entryOf({ files: {} })],
    ['covered not a list', entryOf({ covered: 'a' })],
    ['no reader', entryOf({ reader: undefined })],
    ['a reader that is not text', entryOf({ reader: 0 })],
    ['a covered directory that is not text', entryOf({ covered: [1] })],
    ['the root covered', entryOf({ covered: [''] })],
    ['an entry of five fields', entryOf({ files: [['a', 1, 2, 3, []]] })],
    ['a size that is not a number', entryOf({ files: [['a', '1', 2, 3, [], []]] })],
    ['a package without a name', entryOf({ files: [['a', 1, 2, 3, [{ type: 'npm' }], []]] })],
    ['a warning that is not text', entryOf({ files: [['a', 1, 2, 3, [], [7]]] })],
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

t.test('the note of which image a builder was names only an image whose findings are kept', async (t) => {
  const dir = path.join(tmp, 'note');
  const builder = 'registry.example/team/go-builder:1.22 linux/amd64';
  t.equal(keptImageOf(dir, builder), undefined, 'nothing noted');
  noteBuilderImage(dir, builder, image);
  t.equal(keptImageOf(dir, builder), undefined, 'noted, but nothing kept for the image: no guess');
  storeFileFindings(dir, image, kept);
  t.equal(keptImageOf(dir, builder), image, 'noted and kept');
  t.equal(keptImageOf(dir, 'registry.example/team/go-builder:1.22 linux/arm64'), undefined, 'nothing for the same name on another platform');
  const note = fs.readdirSync(dir).find((f) => f.startsWith('builder-'))!;
  t.match(note, /^builder-[0-9a-f]{64}\.id$/, 'named by a digest of the reference, never by the reference itself');
  t.equal(fs.statSync(path.join(dir, note)).mode & 0o777, 0o600, 'private to the user');
  for (const [what, text] of [['not a digest', '../../etc/passwd'], ['empty', ''], ['a digest and more', `${image}\n${image}`]]) {
    fs.writeFileSync(path.join(dir, note), text!);
    t.equal(keptImageOf(dir, builder), undefined, `a note ${what}: no guess`);
  }
  fs.rmSync(path.join(dir, note));
  fs.symlinkSync(path.join(dir, path.basename(entry(dir))), path.join(dir, note));
  t.equal(keptImageOf(dir, builder), undefined, 'a symlink in its place is not followed');
  fs.rmSync(path.join(dir, note));
  noteBuilderImage(dir, builder, 'not-a-digest');
  t.equal(fs.readdirSync(dir).filter((f) => f.startsWith('builder-')).length, 0, 'an image ID that is not a digest is not noted');
});

t.test('pruneFindings: the entries of what the store no longer holds go, once older than a running build', async (t) => {
  const dir = path.join(tmp, 'prune');
  const id = (c: string): string => `sha256:${c.repeat(64)}`;
  const findings = { version: FINDINGS_VERSION, dbs: {}, osRelease: {}, files: [], warnings: [] };
  storeFindings(dir, id('1'), findings); // its layer is held
  storeFindings(dir, id('2'), findings); // its layer is gone
  storeFileFindings(dir, id('3'), { ...kept }); // its config is held
  storeFileFindings(dir, id('4'), { ...kept }); // its config is gone
  noteBuilderImage(dir, 'held/builder:1 linux/amd64', id('3'));
  noteBuilderImage(dir, 'gone/builder:1 linux/amd64', id('4'));
  noteBuilderImage(dir, 'nothing/kept:1 linux/amd64', id('5'));
  const older = path.join(dir, `sha256-${'6'.repeat(64)}.v${FINDINGS_VERSION - 1}.json`);
  fs.writeFileSync(older, '{}', { mode: 0o600 });
  const corrupt = path.join(dir, `image-sha256-${'7'.repeat(64)}.v${FINDINGS_VERSION}.files.json`);
  fs.writeFileSync(corrupt, '{"version":', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'x.json.1a2b.tmp'), '', { mode: 0o600 });
  fs.mkdirSync(path.join(dir, `sha256-${'8'.repeat(64)}.v${FINDINGS_VERSION}.json`));
  fs.writeFileSync(path.join(dir, 'README'), 'not ours');
  const held = { layer: (d: string) => d === id('1'), blob: (d: string) => [id('3'), id('5'), id('7')].includes(d) };
  const before = fs.readdirSync(dir).sort();
  t.equal(pruneFindings(dir, held, Date.now(), 10 * 60_000), 0, 'nothing younger than a running build goes');
  t.same(fs.readdirSync(dir).sort(), before);
  const later = Date.now() + 11 * 60_000;
  t.equal(pruneFindings(dir, held, later, 10 * 60_000), 7, 'older: seven go');
  const left = fs.readdirSync(dir).sort();
  t.ok(left.includes(`sha256-${'1'.repeat(64)}.v${FINDINGS_VERSION}.json`), 'a held layer\'s findings stay');
  t.notOk(left.includes(`sha256-${'2'.repeat(64)}.v${FINDINGS_VERSION}.json`), 'a gone layer\'s go');
  t.ok(loadFileFindings(dir, id('3')), 'a held image\'s file findings stay');
  t.notOk(left.includes(`image-sha256-${'4'.repeat(64)}.v${FINDINGS_VERSION}.files.json`), 'a gone image\'s go');
  t.equal(keptImageOf(dir, 'held/builder:1 linux/amd64'), id('3'), 'the note of a held image stays');
  t.equal(left.filter((f) => f.startsWith('builder-')).length, 1, 'the notes of a gone image and of one nothing is kept for go');
  t.notOk(left.includes(path.basename(older)), 'an entry of another findings version goes');
  t.notOk(left.includes(path.basename(corrupt)), 'an entry that does not read goes');
  t.notOk(left.some((f) => f.endsWith('.tmp')), 'a temp file goes');
  t.ok(left.includes(`sha256-${'8'.repeat(64)}.v${FINDINGS_VERSION}.json`) && left.includes('README'), 'a directory and a name not ours stay');
  t.equal(pruneFindings(path.join(tmp, 'none'), held, later, 0), 0, 'no sbom/ dir: nothing');
});

t.test('cache prune removes the SBOM entries of what it removed', async (t) => {
  const root = path.join(tmp, 'store');
  fs.mkdirSync(root, { mode: 0o700 });
  const sbom = path.join(root, 'sbom');
  storeFindings(sbom, `sha256:${'9'.repeat(64)}`, { version: FINDINGS_VERSION, dbs: {}, osRelease: {}, files: [], warnings: [] });
  storeFileFindings(sbom, `sha256:${'a'.repeat(64)}`, { ...kept });
  const young = `image-sha256-${'b'.repeat(64)}.v${FINDINGS_VERSION}.files.json`;
  storeFileFindings(sbom, `sha256:${'b'.repeat(64)}`, { ...kept });
  const old = (Date.now() - 3600_000) / 1000;
  for (const f of fs.readdirSync(sbom)) if (f !== young) fs.utimesSync(path.join(sbom, f), old, old);
  const r = await runCli(['cache', 'prune', '--root', root]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /[1-9]\d* leftover\(s\)/, 'counted with the leftovers');
  t.same(fs.readdirSync(sbom), [young], 'the entries of a layer and an image the store lacks went; a young one stays');
});
