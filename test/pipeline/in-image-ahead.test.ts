// in-image-ahead.ts: the SBOM work an in-image build does on the image's own files while assemble runs, in a
// worker thread at the lowest priority. On a real overlay mount (as root, as a container's root is): the worker
// must find the same candidate files as the main thread would (lowerChosenFiles), read them to the same findings
// (catalogFilesAhead), and the SBOM made with its findings for the files below untouched directories must be the
// SBOM made by reading everything after the change, byte for byte. A result not there when asked is none (the
// worker is stopped), as is one after an abort.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots } from '../../src/layer/snapshot-diff.js';
import { lowerChosenFiles, withLowerFiles } from '../../src/layer/snapshot-lower.js';
import { catalogCandidate, catalogFilesAhead, type KnownFile } from '../../src/sbom/layer-catalog.js';
import { loadFileFindings, storeFileFindings } from '../../src/sbom/cache.js';
import { findingsToKeep, keptKnown, lowerFilesFromKept, readerOf } from '../../src/pipeline/in-image-sbom-files.js';
import { generateSbom } from '../../src/sbom/index.js';
import { startAhead, type AheadRun } from '../../src/pipeline/in-image-ahead.js';
import { mountOverlay } from '../layer/snapshot-fixture.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'in-image-ahead-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const lock = (name: string, version: string): string =>
  JSON.stringify({ name: 'app', lockfileVersion: 3, packages: { '': { name: 'app' }, [`node_modules/${name}`]: { version } } });

/** An image's tree: lock files (packages), executables that are not ELF (read, no package), plain files. */
function makeImage(root: string): void {
  for (let i = 0; i < 5; i++) {
    const d = path.join(root, `app${i}`, 'lib');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'package-lock.json'), lock(`pkg${i}`, `1.${i}.0`));
    fs.writeFileSync(path.join(d, 'tool'), Buffer.alloc(100, 0x41), { mode: 0o755 });
    fs.writeFileSync(path.join(d, 'README'), 'text');
  }
  fs.mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, 'usr', 'bin', `cmd${i}`), Buffer.alloc(80, 0x42), { mode: 0o755 });
  // Names whose walk order (by component) is not their order as whole strings ("a.b/…" sorts before "a/…").
  for (const d of ['a', 'a.b', 'a-b']) {
    fs.mkdirSync(path.join(root, 'usr', 'share', d), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr', 'share', d, 'pom.xml'), `<project><groupId>g</groupId><artifactId>${d}</artifactId><version>1.0</version></project>`);
  }
}

/** Waits for the worker to end: it is unref'd (a build never waits for it), so a timer keeps this process up. */
async function ended(run: AheadRun): Promise<void> {
  const keep = setInterval(() => {}, 1000);
  try {
    await run.settled;
  } finally {
    clearInterval(keep);
  }
}

const sbomOf = async (dir: string, files: string[], known?: Map<string, KnownFile>, record?: Map<string, KnownFile>): Promise<string> =>
  (await generateSbom({ format: 'spdx', subject: { name: 'x' }, layers: [{ diffID: `sha256:${'0'.repeat(64)}`, dir, rootfs: { files, ...(known ? { known } : {}), ...(record ? { record } : {}) } }], created: '2026-01-01T00:00:00Z', tool: { name: 't', version: '1' } })).bytes.toString();

t.test('the worker finds and reads what the main thread would; the SBOM with its findings is the same', { skip: process.getuid?.() !== 0 ? 'needs root to mount an overlay' : false }, async (t) => {
  const ovl = await mountOverlay(t, path.join(tmp, 'same'), makeImage);
  const root = ovl.merged;
  const snap = await takeSnapshot(root, { choose: catalogCandidate });
  t.ok(snap.choosing, 'an overlay root: the snapshot chooses the SBOM\'s files');
  const run = startAhead(snap);
  await ended(run);
  const got = run.take();
  t.ok(got, 'the worker gave its result');
  // Node tracks a worker's file descriptors by default and took each one the native addon opened for a stray at its
  // close: one warning with a stack trace per file read (≈ 20 ms for the Go builder's 544).
  t.equal(run.stderr(), '', 'the worker wrote nothing to stderr (no warning per file it closed)');
  if (!got) return;
  const want = lowerChosenFiles(snap);
  t.same(got.chosen.path, want.path, 'the same candidate files, in walk order');
  t.same([...got.chosen.index], [...want.index], 'at the same snapshot entries');
  t.equal(want.path.length, 5 * 2 + 20 + 3, 'every lock file, POM and executable of the image');
  t.same([...got.found].sort(), [...(await catalogFilesAhead(root, want.path, snap.exclude))].sort(), 'the same findings as read on the main thread');

  // assemble: rewrites one lock file (its directories are copied up), adds one, removes a tool.
  fs.writeFileSync(path.join(root, 'app1', 'lib', 'package-lock.json'), lock('pkg1', '9.9.9'));
  fs.mkdirSync(path.join(root, 'opt'));
  fs.writeFileSync(path.join(root, 'opt', 'package-lock.json'), lock('added', '2.0.0'));
  fs.rmSync(path.join(root, 'app3', 'lib', 'tool'));
  const diff = await diffSnapshots(snap, { listFiles: catalogCandidate, lowerFilesLater: true });
  const walked = await diffSnapshots(snap, { listFiles: catalogCandidate });
  const lower = new Set<string>();
  const files = withLowerFiles(diff, snap, got.chosen, lower);
  t.same(files, withLowerFiles(diff, snap), 'the worker\'s list puts the same files in the same places as the snapshot\'s own');
  t.same(files, walked.files, 'the files a walk of every directory lists');
  t.notOk(lower.has('app1/lib/package-lock.json'), 'a file whose directory assemble touched is not taken from before');
  t.notOk(lower.has('app3/lib/tool'), 'nor one assemble removed');
  t.ok(lower.has('app0/lib/package-lock.json') && lower.has('usr/bin/cmd7'), 'files below untouched directories are');
  const known = new Map([...lower].filter((f) => got.found.has(f)).map((f) => [f, got.found.get(f)!] as const));
  const withKnown = await sbomOf(root, files, known);
  t.equal(withKnown, await sbomOf(root, files), 'the SBOM with the worker\'s findings is the SBOM read after the change, byte for byte');
  t.match(withKnown, /pkg:npm\/pkg1@9\.9\.9/, 'the rewritten lock file as it is now');
  t.notMatch(withKnown, /pkg:npm\/pkg1@1\.1\.0/, 'not as it was');
  t.match(withKnown, /pkg:npm\/added@2\.0\.0/);
  t.match(withKnown, /pkg:npm\/pkg4@1\.4\.0/, 'an untouched one, from the worker');
});

t.test('a result not there when asked is none, and the worker stops; so after an abort', { skip: process.getuid?.() !== 0 ? 'needs root to mount an overlay' : false }, async (t) => {
  const ovl = await mountOverlay(t, path.join(tmp, 'early'), makeImage);
  const snap = await takeSnapshot(ovl.merged, { choose: catalogCandidate });
  const run = startAhead(snap);
  t.equal(run.take(), undefined, 'asked at once: none');
  await ended(run);
  t.equal(run.take(), undefined, 'and none after (it was stopped)');
  const ac = new AbortController();
  const aborted = startAhead(snap, ac.signal);
  ac.abort();
  await ended(aborted);
  t.equal(aborted.take(), undefined, 'aborted: none');
  const plain = await takeSnapshot(ovl.merged);
  t.equal(startAhead(plain).take(), undefined, 'a snapshot that chose nothing: no worker, none');
});

// in-image-sbom-files.ts: the findings of the builder's files one build keeps in its store (a --root the pods of a
// pipeline share) are taken by the next build of that builder, in a fresh container whose snapshot recorded names
// alone, for the files below directories still in the image's layers and untouched by its assemble, when each has
// the size, mtime and mode it had; the SBOM is the one read afresh, byte for byte, and each build reads only what
// was not kept.
t.test('findings kept by one build are taken by the next, only for unchanged files below untouched directories', { skip: process.getuid?.() !== 0 ? 'needs root to mount an overlay' : false }, async (t) => {
  const cacheDir = path.join(tmp, 'kept-sbom');
  const imageId = `sha256:${'a'.repeat(64)}`;
  // The image's files have whole-second mtimes, as a tar gives them; each pod's lower dir is a copy of them.
  const image = path.join(tmp, 'kept-image');
  fs.mkdirSync(image);
  makeImage(image);
  for (const e of fs.readdirSync(image, { recursive: true, encoding: 'utf8' })) fs.utimesSync(path.join(image, e), 1_700_000_000, 1_700_000_000);
  const fromImage = (lower: string): void => fs.cpSync(image, lower, { recursive: true, preserveTimestamps: true });
  /** A pod of the image: the snapshot (stat'ing every entry to choose the SBOM's files, or names alone), `assemble`
   *  (rewrites `app`'s lock file), the diff, and what a walk of every directory lists for the SBOM. */
  const pod = async (name: string, app: string, names: boolean, over?: string) => {
    const { merged } = await mountOverlay(t, path.join(tmp, name), fromImage);
    // A volume over a directory of the image (mounted before the snapshot, as a runtime does).
    const empty = path.join(tmp, `${name}-volume`);
    if (over) {
      fs.mkdirSync(empty);
      execFileSync('mount', ['--bind', empty, path.join(merged, over)]);
    }
    const unbind = (): void => void (over && execFileSync('umount', [path.join(merged, over)]));
    const snap = await takeSnapshot(merged, names ? {} : { choose: catalogCandidate });
    fs.writeFileSync(path.join(merged, app, 'lib', 'package-lock.json'), lock(app.replace('app', 'pkg'), app === 'app2' ? '7.0.0' : '9.9.9'));
    const diff = await diffSnapshots(snap, { listFiles: catalogCandidate, lowerFilesLater: true });
    const walked = (await diffSnapshots(snap, { listFiles: catalogCandidate })).files;
    return { merged, snap, diff, walked, unbind };
  };
  const dirs = (d: { lowerDirs: Array<{ rel: Buffer }> }): string[] => d.lowerDirs.map((l) => l.rel.toString());
  const reader = readerOf();

  // The first pod: nothing kept yet; the SBOM reads every chosen file and records what each gave.
  const p1 = await pod('kept-1', 'app2', false);
  const lower1 = new Set<string>();
  const files1 = withLowerFiles(p1.diff, p1.snap, undefined, lower1);
  t.same(files1, p1.walked, 'the files a walk of every directory lists');
  const record1 = new Map<string, KnownFile>();
  await sbomOf(p1.merged, files1, undefined, record1);
  const keep1 = findingsToKeep(p1.diff.lowerDirs, p1.snap.exclude, lower1, record1, undefined, undefined, reader);
  t.ok(keep1, 'something to keep');
  if (!keep1) return;
  t.notOk(keep1.files.has('app2/lib/package-lock.json'), 'not a file below a directory assemble touched');
  t.equal(keep1.files.size, files1.length - 2, 'every other chosen file (app2\'s lock file and tool are below a copied-up directory)');
  t.same(keep1.covered, ['app0', 'app1', 'app3', 'app4', 'usr'], 'the directories assemble left untouched are covered');
  storeFileFindings(cacheDir, imageId, keep1);
  t.equal(loadFileFindings(cacheDir, `sha256:${'b'.repeat(64)}`), undefined, 'nothing kept for another image');
  const kept = loadFileFindings(cacheDir, imageId);
  t.same(kept, keep1, 'read back as written');
  if (!kept) return;

  // The next pod, from the same image, its snapshot of names alone: its assemble rewrites app1's lock file; one
  // kept entry does not match its file any more (as if kept from another image under this ID: another size).
  kept.files.set('usr/bin/cmd7', { ...kept.files.get('usr/bin/cmd7')!, size: 81 });
  const p2 = await pod('kept-2', 'app1', true);
  t.notOk(p2.snap.choosing, 'the snapshot recorded names alone');
  t.same(dirs(p2.diff), ['app0', 'app2', 'app3', 'app4', 'usr'], 'the diff skipped the untouched directories');
  const { files: files2, lower: lower2 } = lowerFilesFromKept(p2.diff, p2.snap, kept);
  t.same(files2.filter((f) => lower2.has(f) && !f.startsWith('app2/')), p1.walked.filter((f) => !/^app[12]\//.test(f)), 'below covered directories: the kept files, in walk order');
  t.same(files2.filter((f) => f.startsWith('app2/')), ['app2/lib/README', 'app2/lib/package-lock.json', 'app2/lib/tool'], 'below a directory not covered: every regular file (the catalog takes its own)');
  t.same(files2.filter((f) => !lower2.has(f)), ['app1/lib/package-lock.json', 'app1/lib/tool'], 'and what the diff listed where assemble wrote');
  const known = keptKnown(kept, lower2);
  t.ok(known.has('app0/lib/package-lock.json') && known.has('usr/bin/cmd6'), 'kept findings offered for files below untouched directories');
  t.notOk(known.has('app1/lib/package-lock.json'), 'not for a file whose directory this assemble touched');
  const record2 = new Map<string, KnownFile>();
  const withKept = await sbomOf(p2.merged, files2, known, record2);
  t.equal(withKept, await sbomOf(p2.merged, p2.walked), 'the SBOM with the kept findings is the SBOM read afresh, byte for byte');
  t.match(withKept, /pkg:npm\/pkg1@9\.9\.9/, 'the rewritten lock file as it is now');
  t.match(withKept, /pkg:npm\/pkg0@1\.0\.0/, 'an untouched one, from what was kept');
  t.match(withKept, /pkg:maven\/g\/a\.b@1\.0/, 'a POM below a name that sorts apart from its string order');
  t.same([...record2.keys()].sort(), ['app1/lib/package-lock.json', 'app1/lib/tool', 'app2/lib/package-lock.json', 'app2/lib/tool', 'usr/bin/cmd7'], 'the SBOM read only the files not taken, and no file it does not catalog (app2\'s README)');
  const keep2 = findingsToKeep(p2.diff.lowerDirs, p2.snap.exclude, lower2, record2, undefined, kept, reader);
  t.ok(keep2?.files.has('app2/lib/package-lock.json'), 'what this build read below untouched directories is added to what was kept');
  t.notOk(keep2?.files.has('app2/lib/README'), 'not a file the catalog does not read');
  t.equal(keep2?.files.get('usr/bin/cmd7')?.size, 80, 'with the file as it is');
  t.equal(keep2?.files.get('app1/lib/package-lock.json')?.size, kept.files.get('app1/lib/package-lock.json')?.size, 'a file assemble rewrote keeps the image\'s finding');
  t.same(keep2?.covered, ['app0', 'app1', 'app2', 'app3', 'app4', 'usr'], 'and every directory covered now');
  if (!keep2) return;
  t.equal(findingsToKeep(p2.diff.lowerDirs, p2.snap.exclude, lower2, new Map(), undefined, keep2, reader), undefined, 'nothing read and nothing newly covered: nothing to write again');
  const asOther = findingsToKeep(p2.diff.lowerDirs, p2.snap.exclude, lower2, record2, undefined, keep2, 'uid 1000680000 gid 0 groups 0');
  t.same(asOther && { size: asOther.files.size, reader: asOther.reader }, { size: [...record2.keys()].filter((f) => lower2.has(f)).length, reader: 'uid 1000680000 gid 0 groups 0' }, 'read as another reader: what was kept is dropped, only what this build read is kept');

  // A third pod: every untouched directory is covered; the SBOM reads only what assemble wrote.
  const p3 = await pod('kept-3', 'app3', true);
  const l3 = lowerFilesFromKept(p3.diff, p3.snap, keep2);
  t.same(l3.files, p3.walked, 'all covered: the same files as a walk of every directory, in the same order');
  const record3 = new Map<string, KnownFile>();
  t.equal(await sbomOf(p3.merged, l3.files, keptKnown(keep2, l3.lower), record3), await sbomOf(p3.merged, p3.walked), 'the same SBOM as read afresh');
  t.same([...record3.keys()].sort(), ['app3/lib/package-lock.json', 'app3/lib/tool'], 'read: only the files below the directory assemble wrote in');

  // Nothing kept (the builder turned out to be another image than noted): every regular file below the skipped
  // directories is listed, and the SBOM is still the one read afresh.
  const none = lowerFilesFromKept(p3.diff, p3.snap, undefined);
  t.equal(await sbomOf(p3.merged, none.files), await sbomOf(p3.merged, p3.walked), 'nothing kept: the same SBOM');
  t.ok(none.files.includes('app0/lib/README'), 'every regular file listed');

  // A pod with a volume over app4/lib: app4 is skipped by the diff but not covered (its files were hidden), so the
  // next pod, without the volume, reads them.
  const p4 = await pod('kept-4', 'app3', true, 'app4/lib');
  let keep4: ReturnType<typeof findingsToKeep>;
  try {
    t.ok(dirs(p4.diff).includes('app4'), 'app4 skipped by the diff (a mount changes nothing in the overlay)');
    const l4 = lowerFilesFromKept(p4.diff, p4.snap, undefined);
    t.notOk(l4.files.some((f) => f.startsWith('app4/')), 'nothing listed below the volume');
    const record4 = new Map<string, KnownFile>();
    await sbomOf(p4.merged, l4.files, undefined, record4);
    keep4 = findingsToKeep(p4.diff.lowerDirs, p4.snap.exclude, l4.lower, record4, undefined, undefined, reader);
  } finally {
    p4.unbind();
  }
  t.notOk(keep4?.covered.includes('app4'), 'a directory with a volume below it is not covered');
  t.ok(keep4?.covered.includes('app0'), 'the others are');
  const p5 = await pod('kept-5', 'app3', true);
  const l5 = lowerFilesFromKept(p5.diff, p5.snap, keep4);
  t.ok(l5.files.includes('app4/lib/package-lock.json'), 'the next pod, without the volume, lists what it hid');
  const sbom5 = await sbomOf(p5.merged, l5.files, keptKnown(keep4, l5.lower));
  t.equal(sbom5, await sbomOf(p5.merged, p5.walked), 'and makes the SBOM read afresh');
  t.match(sbom5, /pkg:npm\/pkg4@1\.4\.0/, 'with the package below it');
});

t.test('the reader a kept entry holds for: user, groups, and a capability that reads past file modes', async (t) => {
  const none = readerOf('CapEff:\t0000000000000000\n');
  t.match(none, new RegExp(`^uid ${process.geteuid!()} gid ${process.getegid!()} groups [0-9,]*$`), 'user and groups');
  t.equal(readerOf('CapEff:\t0000000000000002\n'), `${none} dac`, 'CAP_DAC_OVERRIDE');
  t.equal(readerOf('CapEff:\t0000000000000004\n'), `${none} dac`, 'CAP_DAC_READ_SEARCH');
  t.equal(readerOf('CapEff:\t00000000a80425fb\n'), `${none} dac`, 'a container root\'s default set');
});
