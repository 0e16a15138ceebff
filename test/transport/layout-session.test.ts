// Many images into one OCI layout at once (transport/undo-destination.ts openLayoutSession, what `sync` writes
// with): index.json changes one at a time, so no image's entry is lost; at the end, the blobs of an image that
// was not committed are removed unless a committed image uses them; with nothing committed the layout is as it was.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { OciLayout, OciLayoutSource } from '../../src/transport/oci-layout.js';
import { openLayoutSession } from '../../src/transport/undo-destination.js';
import { copyImage } from '../../src/transport/copy.js';
import { writeTinyImage, type TinyImage } from '../cli/tiny-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-layout-session-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const blobs = (dir: string) => readdirSync(path.join(dir, 'blobs', 'sha256')).sort();
const names = (dir: string) =>
  (JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> }).manifests
    .map((m) => m.annotations?.['org.opencontainers.image.ref.name'])
    .sort();

t.test('images at once: every entry kept; an image not committed leaves nothing a committed one does not use', async (t) => {
  const src = path.join(tmp, 'src');
  const platforms = ['amd64', 'arm64', 's390x', 'ppc64le', '386', 'riscv64'];
  const images: TinyImage[] = [];
  for (const a of platforms) images.push(await writeTinyImage(src, tmp, { os: 'linux', architecture: a }, a));
  const layout = await OciLayout.openExisting(src);
  const dst = path.join(tmp, 'dst');
  const session = await openLayoutSession(dst);
  // all six committed at once: index.json is changed one at a time, so all six are named
  await Promise.all(platforms.slice(0, 5).map(async (a) => copyImage(new OciLayoutSource(layout, a, a), session.destination(`x/${a}:1`, a))));
  // the sixth is cut short: its layer and the amd64 config (which a committed image has) written, no manifest
  const cut = images[5]!;
  const d = session.destination('x/riscv64:1', 'riscv64');
  await d.pushBlob(cut.layer, async () => layout.open(cut.layer));
  await d.pushBlob(images[0]!.config, async () => layout.open(images[0]!.config));
  await d.pushBlob(cut.config, () => Readable.from([readFileSync(layout.blobPath(cut.config.digest))]));
  t.ok(session.committed);
  await session.close();
  t.same(names(dst), platforms.slice(0, 5).map((a) => `x/${a}:1`).sort());
  const want = images.slice(0, 5).flatMap((i) => [i.manifest.digest, i.config.digest, i.layer.digest]).map((x) => x.slice(7)).sort();
  t.same(blobs(dst), want, 'the cut image left nothing; the blob it shares with a committed image stays');
});

t.test('nothing committed: an existing layout as it was', async (t) => {
  const dir = path.join(tmp, 'existing');
  const first = await writeTinyImage(dir, tmp, { os: 'linux', architecture: 'amd64' }, 'keep');
  const index = readFileSync(path.join(dir, 'index.json'));
  const before = blobs(dir);
  const other = await writeTinyImage(path.join(tmp, 'other'), tmp, { os: 'linux', architecture: 'arm64' }, 'x');
  const src = await OciLayout.openExisting(path.join(tmp, 'other'));
  const session = await openLayoutSession(dir);
  const d = session.destination('new', 'new');
  await d.pushBlob(other.layer, async () => src.open(other.layer));
  await d.pushBlob(first.layer, () => Readable.from([readFileSync(path.join(dir, 'blobs', 'sha256', first.layer.digest.slice(7)))]));
  await session.close();
  t.notOk(session.committed);
  t.same(readFileSync(path.join(dir, 'index.json')), index);
  t.same(blobs(dir), before);
});
