// Differential: the merged tree of our per-layer dirs stacked in a kernel overlay (userxattr) equals the tree
// `umoci unpack` produces for the same image (paths, types, modes, owners, link targets, contents).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { LayerCache } from '../../src/store/layer-cache.js';
import { makeTar, sha256, type TarEntry } from './apply-helpers.js';

const exec = promisify(execFile);
const canRun = process.geteuid?.() === 0 && (await exec('umoci', ['--version']).then(() => true, () => false));

const longDir = `usr/share/${'very-long-directory-name-'.repeat(5)}`;
const layers: TarEntry[][] = [
  [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: 'busybox binary', mode: 0o755 },
    { name: 'bin/sh', type: 'link', linkname: 'bin/busybox' },
    { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
    { name: 'bin/su', data: 'su', mode: 0o4755 },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/lib/', type: 'directory' },
    { name: 'usr/lib/libx.so.1.2', data: 'v1', mode: 0o755 },
    { name: 'usr/lib/libx.so.1', type: 'symlink', linkname: 'libx.so.1.2' },
    { name: 'usr/lib/libx.so', type: 'symlink', linkname: 'libx.so.1' },
    { name: 'usr/share/', type: 'directory' },
    { name: 'usr/share/zoneinfo/', type: 'directory' },
    { name: 'usr/share/zoneinfo/UTC', data: 'TZif2' },
    { name: `${longDir}/`, type: 'directory' },
    { name: `${longDir}/${'file-with-a-long-name-'.repeat(8)}`, data: 'long' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/app/', type: 'directory', uid: 1001, gid: 1001 },
    { name: 'opt/app/a', data: 'a', uid: 1001, gid: 1001 },
    { name: 'opt/app/b', data: 'b' },
    { name: 'var/', type: 'directory' },
    { name: 'var/tmp/', type: 'directory', mode: 0o1777 },
    { name: 'home/', type: 'directory' },
    { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1001, gid: 1001 },
    { name: 'home/user/.profile', data: 'export A=1', uid: 1001, gid: 1001, mode: 0o600 },
  ],
  [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/.wh.ls' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\napp:x:1001:1001::/opt/app:/bin/sh\n' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/app/', type: 'directory', uid: 1001, gid: 1001 },
    { name: 'opt/app/.wh..wh..opq' },
    { name: 'opt/app/new', data: 'new' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/lib/', type: 'directory' },
    { name: 'usr/lib/libx.so.1.2', data: 'v2', mode: 0o755 },
    { name: 'var/', type: 'directory' },
    { name: 'var/log/', type: 'directory' },
    { name: 'var/log/app.log', data: '' },
  ],
  [
    { name: '.wh.home' },
    { name: 'srv/', type: 'directory' },
    { name: 'srv/data', data: 'data', mode: 0o640, uid: 33, gid: 33 },
    { name: 'srv/data-link', type: 'link', linkname: 'srv/data' },
    { name: 'usr/', type: 'directory' },
    { name: `${longDir.split('/').slice(0, 2).join('/')}/`, type: 'directory' },
    { name: `${longDir}/`, type: 'directory' },
    { name: `${longDir}/.wh.${'file-with-a-long-name-'.repeat(8)}` },
  ],
];

const dumpScript = (dir: string): string =>
  `cd "${dir}" && find . -mindepth 1 -printf '%P|%y|%m|%U|%G|%l\\n' | sort && find . -type f -exec sha256sum {} + | sort -k2`;

t.test('merged overlay of our layer dirs equals umoci unpack', { skip: canRun ? false : 'needs root and umoci' }, async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'umoci-diff-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const store = await BlobStore.open(path.join(root, 'store'));
  const cache = await LayerCache.open(path.join(root, 'store'));
  const descs = [];
  const diffIDs = [];
  const dirs = [];
  for (const entries of layers) {
    const tar = await makeTar(entries);
    const gz = zlib.gzipSync(tar);
    const desc = await store.putBytes(gz, MediaType.ociLayerGzip);
    descs.push(desc);
    diffIDs.push(sha256(tar));
    const r = await cache.ensure(desc, async () => store.open(desc.digest), { expectedDiffID: sha256(tar) });
    dirs.push(r.dir);
  }
  const config = await store.putBytes(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIDs } })),
    MediaType.ociConfig,
  );
  const manifest = await store.putBytes(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descs })),
    MediaType.ociManifest,
  );
  await store.tag(manifest, 'diff');
  const bundle = path.join(root, 'bundle');
  await exec('umoci', ['unpack', '--image', `${path.join(root, 'store', 'oci')}:diff`, bundle]);
  const { stdout: theirs } = await exec('sh', ['-c', dumpScript(path.join(bundle, 'rootfs'))], { maxBuffer: 1 << 24 });

  const mnt = path.join(root, 'mnt');
  await fs.mkdir(mnt);
  const lower = [...dirs].reverse().join(':');
  const { stdout: ours } = await exec(
    'unshare',
    ['-m', 'sh', '-c', `mount -t overlay overlay -o userxattr,lowerdir=${lower} "${mnt}" && ${dumpScript(mnt)}`],
    { maxBuffer: 1 << 24 },
  );
  t.equal(ours, theirs, 'same paths, types, modes, owners, link targets, contents');
  t.match(ours, /opt\/app\/new/);
  t.notMatch(ours, /opt\/app\/a\|/, 'opaque dir hides the lower entries');
  t.notMatch(ours, /home/, 'whiteout removed a whole dir');
  t.notMatch(ours, /bin\/ls\|/, 'whiteout removed a hardlink');
});
