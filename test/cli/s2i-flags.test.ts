// Issue 13, "Flags" and "Other": s2i's command line as s2i users type it. Each bad input next to a good one,
// through the real CLI.
import t, { type Test } from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeBuilderImage, pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { writeLayout } from '../helpers/builder-variants.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-s2i-flags-'));
chmodSync(tmp, 0o755);
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const src = path.join(tmp, 'src');
mkdirSync(src, { mode: 0o755 });
writeFileSync(path.join(src, 'index.html'), 'hi\n');
const root = path.join(tmp, 'root');
const builderDir = path.join(tmp, 'builder');
const builder = `oci:${builderDir}:latest`;
let outN = 0;
/** Builds that check a flag unrelated to attestations skip the SBOM and provenance (the default stays on elsewhere). */
const lean = ['--sbom', 'none', '--provenance=false'];
const out = (): string => `oci:${path.join(tmp, 'app')}:${++outN}`;

t.before(async () => {
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  chmodSync(scripts, 0o755);
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\necho assembling\nif [ -d /mnt/v ]; then if touch /mnt/v/w 2>/dev/null; then echo vol=rw; else echo vol=ro; fi; fi\ngrep : /proc/net/dev | cut -d: -f1 | sed \'s/^ */iface=/\'\ncp -R /tmp/src/. /tmp/app 2>/dev/null || true\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\necho "ran with $#: $*"\n', { mode: 0o755 });
  const work = mkdtempSync(path.join(tmp, 'builder-'));
  const img = await makeBuilderImage({ scriptsDir: scripts, user: '0', format: 'oci' }, work);
  await writeLayout(builderDir, 'latest', img);
});

function usageLine(t: Test, r: CliResult, message: RegExp, code = 64): void {
  t.equal(r.code, code, `exit ${code}`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr}`);
  t.match(lines[0], message);
}

t.test('unknown flags: one line naming the oci-s2i equivalent, no Node quoting', async (t) => {
  const args = ['.', 'oci:/nonexistent'];
  const cases: Array<[string[], RegExp]> = [
    [['--no-such-flag'], /^oci-s2i: unknown flag --no-such-flag for build; see `oci-s2i build --help`$/],
    [['-U', 'unix:///var/run/docker.sock'], /unknown flag -U for build: no docker daemon is used/],
    [['--url=tcp://x'], /unknown flag --url for build: no docker daemon is used/],
    [['--tlsverify'], /use --tls-verify=true\|false/],
    [['--pul-policy', 'always'], /unknown flag --pul-policy for build: did you mean --pull-policy\?/],
    [['--build-arg', 'A=1'], /use --build-env NAME=VALUE/],
    [['--format'], /^oci-s2i: --format needs a value; see/],
    [['--rm=yes'], /^oci-s2i: --rm takes no value; see/],
  ];
  for (const [flags, msg] of cases) {
    const r = await runCli(['build', ...args, ...flags]);
    usageLine(t, r, msg);
    t.notMatch(r.stderr, /'|Unknown option|positional argument/, 'none of Node\'s wording');
  }
  const help = await runCli(['build', '--help']);
  t.equal(help.code, 0, 'a known flag (--help) is taken');
  t.match(help.stdout, /--pull-policy/);
});

t.test('--digestfile holds the digest alone, no newline (as skopeo and podman write it); a directory is refused', async (t) => {
  const file = path.join(tmp, 'digest');
  const r = await runCli(['build', ...lean, '--root', root, '--digestfile', file, src, builder, out()]);
  t.equal(r.code, 0, r.stderr);
  const written = readFileSync(file, 'utf8');
  t.match(written, /^sha256:[0-9a-f]{64}$/, 'no trailing newline');
  t.equal(written, r.stdout.trim(), 'the digest printed');
  const bad = await runCli(['build', '--root', root, '--digestfile', tmp, src, builder, out()]);
  t.not(bad.code, 0, 'a directory as --digestfile fails');
  t.match(bad.stderr, /cannot write the --digestfile .*: a directory/);
});

t.test('--save-temp-dir prints its line once (it printed twice), keeps the directory; without it nothing is kept', async (t) => {
  const r = await runCli(['build', ...lean, '--root', root, '--save-temp-dir', src, builder, out()]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /temporary directory/i.test(l));
  t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
  const kept = /Temporary directory kept: (\S+)/.exec(r.stderr)?.[1];
  t.ok(kept && existsSync(kept), 'the directory is there');
  if (kept) rmSync(kept, { recursive: true, force: true });
  const plain = await runCli(['build', ...lean, '--root', root, src, builder, out()]);
  t.equal(plain.code, 0, plain.stderr);
  t.notMatch(plain.stderr, /temporary directory/i, 'no line without the flag');
  usageLine(t, await runCli(['build', '--root', root, '--save-temp-dir=yes', src, builder, out()]), /--save-temp-dir takes no value/);
});

t.test('--save-temp-dir on a failed build (assemble exits 1): the directory kept and its line printed before the error', async (t) => {
  const failing = path.join(tmp, 'failing-src');
  mkdirSync(path.join(failing, '.s2i', 'bin'), { recursive: true, mode: 0o755 });
  writeFileSync(path.join(failing, 'index.html'), 'hi\n');
  writeFileSync(path.join(failing, '.s2i', 'bin', 'assemble'), '#!/bin/sh\necho about to fail\nexit 1\n', { mode: 0o755 });
  const builds = path.join(root, 'builds');
  const before = new Set(existsSync(builds) ? readdirSync(builds) : []);
  const r = await runCli(['build', '--root', root, '--save-temp-dir', failing, builder, out()]);
  t.equal(r.code, 4, `assemble failed: exit 4: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const at = lines.findIndex((l) => l.startsWith('Temporary directory kept: '));
  t.ok(at >= 0 && at === lines.length - 2, `the line, then the error's: ${lines.slice(-2).join(' | ')}`);
  t.match(lines[lines.length - 1], /^oci-s2i: .*assemble/);
  const kept = /Temporary directory kept: (\S+)/.exec(r.stderr)?.[1];
  t.ok(kept && existsSync(kept) && readdirSync(kept).length > 0, 'the directory is there, with what the build wrote');
  t.ok(kept && path.dirname(kept) === builds && !before.has(path.basename(kept)), 'the build\'s own directory');
  const json = await runCli(['build', '--json', '--root', root, '--save-temp-dir', failing, builder, out()]);
  t.equal(json.code, 4);
  const events = json.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; path?: string });
  const ev = events.find((e) => e.type === 'temp-dir');
  t.ok(ev?.path && existsSync(ev.path), '--json: a temp-dir event names the kept directory');
  t.equal(events[events.length - 1]?.type, 'error');
  for (const d of [kept, ev?.path]) if (d) rmSync(d, { recursive: true, force: true });
  // Without the flag a failed build leaves nothing and says nothing about a directory.
  const after = new Set(readdirSync(builds));
  const plain = await runCli(['build', '--root', root, failing, builder, out()]);
  t.equal(plain.code, 4);
  t.notMatch(plain.stderr, /temporary directory/i);
  t.same(readdirSync(builds).filter((d) => !after.has(d)), [], 'no build directory left');
});

t.test('--json: an error is one JSON object on stderr with its stable code and exit code; a success stays JSON', async (t) => {
  const lastJson = (stderr: string): Record<string, unknown> => {
    const lines = stderr.trim().split('\n');
    for (const l of lines) t.doesNotThrow(() => JSON.parse(l), `every stderr line is JSON: ${l}`);
    return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  };
  const usage = await runCli(['build', '--json', '--no-such-flag', src, builder, out()]);
  t.equal(usage.code, 64);
  t.match(lastJson(usage.stderr), { type: 'error', code: 'ERR_USAGE', exit: 64, message: /^unknown flag --no-such-flag for build/ });
  const missing = await runCli(['build', '--json', '--root', root, src, `oci:${path.join(tmp, 'no-such-builder')}`, out()]);
  t.not(missing.code, 0);
  const err = lastJson(missing.stderr);
  t.match(err, { type: 'error', code: /^ERR_/, exit: missing.code, message: /no-such-builder/ });
  t.equal(missing.stdout, '', 'nothing on stdout');
  const plain = await runCli(['build', '--root', root, src, `oci:${path.join(tmp, 'no-such-builder')}`, out()]);
  t.equal(plain.code, missing.code, 'the same exit code without --json');
  t.match(plain.stderr.trim(), /^oci-s2i: /, 'a plain line without --json');
  const ok = await runCli(['build', '--json', '--root', root, src, builder, out()]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { digest: /^sha256:/ });
  t.notMatch(ok.stderr, /"type":"error"/);
});

t.test('--network: host and none work; other values get one line saying what is supported', async (t) => {
  for (const bad of ['bridge', 'container:web', 'my-net']) {
    usageLine(t, await runCli(['build', '--root', root, '--network', bad, src, builder, out()]), new RegExp(`--network "${bad}" is not supported: .*host.* or none`));
  }
  const none = await runCli(['build', ...lean, '--root', root, '--network', 'none', src, builder, out()]);
  t.equal(none.code, 0, none.stderr);
  t.same(none.stderr.match(/iface=\S+/g), ['iface=lo'], 'only the loopback interface with --network none');
  const host = await runCli(['build', ...lean, '--root', root, '--network', 'host', src, builder, out()]);
  t.equal(host.code, 0, host.stderr);
  t.match(host.stderr, /iface=/, 'host network: the host\'s interfaces');
});

t.test('-v SRC:DST:ro mounts read-only, :rw and no option read-write; other options get one line', async (t) => {
  const vol = mkdtempSync(path.join(tmp, 'vol-'));
  chmodSync(vol, 0o777);
  for (const bad of [`${vol}:/mnt/v:z`, `${vol}:/mnt/v:ro,nosuid`, `${vol}:/mnt/v:`]) {
    usageLine(t, await runCli(['build', '--root', root, '-v', bad, src, builder, out()]), /--volume ".*": (option ".*" is not supported: use SOURCE:DESTINATION, SOURCE:DESTINATION:ro or SOURCE:DESTINATION:rw|use SOURCE:DESTINATION)/);
  }
  const ro = await runCli(['build', ...lean, '--root', root, '-v', `${vol}:/mnt/v:ro`, src, builder, out()]);
  t.equal(ro.code, 0, ro.stderr);
  t.match(ro.stderr, /vol=ro/, 'assemble cannot write to a :ro volume');
  t.notOk(existsSync(path.join(vol, 'w')), 'nothing written through it');
  for (const spec of [`${vol}:/mnt/v:rw`, `${vol}:/mnt/v`]) {
    const rw = await runCli(['build', ...lean, '--root', root, '--volume', spec, src, builder, out()]);
    t.equal(rw.code, 0, rw.stderr);
    t.match(rw.stderr, /vol=rw/, `${spec.slice(vol.length)}: assemble writes to the volume`);
    t.ok(existsSync(path.join(vol, 'w')), 'the file is on the host');
    rmSync(path.join(vol, 'w'), { force: true });
  }
});

t.test('help build prints build\'s usage, as build --help does; help of an unknown command is one line', async (t) => {
  const help = await runCli(['help', 'build']);
  t.equal(help.code, 0, help.stderr);
  const flag = await runCli(['build', '--help']);
  t.equal(help.stdout, flag.stdout, 'the same text as build --help');
  t.match(help.stdout, /^Usage: oci-s2i build /);
  usageLine(t, await runCli(['help', 'nosuch']), /unknown command "nosuch"/);
  const top = await runCli(['help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /Commands:/, 'help alone lists the commands');
});

t.test('--dockercfg-path: s2i\'s docker config (config.json or .dockercfg) gives the credentials for the builder pull', async (t) => {
  const USER = 'erin';
  const PASSWORD = 'Dck3r-cfg-pw';
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  const admin = new RegistryClient({ credentials: { username: USER, password: PASSWORD } });
  t.teardown(() => admin.close());
  await pushBusyboxBuilder(admin.repository(reg.host, 'cfg/builder'), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
  const image = `${reg.host}/cfg/builder:latest`;
  const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const home = mkdtempSync(path.join(tmp, 'home-'));
  const env = { HOME: home, XDG_RUNTIME_DIR: path.join(home, 'run'), XDG_CONFIG_HOME: '', REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' };
  const config = path.join(tmp, 'config.json');
  writeFileSync(config, JSON.stringify({ auths: { [reg.host]: { auth } } }));
  const dockercfg = path.join(tmp, '.dockercfg');
  writeFileSync(dockercfg, JSON.stringify({ [reg.host]: { auth, email: '' } }));
  const build = (extra: string[]) => runCli(['build', '--root', mkdtempSync(path.join(tmp, 'root-cfg-')), '--tls-verify=false', ...extra, src, image, out()], { env });

  const anon = await build([]);
  t.equal(anon.code, 2, 'no credentials: unauthorized');
  for (const file of [config, dockercfg]) {
    const r = await build(['--dockercfg-path', file]);
    t.equal(r.code, 0, `${path.basename(file)}: ${r.stderr}`);
  }
  usageLine(t, await build(['--dockercfg-path', path.join(tmp, 'no-such-config.json')]), /--dockercfg-path .*no-such-config.json is not a file/);
  usageLine(t, await build(['--dockercfg-path', config, '--authfile', config]), /--dockercfg-path and --authfile both name the credentials file/);
});

t.test('a docker-archive: builder whose layers are already cached from a registry pull builds (it failed: layer 0 is not in the local store)', async (t) => {
  const reg = await startRegistry({});
  t.teardown(() => reg.stop());
  const admin = new RegistryClient({});
  t.teardown(() => admin.close());
  await pushBusyboxBuilder(admin.repository(reg.host, 'arch/builder'), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
  const cacheRoot = mkdtempSync(path.join(tmp, 'root-archive-'));
  const pulled = await runCli(['pull', '--root', cacheRoot, `docker://${reg.host}/arch/builder:latest`]);
  t.equal(pulled.code, 0, pulled.stderr);
  const archive = path.join(tmp, 'builder.tar');
  const copied = await runCli(['copy', `docker://${reg.host}/arch/builder:latest`, `docker-archive:${archive}`]);
  t.equal(copied.code, 0, copied.stderr);
  const app = path.join(tmp, 'app-from-archive.tar');
  const r = await runCli(['build', ...lean, '--root', cacheRoot, src, `docker-archive:${archive}`, `docker-archive:${app}:app:1`]);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /not in the local store/);
  t.ok(existsSync(app), 'the result is written');
  const again = await runCli(['build', ...lean, '--root', cacheRoot, src, `docker-archive:${archive}`, `docker-archive:${path.join(tmp, 'app2.tar')}:app:2`]);
  t.equal(again.code, 0, `a second build from the same archive: ${again.stderr}`);
  const missing = await runCli(['build', '--root', cacheRoot, src, `docker-archive:${path.join(tmp, 'no-such.tar')}`, `docker-archive:${path.join(tmp, 'app3.tar')}:app:3`]);
  t.not(missing.code, 0, 'a missing archive fails');
  t.equal(missing.stderr.trim().split('\n').length, 1, `one line: ${missing.stderr}`);
});
