// The tree digest recorded at unpack time comes from content hashes the applier took while writing (by inode),
// with a metadata-only walk; `cache verify` recomputes it by reading every file. Property: for any layer — random
// mixes of dirs, empty/small/large (streamed) files, symlinks, hard links, replacements of every kind,
// whiteouts, opaque dirs, xattrs, setuid/setgid/sticky modes, owners, mtimes — the two are equal, and the
// recorded one read no file. Plus: the digest is sensitive to a wrong recorded hash, and the format is pinned.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { applyLayer } from '../../src/layer/apply.js';
import { MediaType } from '../../src/oci/media-types.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { layerMetaPath } from '../../src/store/layer-meta.js';
import { treeDigest } from '../../src/store/tree-digest.js';
import { makeTar, type TarEntry } from '../layer/apply-helpers.js';

const layerDigest = `sha256:${'77'.repeat(32)}`;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Deterministic numbers in [0, 1): sha256 of (seed, counter), eight per hash (Node has no seeded generator). */
function prng(seed: number): () => number {
  let block = Buffer.alloc(0);
  let off = 0;
  let n = 0;
  return () => {
    if (off + 4 > block.length) {
      block = createHash('sha256').update(`${seed}:${n++}`).digest();
      off = 0;
    }
    off += 4;
    return block.readUInt32LE(off - 4) / 2 ** 32;
  };
}

type Kind = 'dir' | 'file' | 'symlink' | 'other';

/** A random but valid layer: a model of what exists keeps hard links pointing at files reachable without symlinks. */
function randomLayer(seed: number, size: number): TarEntry[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const exists = new Map<string, Kind>();
  const dirs = (): string[] => ['', ...[...exists].filter(([, k]) => k === 'dir').map(([p]) => p)];
  const files = (): string[] => [...exists].filter(([, k]) => k === 'file').map(([p]) => p);
  const removeTree = (p: string): void => {
    for (const q of [...exists.keys()]) if (q === p || q.startsWith(`${p}/`)) exists.delete(q);
  };
  const join = (d: string, n: string): string => (d === '' ? n : `${d}/${n}`);
  const names = ['a', 'b', 'c', 'lib', 'bin', 'x y', 'ünï', 'long-'.repeat(30), '.hidden', 'f.txt'];
  const mtime = (): Date => new Date(Math.floor(rnd() * 2_000_000_000) * 1000);
  const fileMode = (): number => (rnd() < 0.3 ? pick([0o4755, 0o2755, 0o6711, 0o1777, 0o400, 0o600]) : 0o644);
  const dirMode = (): number => (rnd() < 0.3 ? pick([0o1777, 0o2755, 0o700, 0o750]) : 0o755);
  const owner = (): { uid: number; gid: number } => (rnd() < 0.3 ? { uid: pick([1, 33, 1001, 65534]), gid: pick([0, 50, 1001]) } : { uid: 0, gid: 0 });
  const xattrs = (): Record<string, string> | undefined =>
    rnd() < 0.15 ? { [`SCHILY.xattr.user.k${Math.floor(rnd() * 3)}`]: String.fromCharCode(...Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => 32 + Math.floor(rnd() * 90))) } : undefined;
  const data = (): Buffer => {
    const r = rnd();
    const n = r < 0.25 ? 0 : r < 0.97 ? 1 + Math.floor(rnd() * 9000) : (1 << 20) + Math.floor(rnd() * (2 << 20)); // large: streamed in many chunks
    const b = Buffer.alloc(n, createHash('sha256').update(`${seed}:${rnd()}`).digest()); // a pattern of this file's own
    for (let i = 0; i < 8 && n > 0; i++) b[Math.floor(rnd() * n)] = Math.floor(rnd() * 256);
    return b;
  };
  const out: TarEntry[] = [];
  for (let i = 0; i < size; i++) {
    const r = rnd();
    // Where: a new name in an existing dir, or an existing path (a replacement).
    const replace = rnd() < 0.25 && exists.size > 0;
    const p = replace ? pick([...exists.keys()]) : join(pick(dirs()), pick(names));
    if (r < 0.2) {
      if (exists.get(p) !== 'dir') removeTree(p);
      out.push({ name: `${p}/`, type: 'directory', mode: dirMode(), mtime: mtime(), ...owner(), ...(xattrs() ? { pax: xattrs() } : {}) });
      exists.set(p, 'dir');
    } else if (r < 0.6) {
      removeTree(p);
      const x = xattrs();
      out.push({ name: p, data: data(), mode: fileMode(), mtime: mtime(), ...owner(), ...(x ? { pax: x } : {}) });
      exists.set(p, 'file');
    } else if (r < 0.7) {
      removeTree(p);
      out.push({ name: p, type: 'symlink', linkname: pick(['a', '../b', '/lib/x', 'dangling/target', '.', '../../../..']), mtime: mtime(), ...owner() });
      exists.set(p, 'symlink');
    } else if (r < 0.82) {
      const fs_ = files().filter((f) => f !== p && !f.startsWith(`${p}/`));
      if (fs_.length === 0) continue;
      removeTree(p);
      out.push({ name: p, type: 'link', linkname: pick(fs_) });
      exists.set(p, 'file');
    } else if (r < 0.92) {
      removeTree(p);
      const slash = p.lastIndexOf('/');
      out.push({ name: slash < 0 ? `.wh.${p}` : `${p.slice(0, slash)}/.wh.${p.slice(slash + 1)}` });
      exists.set(p, 'other');
    } else if (r < 0.96) {
      const d = pick(dirs());
      out.push({ name: join(d, '.wh..wh..opq') });
    } else {
      removeTree(p);
      out.push({ name: p, type: 'fifo', mode: 0o600, mtime: mtime() });
      exists.set(p, 'other');
    }
  }
  return out;
}

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tree-digest-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('recorded tree digest = recomputed, over random layers', async (t) => {
  const base = await tmp(t);
  let files = 0;
  let big = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const entries = randomLayer(seed, 20 + (seed % 7) * 25);
    const root = path.join(base, `s${seed}`);
    await fs.mkdir(root);
    const res = await applyLayer(Readable.from([await makeTar(entries)]), root, { layerDigest });
    const recorded = await treeDigest(root, { known: res.files });
    const recomputed = await treeDigest(root);
    t.equal(recorded.digest, recomputed.digest, `seed ${seed}: ${entries.length} entries`);
    t.equal(recorded.filesRead, 0, `seed ${seed}: no file read`);
    t.equal(recorded.entries, recomputed.entries);
    files += recomputed.filesRead;
    big += entries.filter((e) => Buffer.isBuffer(e.data) && e.data.length > 1 << 20).length;
    await fs.rm(root, { recursive: true, force: true });
  }
  t.ok(files > 200, `the layers held files (${files})`);
  t.ok(big > 0, `some large files streamed (${big})`);
});

t.test('the record the layer cache writes equals the digest cache verify recomputes', async (t) => {
  const root = await tmp(t);
  const cache = await LayerCache.open(root);
  for (const seed of [101, 102, 103]) {
    const tar = await makeTar(randomLayer(seed, 150));
    const blob = { mediaType: MediaType.ociLayer, digest: sha(tar), size: tar.length };
    const r = await cache.ensure(blob, async () => Readable.from([tar]));
    const rec = JSON.parse(await fs.readFile(layerMetaPath(root, r.diffID), 'utf8')) as { tree: string; entries: number; bytes: number };
    const again = await treeDigest(r.dir);
    t.equal(rec.tree, again.digest, `seed ${seed}`);
    t.equal(rec.entries, again.entries);
    t.equal(rec.bytes, again.bytes);
  }
});

t.test('a wrong or stale recorded hash changes the digest; a size mismatch falls back to reading', async (t) => {
  const root = await tmp(t);
  const res = await applyLayer(Readable.from([await makeTar([{ name: 'a', data: 'one' }, { name: 'b', data: 'two' }])]), root, { layerDigest });
  const truth = await treeDigest(root);
  const st = await fs.stat(path.join(root, 'a'), { bigint: true });
  const wrong = new Map(res.files);
  wrong.set(st.ino, { size: st.size, sha256: '0'.repeat(64) });
  t.not((await treeDigest(root, { known: wrong })).digest, truth.digest, 'the recorded hash is what goes into the digest');
  const sized = new Map(res.files);
  sized.set(st.ino, { size: st.size + 1n, sha256: '0'.repeat(64) });
  const fallback = await treeDigest(root, { known: sized });
  t.equal(fallback.digest, truth.digest, 'a record of another size is not trusted');
  t.equal(fallback.filesRead, 1);
});

t.test('the format is pinned (spec/store-format.md "Tree digest")', async (t) => {
  const root = await tmp(t);
  const m = new Date(1_600_000_000_000);
  await applyLayer(
    Readable.from([
      await makeTar([
        { name: 'd/', type: 'directory', mode: 0o750, mtime: m },
        { name: 'd/f', data: 'hi', mode: 0o4755, mtime: m, pax: { 'SCHILY.xattr.user.k': 'v' } },
        { name: 'l', type: 'symlink', linkname: 'd/f', mtime: m },
        { name: '.wh.w' },
      ]),
    ]),
    root,
    { layerDigest },
  );
  const st = await fs.lstat(root);
  const wh = await fs.lstat(path.join(root, 'w'), { bigint: true });
  const own = (p: string): Promise<string> => fs.lstat(p).then((s) => `${s.uid}:${s.gid}`);
  const ns = '1600000000000000000';
  const lines = [
    `"." d ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} x[]`,
    `"d" d 750 ${await own(path.join(root, 'd'))} m${ns} x[]`,
    `"d/f" f 4755 ${await own(path.join(root, 'd/f'))} m${ns} 2 ${createHash('sha256').update('hi').digest('hex')} x["user.k=${Buffer.from('v').toString('hex')}"]`,
    `"l" l 777 ${await own(path.join(root, 'l'))} m${ns} "d/f" x[]`,
    `"w" c 0 ${await own(path.join(root, 'w'))} m${wh.mtimeNs} r0 x[]`,
  ];
  const expected = `sha256:${createHash('sha256').update(lines.map((l) => `${l}\n`).join('')).digest('hex')}`;
  t.equal((await treeDigest(root)).digest, expected);
});
