// in-image-ahead.ts: the SBOM work an in-image build does on the image's own files while assemble runs, in a
// worker thread at the lowest priority. On a real overlay mount (as root, as a container's root is): the worker
// must find the same candidate files as the main thread would (lowerChosenFiles), read them to the same findings
// (catalogFilesAhead), and the SBOM made with its findings for the files below untouched directories must be the
// SBOM made by reading everything after the change, byte for byte. A result not there when asked is none (the
// worker is stopped), as is one after an abort.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { takeSnapshot } from '../../src/layer/snapshot.js';
import { diffSnapshots } from '../../src/layer/snapshot-diff.js';
import { lowerChosenFiles, withLowerFiles } from '../../src/layer/snapshot-lower.js';
import { catalogCandidate, catalogFilesAhead, type FileFindings } from '../../src/sbom/layer-catalog.js';
import { loadFileFindings, storeFileFindings } from '../../src/sbom/cache.js';
import { findingsToKeep, keptFindings } from '../../src/pipeline/in-image-sbom-files.js';
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

const sbomOf = async (dir: string, files: string[], known?: Map<string, FileFindings>, record?: Map<string, FileFindings>): Promise<string> =>
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
  t.equal(want.path.length, 5 * 2 + 20, 'every lock file and executable of the image');
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
// pipeline share) are taken by the next build of that builder, in a fresh container, for the files below
// directories still in the image's layers and untouched by its assemble, when each has the size, mtime and mode it
// had; the SBOM is the one read afresh, byte for byte.
t.test('findings kept by one build are taken by the next, only for unchanged files below untouched directories', { skip: process.getuid?.() !== 0 ? 'needs root to mount an overlay' : false }, async (t) => {
  const cacheDir = path.join(tmp, 'kept-sbom');
  const imageId = `sha256:${'a'.repeat(64)}`;
  // The image's files have whole-second mtimes, as a tar gives them; each pod's lower dir is a copy of them.
  const image = path.join(tmp, 'kept-image');
  fs.mkdirSync(image);
  makeImage(image);
  for (const e of fs.readdirSync(image, { recursive: true, encoding: 'utf8' })) fs.utimesSync(path.join(image, e), 1_700_000_000, 1_700_000_000);
  const fromImage = (lower: string): void => fs.cpSync(image, lower, { recursive: true, preserveTimestamps: true });
  /** A pod of the image: the snapshot, its chosen lower files, `assemble` (rewrites `app`'s lock file), and what the
   *  SBOM lists then, with the files below untouched directories (`lower`). */
  const pod = async (name: string, app: string) => {
    const { merged } = await mountOverlay(t, path.join(tmp, name), fromImage);
    const snap = await takeSnapshot(merged, { choose: catalogCandidate });
    const chosen = lowerChosenFiles(snap);
    fs.writeFileSync(path.join(merged, app, 'lib', 'package-lock.json'), lock(app.replace('app', 'pkg'), app === 'app2' ? '7.0.0' : '9.9.9'));
    const lower = new Set<string>();
    const files = withLowerFiles(await diffSnapshots(snap, { listFiles: catalogCandidate, lowerFilesLater: true }), snap, chosen, lower);
    return { merged, snap, chosen, lower, files };
  };
  // The first pod: nothing kept yet; the SBOM reads every file and records what each gave.
  const { merged: root1, snap: snap1, chosen: chosen1, lower: lower1, files: files1 } = await pod('kept-1', 'app2');
  const record1 = new Map<string, FileFindings>();
  await sbomOf(root1, files1, undefined, record1);
  const keep1 = findingsToKeep(snap1, chosen1, lower1, record1, undefined, undefined);
  t.ok(keep1, 'something to keep');
  if (!keep1) return;
  t.notOk(keep1.has('app2/lib/package-lock.json'), 'not a file below a directory assemble touched');
  t.equal(keep1.size, chosen1.path.length - 2, 'every other chosen file (app2\'s lock file and tool are below a copied-up directory)');
  storeFileFindings(cacheDir, imageId, keep1);
  t.equal(loadFileFindings(cacheDir, `sha256:${'b'.repeat(64)}`), undefined, 'nothing kept for another image');
  const kept = loadFileFindings(cacheDir, imageId);
  t.same(kept, keep1, 'read back as written');
  if (!kept) return;

  // The next pod, from the same image: its assemble rewrites app1's lock file; one kept entry does not match its
  // file any more (as if kept from another image under this ID: another size).
  kept.set('usr/bin/cmd7', { ...kept.get('usr/bin/cmd7')!, size: 81 });
  const { merged: root2, snap: snap2, chosen: chosen2, lower: lower2, files: files2 } = await pod('kept-2', 'app1');
  const known = keptFindings(snap2, chosen2, lower2, kept);
  t.ok(known.has('app0/lib/package-lock.json') && known.has('usr/bin/cmd6'), 'kept findings taken for unchanged files below untouched directories');
  t.notOk(known.has('app2/lib/package-lock.json'), 'nor for one nothing was kept for (its directory was copied up in the first pod)');
  t.notOk(known.has('app1/lib/package-lock.json'), 'not for a file whose directory this assemble touched');
  t.notOk(known.has('usr/bin/cmd7'), 'not for a file whose size is not the kept one');
  const record2 = new Map<string, FileFindings>();
  const withKept = await sbomOf(root2, files2, known, record2);
  t.equal(withKept, await sbomOf(root2, files2), 'the SBOM with the kept findings is the SBOM read afresh, byte for byte');
  t.match(withKept, /pkg:npm\/pkg1@9\.9\.9/, 'the rewritten lock file as it is now');
  t.match(withKept, /pkg:npm\/pkg0@1\.0\.0/, 'an untouched one, from what was kept');
  t.same([...record2.keys()].sort(), ['app1/lib/package-lock.json', 'app1/lib/tool', 'app2/lib/package-lock.json', 'app2/lib/tool', 'usr/bin/cmd7'], 'the SBOM read only the files not taken');
  const keep2 = findingsToKeep(snap2, chosen2, lower2, record2, undefined, kept);
  t.ok(keep2?.has('app2/lib/package-lock.json'), 'what this build read is added to what was kept');
  t.equal(keep2?.get('usr/bin/cmd7')?.size, 80, 'with the file as it is');
  t.equal(findingsToKeep(snap2, chosen2, lower2, new Map(), undefined, kept), undefined, 'nothing read: nothing to write again');
});
