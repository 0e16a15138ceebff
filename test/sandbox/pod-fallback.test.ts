// The fallback chain where CI runs it: the engine inside a container (podman, `--rootfs /:O`: an overlay of
// this host's root, with node, runc and the project), shaped like the pods of ENVIRONMENT.md. Every row either
// builds (the pushed image checked with skopeo) or fails with exit 13 and the one sandbox line: never "assemble
// exited with code 1", never a stack.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { projectRoot } from '../helpers/cli.js';
import { readableProjectCopy } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const hasPodman = spawnSync('podman', ['--version']).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root' : !hasPodman ? 'needs podman' : false;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-pod-test-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
let builder: string;
const client = new RegistryClient();
const containers: string[] = [];

t.before(async () => {
  if (skip) return;
  registry = await startRegistry();
  await pushBusyboxBuilder(client.repository(registry.host, 't/pod-builder'), 'latest', { scriptsDir: path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin') });
  builder = `${registry.host}/t/pod-builder:latest`;
});
t.teardown(async () => {
  for (const c of containers) spawnSync('podman', ['rm', '-f', '--time', '0', c], { stdio: 'ignore' });
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs `oci-s2i build` in a podman container with these flags; the cache on the container's own (overlay) root. */
function buildInPod(row: string, flags: string[], tag: string, extra: string[] = []): { code: number | null; stderr: string } {
  const name = `oci-s2i-pod-${row}-${randomBytes(4).toString('hex')}`;
  containers.push(name);
  const src = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(src, 0o755);
  writeFileSync(path.join(src, 'index.html'), `${row}\n`, { mode: 0o644 });
  mkdirSync(path.join(src, 'sub'), { mode: 0o755 });
  // A copy every user can read (the checkout may be under a 0700 home).
  const cli = path.join(readableProjectCopy(), 'bin', 'oci-s2i.js');
  const cache = `/var/tmp/oci-s2i-pod-cache-${row}`;
  const r = spawnSync(
    'podman',
    [
      'run', '--rm', '--name', name, '--runtime', 'runc', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000', '--network', 'host',
      '--workdir', '/', ...flags, '--rootfs', '/:O',
      process.execPath, cli, 'build', src, builder, tag, '--root', cache, ...extra,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { code: r.status, stderr: r.stderr };
}

function pushed(tag: string): boolean {
  return spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${tag}`]).status === 0;
}

/**
 * Kubernetes RuntimeDefault on containerd (Docker's profile) as ENVIRONMENT.md derives it from podman's: unshare,
 * setns and the mount calls only for CAP_SYS_ADMIN, clone3 answered with ENOSYS (the default errno, 38).
 */
function runtimeDefaultProfile(): string {
  const file = path.join(tmp, 'runtime-default.json');
  const profile = JSON.parse(readFileSync('/usr/share/containers/seccomp.json', 'utf8')) as { syscalls: { names: string[]; action: string; includes?: unknown }[] };
  const gated = ['unshare', 'setns', 'mount', 'umount', 'umount2', 'fsopen', 'fsmount', 'fsconfig', 'move_mount', 'open_tree', 'mount_setattr'];
  for (const rule of profile.syscalls) rule.names = rule.names.filter((n) => !gated.includes(n) && n !== 'clone3');
  profile.syscalls.push({ names: gated, action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } });
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

const sandboxLine = /^oci-s2i: cannot set up the build sandbox: [^\n]+--isolation in-image[^\n]+$/m;

/** A row's outcome: it built and pushed, or it failed with exit 13 and the one sandbox line. */
function builtOrOneLine(t: Test, r: { code: number | null; stderr: string }, tag: string): 'built' | 'refused' {
  t.notMatch(r.stderr, /unexpected error|assemble \([^)]*\) exited with code|\n\s+at .*:\d+:\d+/, 'no script failure, no stack');
  if (r.code === 0) {
    t.ok(pushed(tag), 'skopeo inspects the pushed image');
    return 'built';
  }
  t.equal(r.code, 13, r.stderr);
  t.match(r.stderr, sandboxLine);
  t.equal(r.stderr.split('\n').filter((l) => l.startsWith('oci-s2i:')).length, 1, 'one line');
  return 'refused';
}

t.test('pods', { skip }, async (t) => {
  t.test('root, default capabilities and seccomp: a user namespace mapping every ID, or the one line', async (t) => {
    const tag = `${registry.host}/t/pod-root:1`;
    const r = buildInPod('root', [], tag);
    const how = builtOrOneLine(t, r, tag);
    // Here: the user namespace works, and the pod's masked /proc is what refuses (procMount).
    if (how === 'refused') t.match(r.stderr, /\/proc|CAP_SYS_ADMIN|SYS_ADMIN/);
  });
  t.test('root with an unmasked /proc: builds in the user namespace, as the USER, on a copied rootfs', async (t) => {
    const tag = `${registry.host}/t/pod-root-unmasked:1`;
    const r = buildInPod('unmasked', ['--security-opt', 'unmask=ALL'], tag);
    t.equal(r.code, 0, r.stderr);
    t.ok(pushed(tag));
    t.match(r.stderr, /^isolation: sandbox \(root without CAP_SYS_ADMIN, user namespace mapping every ID, copied rootfs\)$/m);
    t.match(r.stderr, /Build finished as 1001:0/);
  });
  t.test('--privileged, the cache on the container\'s own overlay root: the copied rootfs builds', async (t) => {
    const tag = `${registry.host}/t/pod-privileged:1`;
    const r = buildInPod('privileged', ['--privileged'], tag);
    t.equal(r.code, 0, r.stderr);
    t.ok(pushed(tag));
    t.match(r.stderr, /^warning: overlay cannot be mounted here \([^)]*overlay on overlay[^)]*\): using a copied rootfs \(slower\)$/m);
  });
  t.test('user 1000 with --cap-add SETUID,SETGID: builds, or the one line', async (t) => {
    const tag = `${registry.host}/t/pod-user:1`;
    builtOrOneLine(t, buildInPod('user', ['--user', '1000:1000', '--cap-add', 'SETUID,SETGID'], tag), tag);
  });
  t.test('the restricted pod (random UID, no capabilities, no_new_privs, RuntimeDefault seccomp): the one line', { skip: !existsSync('/usr/share/containers/seccomp.json') && 'no podman seccomp profile to derive from' }, async (t) => {
    const tag = `${registry.host}/t/pod-restricted:1`;
    const flags = ['--user', '1000680000:0', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--security-opt', `seccomp=${runtimeDefaultProfile()}`];
    const r = buildInPod('restricted', flags, tag);
    t.equal(builtOrOneLine(t, r, tag), 'refused');
    t.match(r.stderr, /no user namespace can be made here/);
  });
  t.test('root, default capabilities, RuntimeDefault seccomp: neither namespace, the one line', { skip: !existsSync('/usr/share/containers/seccomp.json') && 'no podman seccomp profile to derive from' }, async (t) => {
    const tag = `${registry.host}/t/pod-root-rd:1`;
    const r = buildInPod('rootrd', ['--security-opt', `seccomp=${runtimeDefaultProfile()}`], tag);
    t.equal(builtOrOneLine(t, r, tag), 'refused');
    t.match(r.stderr, /root without CAP_SYS_ADMIN cannot make a mount namespace, and no user namespace is allowed either/);
  });
  t.test('--isolation sandbox as root without CAP_SYS_ADMIN: no user namespace, exit 13', async (t) => {
    const tag = `${registry.host}/t/pod-strict:1`;
    const r = buildInPod('strict', [], tag, ['--isolation', 'sandbox']);
    t.equal(r.code, 13, r.stderr);
    t.match(r.stderr, sandboxLine);
    t.match(r.stderr, /CAP_SYS_ADMIN/);
  });
});
