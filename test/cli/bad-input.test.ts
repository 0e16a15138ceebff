// Issue 16, finding 8: command-line input that was taken wrongly. `--root ''` made a store in the current
// directory; `--cap-drop NOTACAP` was accepted (and `--cap-drop=CHOWN,SETUID` silently dropped nothing); bad
// --platform, -e and --allowed-uids values exited 1 instead of 64; an unreadable source exited 1 instead of 14;
// a failed `copy --all` left an empty layout behind. Each bad input next to a good one, through the real CLI.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeBuilderImage } from '../../src/demo/busybox-image.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { writeLayout } from '../helpers/builder-variants.js';
import { canCreateUsers, cliFor, ensureUser, userTempDir } from '../helpers/users.js';
import { writeTinyImage, writeTinyIndex } from './tiny-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-bad-input-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const layout = path.join(tmp, 'layout');
const src = path.join(tmp, 'src');
mkdirSync(src, { mode: 0o755 });
writeFileSync(path.join(src, 'index.html'), 'hi\n');

t.before(async () => {
  await writeTinyImage(layout, tmp, { os: 'linux', architecture: 'amd64' }, 'v1');
});

function usageLine(t: Test, r: CliResult, message: RegExp, code = 64): void {
  t.equal(r.code, code, `exit ${code}`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr}`);
  t.match(lines[0], message);
}

/** Every path under `dir` with its content (files) or a marker (dirs), to see that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = path.join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(p).isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else out[r] = readFileSync(p).toString('base64');
    }
  };
  walk(dir, '');
  return out;
}

t.test("--root '' is a usage error and writes nothing in the current directory; --root DIR works", async (t) => {
  const cwd = mkdtempSync(path.join(tmp, 'cwd-'));
  usageLine(t, await runCli(['pull', '--root', '', `oci:${layout}:v1`], { cwd }), /--root needs a directory, not an empty string/);
  usageLine(t, await runCli(['cache', 'ls', '--root', ''], { cwd }), /--root needs a directory/);
  writeFileSync(path.join(cwd, '.s2ifile'), JSON.stringify({ flags: { root: '' } }));
  usageLine(t, await runCli(['build', '--use-config', src, `oci:${layout}:v1`, `oci:${path.join(tmp, 'o')}:x`], { cwd }), /--root needs a directory/);
  t.same(readdirSync(cwd), ['.s2ifile'], 'no store in the current directory');
  rmSync(path.join(cwd, '.s2ifile'));
  const good = await runCli(['pull', '-q', '--root', path.join(cwd, 'store'), `oci:${layout}:v1`], { cwd });
  t.equal(good.code, 0, good.stderr);
  t.ok(existsSync(path.join(cwd, 'store', 'oci', 'index.json')));
});

t.test('bad --platform values are usage errors; a good one pulls', async (t) => {
  const root = path.join(tmp, 'root-platform');
  for (const bad of ['linux', 'a/b/c/d', '/amd64', 'linux/', 'Linux/AMD64!']) {
    usageLine(t, await runCli(['pull', '--root', root, '--platform', bad, `oci:${layout}:v1`]), /invalid platform/);
    usageLine(t, await runCli(['copy', '--platform', bad, `oci:${layout}:v1`, `oci:${path.join(tmp, 'never')}`]), /invalid platform/);
  }
  t.notOk(existsSync(path.join(tmp, 'never')));
  const good = await runCli(['pull', '-q', '--root', root, '--platform', 'linux/amd64', `oci:${layout}:v1`]);
  t.equal(good.code, 0, good.stderr);
});

t.test('flag values of build: -e, --build-env, --allowed-uids and --cap-drop are checked (exit 64); good ones reach assemble and the runtime spec', async (t) => {
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  chmodSync(scripts, 0o755);
  // CapBnd: the bounding set runc/crun gave the process from the spec's capabilities.
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\ngrep CapBnd /proc/self/status\necho "A=$A"\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\n', { mode: 0o755 });
  const work = mkdtempSync(path.join(tmp, 'builder-'));
  const img = await makeBuilderImage({ scriptsDir: scripts, user: '0', format: 'oci' }, work);
  const builderDir = path.join(tmp, 'builder');
  await writeLayout(builderDir, 'latest', img);
  const builder = `oci:${builderDir}:latest`;
  const root = path.join(tmp, 'root-build');
  const out = (n: number) => `oci:${path.join(tmp, 'app')}:${n}`;

  const cases: Array<[string[], RegExp]> = [
    [['-e', 'NOEQUALS'], /-e "NOEQUALS": use NAME=VALUE/],
    [['-e', '=v'], /"=v": "" is not a valid variable name/],
    [['--build-env', 'X'], /use NAME=VALUE/],
    [['--allowed-uids', '5-1'], /--allowed-uids "5-1": "5-1" ends before it starts/],
    [['--allowed-uids', 'x'], /--allowed-uids "x"/],
    [['--cap-drop', 'NOTACAP'], /--cap-drop "NOTACAP" is not a Linux capability/],
    [['--cap-drop', 'CHOWN,NOTACAP'], /"NOTACAP" is not a Linux capability/],
    [['--cap-drop', 'CHOWN,'], /empty capability name/],
    [['--platform', 'linux'], /invalid platform/],
  ];
  for (const [flags, msg] of cases) {
    const r = await runCli(['build', '--root', root, ...flags, src, builder, out(0)]);
    usageLine(t, r, msg);
  }
  t.notOk(existsSync(path.join(tmp, 'app')), 'nothing written for bad flags');

  const none = await runCli(['build', '--root', root, '-e', 'A=1', src, builder, out(1)]);
  t.equal(none.code, 0, none.stderr);
  t.match(none.stderr, /A=1/, '-e reached assemble');
  const full = capMask(none.stderr);
  const dropped = await runCli([
    'build', '--root', root, '-e', 'A=2', '--allowed-uids', '0', '--cap-drop=CHOWN,SETUID', '--cap-drop', 'cap_kill', '--cap-drop', 'Cap_Setgid',
    src, builder, out(2),
  ]);
  t.equal(dropped.code, 0, dropped.stderr);
  const mask = capMask(dropped.stderr);
  const bit = (n: number) => 1n << BigInt(n);
  // capability.h: CHOWN 0, FOWNER 3, KILL 5, SETGID 6, SETUID 7.
  for (const n of [0, 5, 6, 7]) {
    t.ok(full & bit(n), `capability ${n} is there by default`);
    t.notOk(mask & bit(n), `capability ${n} dropped`);
  }
  t.ok(mask & bit(3), 'CAP_FOWNER kept');
  t.equal(mask, full & ~(bit(0) | bit(5) | bit(6) | bit(7)), 'exactly those four dropped');
});

function capMask(stderr: string): bigint {
  const m = /CapBnd:\s*([0-9a-f]+)/.exec(stderr);
  if (!m) throw new Error(`no CapBnd in: ${stderr}`);
  return BigInt(`0x${m[1]}`);
}

t.test('an unreadable source directory exits 14 saying it cannot be read (as an unprivileged user)', { skip: !canCreateUsers() && 'needs root to create a test user' }, async (t) => {
  const user = ensureUser('ocis2i-rootless', { subIds: true });
  const cli = cliFor(user);
  const home = userTempDir(user, 'oci-s2i-bad-input-user-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const root = path.join(home, 'cache');
  const builder = `oci:${path.join(home, 'no-such-builder')}`;
  const out = `oci:${path.join(home, 'out')}:app`;
  const secret = mkdtempSync(path.join(tmp, 'secret-'));
  writeFileSync(path.join(secret, 'index.html'), 'x\n');
  chmodSync(secret, 0o700); // root's: the user (unmapped in its namespace) cannot list it
  const bad = await runCli(['build', '-q', '--root', root, secret, builder, out], { user, cli });
  usageLine(t, bad, /source directory .*secret-.* cannot be read \(EACCES\)/, 14);
  const readable = await runCli(['build', '-q', '--root', root, src, builder, out], { user, cli });
  t.equal(readable.code, 2, `a readable source gets as far as the (missing) builder: ${readable.stderr}`);
  t.notOk(existsSync(path.join(home, 'out')));
});

t.test('a failed copy --all leaves no layout where there was none, and an existing layout as it was', async (t) => {
  const work = mkdtempSync(path.join(tmp, 'multi-'));
  const complete = path.join(tmp, 'multi-complete');
  const images = await writeTinyIndex(complete, work, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], 'multi');
  // The same index with the arm64 layer blob gone: the copy fails part-way, after other blobs were written.
  const broken = path.join(tmp, 'multi-broken');
  execFileSync('cp', ['-a', complete, broken]);
  rmSync(path.join(broken, 'blobs', 'sha256', images[1]!.layer.digest.slice('sha256:'.length)));

  const fresh = path.join(tmp, 'dst-fresh', 'nested');
  const r = await runCli(['copy', '-q', '--all', `oci:${broken}:multi`, `oci:${fresh}:multi`]);
  t.equal(r.code, 1, r.stderr);
  t.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.match(r.stderr, /missing/);
  t.notOk(existsSync(path.join(tmp, 'dst-fresh')), 'nothing left where nothing was');

  const empty = path.join(tmp, 'dst-empty');
  mkdirSync(empty);
  t.equal((await runCli(['copy', '--all', `oci:${broken}:multi`, `oci:${empty}:multi`])).code, 1);
  t.same(readdirSync(empty), [], 'an existing empty directory stays empty');

  const existing = path.join(tmp, 'dst-existing');
  await writeTinyImage(existing, work, { os: 'linux', architecture: 's390x' }, 'old');
  const before = snapshot(existing);
  t.equal((await runCli(['copy', '--all', `oci:${broken}:multi`, `oci:${existing}:multi`])).code, 1);
  t.same(snapshot(existing), before, 'the existing layout is byte for byte as it was');

  const ok = await runCli(['copy', '--all', `oci:${complete}:multi`, `oci:${existing}:multi`]);
  t.equal(ok.code, 0, ok.stderr);
  const index = JSON.parse(readFileSync(path.join(existing, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
  t.same(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort(), ['multi', 'old'], 'a good copy --all adds its tag');
});
