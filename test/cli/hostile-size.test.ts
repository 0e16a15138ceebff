// Issue 16, finding 4, through the real CLI against a real registry: a builder image whose last layer holds an
// entry with a hostile size (negative base-256, PAX size=-1, not octal, past 2^53) used to end `build` and `pull`
// with exit 0, nothing pushed, no message, and locks, lease and build dir left in the store. Now: exit 2 (a
// corrupt image is a pull failure, spec/cli.md), one line naming the layer and the entry, nothing pushed and
// nothing of the command left in the store. As root, and as an unprivileged user with a subuid range
// (test/helpers/users.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { makeBuilderImage, pushBuiltImage, type BuiltImage } from '../../src/demo/busybox-image.js';
import { serializeConfig } from '../../src/image/config.js';
import { buildManifest } from '../../src/image/manifest.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { canCreateUsers, cliFor, ensureUser, userTempDir } from '../helpers/users.js';
import { execFileSync } from 'node:child_process';
import { hostileSizeTars } from '../layer/tar-craft.js';
import { storeLeftovers } from '../helpers/store-leftovers.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');

/** `img` with one more layer: `tar`, gzip-compressed. */
async function withLayer(img: BuiltImage, tar: Buffer, file: string): Promise<BuiltImage> {
  const gz = gzipSync(tar);
  await fs.writeFile(file, gz);
  const layer = { file, descriptor: { mediaType: MediaType.dockerLayerGzip, digest: sha256Digest(gz), size: gz.length }, diffID: sha256Digest(tar) };
  const config = JSON.parse(img.config.toString('utf8')) as ImageConfig;
  config.rootfs.diff_ids.push(layer.diffID);
  config.history = [...(config.history ?? []), { created: config.created ?? '', created_by: 'hostile layer' }];
  const configBytes = serializeConfig(config);
  const configDescriptor = { ...img.configDescriptor, digest: sha256Digest(configBytes), size: configBytes.length };
  const layers = [...img.layers, layer];
  const m = buildManifest('docker', configDescriptor, layers.map((l) => l.descriptor));
  return { layers, config: configBytes, configDescriptor, manifest: { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest } };
}

function oneLine(t: Test, r: CliResult, patterns: RegExp[]): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning:'));
  t.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  for (const p of patterns) t.match(lines[0] ?? '', p);
  t.notMatch(r.stderr, /Unhandled|\n\s+at /, 'no stack trace');
}

t.test('hostile tar sizes in a builder layer: build and pull fail loudly and leave nothing', async (t) => {
  const registry = await startRegistry();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-hostile-size-'));
  t.teardown(async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = new RegistryClient();
  t.teardown(() => client.close());
  const base = await makeBuilderImage({ scriptsDir }, dir);
  const src = path.join(dir, 'src');
  await fs.mkdir(src);
  await fs.writeFile(path.join(src, 'index.html'), 'hello\n');

  for (const [i, c] of hostileSizeTars().entries()) {
    await t.test(c.name, async (t) => {
      const img = await withLayer(base, c.tar, path.join(dir, `hostile-${i}.tar.gz`));
      const name = `t/hostile-size-${i}`;
      await pushBuiltImage(client.repository(registry.host, name), img, 'latest');
      const builder = `${registry.host}/${name}:latest`;
      const hostileLayer = img.layers[img.layers.length - 1]!.descriptor.digest;
      const root = path.join(dir, `root-${i}`);

      const pull = await runCli(['pull', builder, '--root', root, '-q'], { timeoutMs: 60_000 });
      t.equal(pull.code, 2, `pull exits 2: ${pull.stderr}`);
      oneLine(t, pull, [/ERR_LAYER_CORRUPT|is malformed or malicious/, new RegExp(hostileLayer.slice(7, 19)), new RegExp(c.entry.replace('.', '\\.'))]);
      t.same(await storeLeftovers(root), [], 'no lock, lease, temp or build dir left by pull');

      const out = `${registry.host}/t/hostile-size-out-${i}:latest`;
      const build = await runCli(['build', src, builder, out, '--root', root, '-q'], { timeoutMs: 60_000 });
      t.equal(build.code, 2, `build exits 2: ${build.stderr}`);
      oneLine(t, build, [new RegExp(hostileLayer.slice(7, 19)), new RegExp(c.entry.replace('.', '\\.'))]);
      t.same(await storeLeftovers(root), [], 'no lock, lease, temp or build dir left by build');
      const tags = await fetch(`${registry.url}/v2/t/hostile-size-out-${i}/tags/list`);
      t.equal(tags.status, 404, 'nothing pushed');
    });
  }

  await t.test('rootless: an unprivileged user with a subuid range', { skip: !canCreateUsers() && 'needs root to create a test user' }, async (t) => {
    const user = ensureUser('ocis2i-rootless', { subIds: true });
    const cli = cliFor(user);
    const home = userTempDir(user, 'oci-s2i-hostile-size-');
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    const userSrc = path.join(home, 'src');
    await fs.mkdir(userSrc);
    await fs.writeFile(path.join(userSrc, 'index.html'), 'hello\n');
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
    for (const [i, c] of hostileSizeTars().slice(0, 2).entries()) {
      const builder = `${registry.host}/t/hostile-size-${i}:latest`; // pushed above
      const root = path.join(home, `cache-${i}`);
      const env = { XDG_CACHE_HOME: path.join(home, '.cache') };
      const pull = await runCli(['pull', builder, '--root', root, '-q'], { user, cli, env, timeoutMs: 60_000 });
      t.equal(pull.code, 2, `${c.name}: pull exits 2: ${pull.stderr}`);
      oneLine(t, pull, [new RegExp(c.entry.replace('.', '\\.'))]);
      const build = await runCli(['build', userSrc, builder, `${registry.host}/t/hostile-size-rootless-${i}:latest`, '--root', root, '-q'], { user, cli, env, timeoutMs: 60_000 });
      t.equal(build.code, 2, `${c.name}: build exits 2: ${build.stderr}`);
      oneLine(t, build, [new RegExp(c.entry.replace('.', '\\.'))]);
      t.same(await storeLeftovers(root), [], `${c.name}: nothing left in the store`);
      t.equal((await fetch(`${registry.url}/v2/t/hostile-size-rootless-${i}/tags/list`)).status, 404, `${c.name}: nothing pushed`);
    }
  });
});
