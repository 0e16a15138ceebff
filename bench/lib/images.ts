// The images the build/pull/push benchmarks use, pushed into a registry started for the run: the busybox S2I
// builder (as in `npm run demo`), a "fat" image (busybox + the two synthetic trees as layers) for pull + unpack,
// and — only with --go — a Debian bookworm + Go builder made with debootstrap (cached in bench/.data).
import { existsSync, mkdirSync, writeFileSync, chmodSync, chownSync, rmSync, renameSync, readFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, makeBuilderImage, pushBuiltImage, type BuiltImage, type BuiltLayer } from '../../src/demo/busybox-image.js';
import { writeLayerFile } from '../../src/layer/write.js';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { serializeConfig, configMediaType } from '../../src/image/config.js';
import { buildManifest } from '../../src/image/manifest.js';
import { hostPlatform } from '../../src/oci/platform.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { dataDir, benchDir, smallFilesTree, largeFilesTree } from './data.js';
import { missingTools, isRoot } from './run.js';

export const projectRoot = path.resolve(benchDir, '..');
const CREATED = '2024-01-01T00:00:00Z';

export async function pushBusybox(registryHost: string, repo: string): Promise<void> {
  const client = new RegistryClient();
  try {
    await pushBusyboxBuilder(client.repository(registryHost, repo), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
  } finally {
    await client.close();
  }
}

/** A gzip layer of `dir`, made once: the blob and a side file with its descriptor, both kept in bench/.data. */
async function layerOf(dir: string, file: string): Promise<BuiltLayer> {
  const side = `${file}.json`;
  // The side file's own `file` may name another checkout's path to this data (bench/.data can be shared).
  if (existsSync(file) && existsSync(side)) return { ...(JSON.parse(readFileSync(side, 'utf8')) as BuiltLayer), file };
  const r = await writeLayerFile(dir, file, { compression: 'gzip', level: 6, backend: 'parallel', overlayWhiteouts: false });
  const layer: BuiltLayer = { file, descriptor: { mediaType: MediaType.dockerLayerGzip, digest: r.digest, size: r.size }, diffID: r.diffID };
  writeFileSync(side, JSON.stringify(layer));
  return layer;
}

function imageOf(layers: BuiltLayer[], config: Partial<ImageConfig['config']>): BuiltImage {
  const p = hostPlatform();
  const cfg: ImageConfig = {
    created: CREATED,
    architecture: p.architecture,
    os: 'linux',
    config: { ...config },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map(() => ({ created: CREATED, created_by: 'oci-s2i bench' })),
  };
  const bytes = serializeConfig(cfg);
  const configDescriptor = { mediaType: configMediaType('docker'), digest: sha256Digest(bytes), size: bytes.length };
  return { layers, config: bytes, configDescriptor, manifest: buildManifest('docker', configDescriptor, layers.map((l) => l.descriptor)) };
}

/** busybox + small-files tree + large-files tree: ~130 MB of gzip layers, ~330 MB unpacked. */
export async function pushFatImage(registryHost: string, repo: string, log: (m: string) => void): Promise<{ layers: number; bytes: number }> {
  const dir = path.join(dataDir, 'fat-image');
  mkdirSync(dir, { recursive: true });
  log('pull: preparing the fat image layers (once; kept in bench/.data)');
  const base = await makeBuilderImage({}, dir);
  const small = await layerOf(smallFilesTree().dir, path.join(dir, 'small.tar.gz'));
  const large = await layerOf(largeFilesTree().dir, path.join(dir, 'large.tar.gz'));
  const layers = [...base.layers, small, large];
  const image = imageOf(layers, { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] });
  const client = new RegistryClient();
  try {
    await pushBuiltImage(client.repository(registryHost, repo), image, 'latest');
  } finally {
    await client.close();
  }
  return { layers: layers.length, bytes: layers.reduce((a, l) => a + l.descriptor.size, 0) };
}

/** Why the Debian + Go builder cannot be made here, or undefined. */
export function goBuilderUnavailable(): string | undefined {
  if (existsSync(path.join(dataDir, 'go-builder', '.complete'))) return undefined;
  if (!isRoot) return 'the Debian + Go builder is made with debootstrap, which needs root';
  return missingTools('debootstrap');
}

const GO_ASSEMBLE = `#!/bin/sh
# S2I assemble of the bench Go builder: build the application in the source tree.
set -e
cp -Rf /tmp/src/. ./
go build -o /opt/app-root/app .
`;
const GO_RUN = '#!/bin/sh\nexec /opt/app-root/app\n';

/** The Debian bookworm + golang-go root filesystem (debootstrap, minbase), made once. */
export function goRootfs(log: (m: string) => void): string {
  const dir = path.join(dataDir, 'go-builder');
  const rootfs = path.join(dir, 'rootfs');
  if (existsSync(path.join(dir, '.complete'))) return rootfs;
  const tmp = path.join(dataDir, 'go-builder.tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log('build --go: debootstrap bookworm + golang-go (once, several minutes; needs the Debian mirror)');
  const mirror = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const r = spawnSync('debootstrap', ['--variant=minbase', '--include=golang-go,ca-certificates', 'bookworm', path.join(tmp, 'rootfs'), mirror], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`debootstrap failed (exit ${r.status}); set DEBIAN_MIRROR to a reachable mirror`);
  const root = path.join(tmp, 'rootfs');
  rmSync(path.join(root, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  mkdirSync(path.join(root, 'usr', 'libexec', 's2i'), { recursive: true });
  for (const [name, body] of [['assemble', GO_ASSEMBLE], ['run', GO_RUN]] as const) {
    writeFileSync(path.join(root, 'usr', 'libexec', 's2i', name), body);
    chmodSync(path.join(root, 'usr', 'libexec', 's2i', name), 0o755);
  }
  const passwd = readFileSync(path.join(root, 'etc', 'passwd'), 'utf8');
  if (!/^default:/m.test(passwd)) appendFileSync(path.join(root, 'etc', 'passwd'), 'default:x:1001:0:Default Application User:/opt/app-root/src:/bin/sh\n');
  mkdirSync(path.join(root, 'opt', 'app-root', 'src'), { recursive: true });
  chownSync(path.join(root, 'opt', 'app-root'), 1001, 0);
  chownSync(path.join(root, 'opt', 'app-root', 'src'), 1001, 0);
  writeFileSync(path.join(tmp, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return rootfs;
}

export async function pushGoBuilder(registryHost: string, repo: string, log: (m: string) => void): Promise<void> {
  const rootfs = goRootfs(log);
  const layer = await layerOf(rootfs, path.join(dataDir, 'go-builder', 'rootfs.tar.gz'));
  const image = imageOf([layer], {
    User: '1001',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/opt/app-root/src', 'GOCACHE=/tmp/go-cache', 'GOTOOLCHAIN=local', 'GOFLAGS=-mod=mod'],
    WorkingDir: '/opt/app-root/src',
    Cmd: ['/usr/libexec/s2i/usage'],
    Labels: { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i' },
  });
  const client = new RegistryClient();
  try {
    await pushBuiltImage(client.repository(registryHost, repo), image, 'latest');
  } finally {
    await client.close();
  }
}
