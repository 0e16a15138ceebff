// `oci-s2i pull IMAGE` as a user runs it (the shell launcher on PATH, so as root it starts inside the private
// mount namespace with no Node process before it), against the real registry behind a counting proxy: the
// layers land unpacked in the cache (what a build stacks), a second pull fetches no blob, an OCI layout works
// as a source, and bad input is one line with a stable exit code.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { projectRoot } from '../helpers/cli.js';
import { makeImage, pushFixture, sh } from '../transport/fixtures.js';
import { sha256Digest } from '../../src/oci/digest.js';

const bin = path.join(projectRoot, 'bin', 'oci-s2i');
/** Asynchronous: the counting proxy runs in this process and must keep serving meanwhile. */
function pull(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['pull', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

t.test('pull through the CLI', async (t) => {
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-pull-cli-'));
  t.teardown(async () => {
    await proxy.stop();
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const img = await makeImage(await fs.mkdtemp(path.join(dir, 'img-')), { format: 'docker' });
  await pushFixture(reg.host, 'builders/b', 'v1', img);
  const root = path.join(dir, 'root');
  const ref = `${proxy.host}/builders/b:v1`;

  t.test('unpacks every layer into the cache and prints the manifest digest', async (t) => {
    const r = await pull([ref, '--root', root, '--json']);
    t.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { digest: string; layers: Array<{ digest: string; diffID: string }> };
    const raw = sh('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/builders/b:v1`]).stdout;
    t.equal(out.digest, sha256Digest(Buffer.from(raw)), 'the digest of the manifest the registry serves');
    t.equal(out.layers.length, img.layers.length);
    for (const l of out.layers) {
      const unpacked = path.join(root, 'layers', 'sha256', l.diffID.slice(7));
      t.ok(existsSync(unpacked) && readdirSync(unpacked).length > 0, `layer ${l.diffID} unpacked`);
      t.ok(existsSync(path.join(root, 'oci', 'blobs', 'sha256', l.digest.slice(7))), `blob ${l.digest} stored`);
    }
    t.equal(proxy.stats.count('GET', /\/blobs\/sha256:/), img.layers.length + 1, 'each layer and the config fetched once');
  });

  t.test('a second pull asks for the manifest and fetches no blob', async (t) => {
    proxy.stats.reset();
    const r = await pull([ref, '--root', root]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    t.equal(proxy.stats.count('GET', /\/blobs\//), 0, 'no blob downloaded again');
    t.ok(proxy.stats.count(undefined, /\/manifests\//) >= 1, 'the tag was looked up (policy always)');
    proxy.stats.reset();
    t.equal((await pull([ref, '--root', root, '--pull-policy', 'never'])).code, 0, 'never: from the local store');
    t.equal(proxy.stats.requests.length, 0, 'not a single request');
  });

  t.test('an OCI layout as the source', async (t) => {
    const layout = path.join(dir, 'layout');
    const c = spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'oci-s2i.js'), 'copy', `docker://${reg.host}/builders/b:v1`, `oci:${layout}:v1`, '--tls-verify=false', '-q'], { encoding: 'utf8' });
    t.equal(c.status, 0, c.stderr);
    const r = await pull([`oci:${layout}:v1`, '--root', path.join(dir, 'root2'), '--json']);
    t.equal(r.code, 0, r.stderr);
    t.equal((JSON.parse(r.stdout) as { layers: unknown[] }).layers.length, img.layers.length);
  });

  t.test('bad input: one line, stable exit codes, nothing left half-done', async (t) => {
    const cases: Array<[string[], number, RegExp]> = [
      [['nope:::x', '--root', root], 64, /invalid image location "nope:::x"/],
      [[`${proxy.host}/builders/missing:v1`, '--root', root], 2, /manifest unknown/],
      [[ref, '--root', root, '--pull-policy', 'sometimes'], 64, /--pull-policy must be one of always, if-not-present, never/],
      [[`${proxy.host}/builders/missing:v1`, '--root', path.join(dir, 'empty'), '--pull-policy', 'never'], 2, /not in the local store|never/],
      [[], 64, /takes IMAGE, got 0/],
    ];
    for (const [args, code, re] of cases) {
      const r = await pull(args);
      t.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      t.match(r.stderr, re);
      t.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('oci-s2i:')).length, 1, 'one error line');
    }
    t.same(readdirSync(path.join(root, 'layers', 'tmp')), [], 'no half-unpacked layer left');
  });
});
