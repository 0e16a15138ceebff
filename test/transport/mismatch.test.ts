// Issue 16, finding 7: a blob whose bytes or size do not match its descriptor gave Node's "Unhandled 'error'
// event" trace (oci: layouts), exit 1, and left locks, lease and build dir. Every transport is fed a mismatching
// layer blob — wrong bytes of the right size, shorter, longer — through `build`, `pull` and `copy` (the real CLI):
// each must exit 2 (a corrupt image is a pull failure, spec/cli.md) with one line on stderr and no stack, leave
// nothing of the command in the store (locks, leases, build dirs, temp dirs) and write no image at the
// destination; as root, and for a few of the cases as an unprivileged user with a subuid range. The registry
// case corrupts the blob file in the registry's own storage; the docker-archive case, whose descriptors are made
// from the files themselves, changes the layer so its diffID no longer matches.
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { makeBuilderImage, pushBuiltImage, type BuiltImage } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { packArchive } from '../../src/transport/tar-archive.js';
import { writeLayout } from '../helpers/builder-variants.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { storeLeftovers } from '../helpers/store-leftovers.js';
import { canCreateUsers, cliFor, ensureUser, userTempDir } from '../helpers/users.js';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Readable, Writable } from 'node:stream';
import { sha256Digest } from '../../src/oci/digest.js';
import { park, verifiedFileStream, VerifyStream } from '../../src/transport/verify.js';
import { exitOf } from '../helpers/exit-code.js';

type Corruption = 'wrong bytes' | 'shorter' | 'longer';
const corruptions: Corruption[] = ['wrong bytes', 'shorter', 'longer'];
const transports = ['docker', 'oci', 'oci-archive', 'docker-archive'] as const;
type Transport = (typeof transports)[number];

/** `bytes` changed as `how` says (same length with the last byte flipped, 10 bytes short, 512 bytes long). */
function corrupt(bytes: Buffer, how: Corruption): Buffer {
  if (how === 'shorter') return bytes.subarray(0, bytes.length - 10);
  if (how === 'longer') return Buffer.concat([bytes, Buffer.alloc(512, 0x41)]);
  const b = Buffer.from(bytes);
  b[b.length - 1]! ^= 0xff;
  return b;
}

t.test('verified streams: a mismatch waits for its reader instead of crashing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-verify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = Buffer.from('the blob\n');
  const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(good), size: good.length };
  const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
  for (const how of corruptions) {
    const file = path.join(dir, how);
    await fs.writeFile(file, corrupt(good, how));
    // Lazy: nothing is read (so nothing can fail) until the reader comes, here after a few turns of the loop.
    const lazy = verifiedFileStream(file, desc, `blob in ${how}`);
    await new Promise((r) => setTimeout(r, 50));
    await t.rejects(exitOf(pipeline(lazy, sink())), { code: 'ERR_DIGEST_MISMATCH', exitCode: 2 }, `verifiedFileStream, ${how}`);
    // Eager (a source piped into a VerifyStream at once): the error is parked until the reader's pipeline.
    const eager = Readable.from([corrupt(good, how)]).pipe(new VerifyStream(desc, `blob in ${how}`));
    await new Promise((r) => setTimeout(r, 50));
    t.ok(eager.errored, `VerifyStream, ${how}: failed before anyone read it, and the process is still here`);
    await t.rejects(pipeline(eager, sink()), { code: 'ERR_DIGEST_MISMATCH' }, `VerifyStream, ${how}: the reader gets the error`);
  }
  t.equal(await pipeline(verifiedFileStream(await write(dir, good), desc, 'good blob'), sink()).then(() => 'ok'), 'ok', 'the right bytes pass');
  const side = park(new PassThrough());
  side.destroy(new Error('early'));
  await new Promise((r) => setImmediate(r));
  await t.rejects(pipeline(side, sink()), /early/, 'park: an early error reaches a late pipeline');
});

async function write(dir: string, b: Buffer): Promise<string> {
  const f = path.join(dir, 'good');
  await fs.writeFile(f, b);
  return f;
}

t.test('a mismatching blob in each transport: build, pull and copy fail with one line and leave nothing', async (t) => {
  const registry = await startRegistry();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-mismatch-'));
  const client = new RegistryClient();
  t.teardown(async () => {
    await client.close();
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const src = path.join(dir, 'src');
  await fs.mkdir(src);
  await fs.writeFile(path.join(src, 'index.html'), 'hello\n');
  const examples = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');

  let n = 0;
  for (const transport of transports) {
    for (const how of corruptions) {
      await t.test(`${transport}: ${how}`, async (t) => {
        const i = n++;
        const work = path.join(dir, `case-${i}`);
        await fs.mkdir(work);
        // Scripts unique to this case: its scripts layer is a blob no other case shares (the registry is one).
        const scripts = path.join(work, 'scripts');
        await fs.cp(examples, scripts, { recursive: true });
        await fs.appendFile(path.join(scripts, 'assemble'), `\n# case ${i}\n`);
        const img = await makeBuilderImage({ scriptsDir: scripts, format: transport === 'oci' || transport === 'oci-archive' ? 'oci' : 'docker' }, work);
        const layer = img.layers[img.layers.length - 1]!;
        const builder = await place(transport, img, layer.descriptor.digest, how, work, i);

        for (const command of ['pull', 'build', 'copy'] as const) {
          const root = path.join(work, `root-${command}`);
          const tmp = path.join(work, `tmp-${command}`);
          await fs.mkdir(tmp);
          const dest = path.join(work, `copy-out-${command}`);
          const args =
            command === 'pull' ? ['pull', builder, '--root', root, '-q']
            : command === 'build' ? ['build', src, builder, `${registry.host}/t/mismatch-out-${i}:latest`, '--root', root, '-q']
            : ['copy', builder, `oci:${dest}:v1`, '-q'];
          const r = await runCli(args, { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
          const what = `${command} ${transport} (${how})`;
          t.equal(r.code, 2, `${what}: exit 2\n${r.stderr}`);
          const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning:'));
          t.equal(lines.length, 1, `${what}: one line`);
          t.match(lines[0] ?? '', /^oci-s2i: /, `${what}: our line`);
          t.notMatch(r.stderr, /Unhandled|\n\s+at |node:internal/, `${what}: no crash dump`);
          t.same(await storeLeftovers(root), [], `${what}: nothing left in the store`);
          t.same(await fs.readdir(tmp), [], `${what}: no temp dir left`);
          if (command === 'copy') t.same(await taggedIn(dest), [], `${what}: no image written to the destination`);
          if (command === 'build') t.equal((await fetch(`${registry.url}/v2/t/mismatch-out-${i}/tags/list`)).status, 404, `${what}: nothing pushed`);
        }
      });
    }
  }

  await t.test('rootless: an unprivileged user with a subuid range', { skip: !canCreateUsers() && 'needs root to create a test user' }, async (t) => {
    const user = ensureUser('ocis2i-rootless', { subIds: true });
    const cli = cliFor(user);
    const home = userTempDir(user, 'oci-s2i-mismatch-');
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    const userSrc = path.join(home, 'src');
    await fs.mkdir(userSrc);
    await fs.writeFile(path.join(userSrc, 'index.html'), 'hello\n');
    const combos: Array<[Transport, Corruption]> = [['oci', 'wrong bytes'], ['oci-archive', 'longer'], ['docker', 'shorter'], ['docker-archive', 'shorter']];
    for (const [transport, how] of combos) {
      const i = n++;
      const work = path.join(home, `case-${i}`);
      await fs.mkdir(work);
      const scripts = path.join(work, 'scripts');
      await fs.cp(examples, scripts, { recursive: true });
      await fs.appendFile(path.join(scripts, 'assemble'), `\n# case ${i}\n`);
      const img = await makeBuilderImage({ scriptsDir: scripts, format: transport === 'oci' || transport === 'oci-archive' ? 'oci' : 'docker' }, work);
      const builder = await place(transport, img, img.layers[img.layers.length - 1]!.descriptor.digest, how, work, i);
      execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
      for (const command of ['pull', 'build'] as const) {
        const root = path.join(home, `root-${i}-${command}`);
        const args = command === 'pull' ? ['pull', builder, '--root', root, '-q'] : ['build', userSrc, builder, `${registry.host}/t/mismatch-out-${i}:latest`, '--root', root, '-q'];
        const r = await runCli(args, { user, cli, env: { XDG_CACHE_HOME: path.join(home, '.cache') }, timeoutMs: 90_000 });
        const what = `rootless ${command} ${transport} (${how})`;
        t.equal(r.code, 2, `${what}: exit 2\n${r.stderr}`);
        t.equal(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning:')).length, 1, `${what}: one line`);
        t.notMatch(r.stderr, /Unhandled|\n\s+at |node:internal/, `${what}: no crash dump`);
        t.same(await storeLeftovers(root), [], `${what}: nothing left in the store`);
      }
    }
  });

  /** Puts `img` where `transport` reads it, with blob `digest` corrupted; returns the builder's location. */
  async function place(transport: Transport, img: BuiltImage, digest: string, how: Corruption, work: string, i: number): Promise<string> {
    const hex = digest.slice('sha256:'.length);
    if (transport === 'docker') {
      const name = `t/mismatch-${i}`;
      await pushBuiltImage(client.repository(registry.host, name), img, 'latest');
      const data = path.join(registry.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      await fs.writeFile(data, corrupt(await fs.readFile(data), how));
      return `${registry.host}/${name}:latest`;
    }
    if (transport === 'docker-archive') {
      // `docker save` layout with plain tar layers (their file digests are the descriptors): the changed layer
      // no longer has the diffID the config lists.
      const files = [{ name: `${img.configDescriptor.digest.slice(7)}.json`, bytes: img.config }];
      const layers: string[] = [];
      for (const l of img.layers) {
        const tar = gunzipSync(await fs.readFile(l.file));
        const name = `${l.diffID.slice(7)}/layer.tar`;
        files.push({ name, bytes: l.descriptor.digest === digest ? corrupt(tar, how) : tar });
        layers.push(name);
      }
      files.push({ name: 'manifest.json', bytes: Buffer.from(JSON.stringify([{ Config: files[0]!.name, RepoTags: ['localhost/mismatch:v1'], Layers: layers }])) });
      const file = path.join(work, 'image.docker.tar');
      await packArchive(file, files);
      return `docker-archive:${file}`;
    }
    const layout = path.join(work, 'layout');
    await writeLayout(layout, 'v1', img);
    const blob = path.join(layout, 'blobs', 'sha256', hex);
    await fs.writeFile(blob, corrupt(await fs.readFile(blob), how));
    if (transport === 'oci') return `oci:${layout}:v1`;
    const file = path.join(work, 'image.oci.tar');
    const names: string[] = ['oci-layout', 'index.json', ...(await fs.readdir(path.join(layout, 'blobs', 'sha256'))).map((h) => `blobs/sha256/${h}`)];
    await packArchive(file, names.map((name) => ({ name, file: path.join(layout, name) })));
    return `oci-archive:${file}:v1`;
  }
});

/** Tags in the OCI layout at `dir` (none when it does not exist). */
async function taggedIn(dir: string): Promise<string[]> {
  const index = await fs.readFile(path.join(dir, 'index.json'), 'utf8').catch(() => undefined);
  if (index === undefined) return [];
  return (JSON.parse(index) as { manifests: Array<{ annotations?: Record<string, string> }> }).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '(untagged)');
}
