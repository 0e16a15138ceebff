// The pod harness (test/helpers/pod.ts) and the derived RuntimeDefault seccomp profile do what they claim:
// the derived rules as data, then as behaviour (busybox `unshare -U true` refused as root with default caps,
// allowed with CAP_SYS_ADMIN or under podman's file), each profile's user, capabilities and no_new_privs, the
// kubelet's runAsNonRoot refusal, the timeout, and the clean-up of containers and pulled images.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { PodHarness, nonRootProblem, randomUid, testImagePrefix, uniqueImageLabels } from '../helpers/pod.js';
import { podmanSeccompFile, runtimeDefaultProfile, sysAdminOnly, type SeccompProfile, type SeccompRule } from '../helpers/seccomp-profiles.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const podman = readFileJson(podmanSeccompFile);
const derived = runtimeDefaultProfile(podman);

function readFileJson(file: string): SeccompProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as SeccompProfile;
}
const unconditional = (r: SeccompRule): boolean =>
  r.action === 'SCMP_ACT_ALLOW' && !(r.args?.length) && !(r.includes?.caps?.length) && !(r.excludes?.caps?.length);

t.test('derived profile: the CAP_SYS_ADMIN syscalls leave every unconditional allow, and come back as moby writes them', async (t) => {
  // The premise: podman's file allows them to anyone.
  t.ok(podman.syscalls.some((r) => unconditional(r) && r.names.includes('unshare')), 'podman allows unshare to any process');
  for (const name of sysAdminOnly) {
    t.notOk(derived.syscalls.some((r) => unconditional(r) && r.names.includes(name)), `${name}: no unconditional allow`);
    t.ok(derived.syscalls.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name) && r.includes?.caps?.includes('CAP_SYS_ADMIN')), `${name}: allowed with CAP_SYS_ADMIN`);
  }
  const clone3 = derived.syscalls.find((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO');
  t.equal(clone3?.errnoRet, 38, 'clone3 without CAP_SYS_ADMIN: ENOSYS');
  t.same(clone3?.excludes?.caps, ['CAP_SYS_ADMIN']);
  const clone = derived.syscalls.find((r) => r.names.includes('clone') && r.args?.[0]?.index === 0);
  t.match(clone, { action: 'SCMP_ACT_ALLOW', args: [{ op: 'SCMP_CMP_MASKED_EQ', value: 0x7e020000, valueTwo: 0 }], excludes: { caps: ['CAP_SYS_ADMIN'] } });
  t.equal(derived.defaultAction, podman.defaultAction, 'the rest of the file is podman\'s');
  const allowed = (p: SeccompProfile): string[] => p.syscalls.filter(unconditional).flatMap((r) => r.names).sort();
  t.same(allowed(derived), allowed(podman).filter((n) => !(sysAdminOnly as readonly string[]).includes(n)), 'only those names left the allow list');
});

t.test('pod profiles with a host-binary rootfs', async (t) => {
  const pods = new PodHarness();
  t.teardown(() => pods.close());
  const rootfs = pods.busyboxRootfs();
  const sh = (script: string, o: Partial<Parameters<PodHarness['run']>[0]> = {}) =>
    pods.run({ profile: 'root-default', rootfs, command: ['/bin/sh', '-c', script], timeoutMs: 30_000, ...o });

  await t.test('unshare -U: refused by the derived profile, allowed with CAP_SYS_ADMIN or under podman\'s file', async (t) => {
    const [refused, withCap, podmanFile, restricted] = await Promise.all([
      sh('unshare -U true', { seccomp: 'runtime-default' }),
      sh('unshare -U true', { seccomp: 'runtime-default', capAdd: ['SYS_ADMIN'] }),
      sh('unshare -U true', { profile: 'crio' }),
      sh('unshare -U true', { profile: 'restricted-random-uid' }),
    ]);
    t.not(refused.code, 0, 'refused as root with default caps');
    t.match(refused.stderr, /Operation not permitted/);
    t.equal(withCap.code, 0, `allowed with CAP_SYS_ADMIN: ${withCap.stderr}`);
    t.equal(podmanFile.code, 0, `allowed under podman's file: ${podmanFile.stderr}`);
    t.not(restricted.code, 0, 'refused in the restricted pod');
  });

  await t.test('users, capabilities and no_new_privs per profile', async (t) => {
    const probe = 'echo "$(id -u):$(id -g)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status';
    const r = Object.fromEntries(await Promise.all((['restricted-random-uid', 'root-default', 'crio', 'privileged'] as const).map(async (p) => [p, await sh(probe, { profile: p })] as const)));
    t.match(r['restricted-random-uid']?.stdout, new RegExp(`^${randomUid}\n`), 'the random UID with gid 0');
    t.match(r['restricted-random-uid']?.stdout, /CapEff:\s+0+\n/, 'no capabilities');
    t.match(r['restricted-random-uid']?.stdout, /NoNewPrivs:\s+1/, 'no_new_privs');
    t.match(r['restricted-random-uid']?.stdout, /Seccomp:\s+2/, 'a seccomp filter');
    t.match(r['root-default']?.stdout, /^0:0\n[\s\S]*NoNewPrivs:\s+0/);
    t.notMatch(r['root-default']?.stdout, /CapEff:\s+0+\n/, 'root keeps the default capabilities');
    t.match(r.crio?.stdout, /Seccomp:\s+2/);
    t.match(r.privileged?.stdout, /CapEff:\s+000001ffffffffff|CapEff:\s+0000003fffffffff|CapEff:\s+000001[0-9a-f]+/, 'every capability');
    t.match(r.privileged?.stdout, /Seccomp:\s+0/, 'no seccomp filter');
  });

  await t.test('volumes (with :ro), env, workdir, and where the cache goes', async (t) => {
    const rw = pods.tempDir('rw-');
    const ro = pods.tempDir('ro-');
    writeFileSync(path.join(ro, 'in.txt'), 'from host\n');
    const r = await sh('cat /ro/in.txt; echo "$GREETING" > /rw/out.txt; pwd; echo "$XDG_CACHE_HOME"; touch /ro/x 2>/dev/null && echo ro-writable', {
      profile: 'restricted-random-uid', volumes: [{ host: rw, container: '/rw' }, { host: ro, container: '/ro', readOnly: true }],
      env: { GREETING: 'hello' }, workdir: '/tmp', cache: true,
    });
    t.equal(r.stdout, 'from host\n/tmp\n/oci-s2i-cache\n', r.stderr);
    t.equal(readFileSync(path.join(rw, 'out.txt'), 'utf8'), 'hello\n');
    const crio = await sh('echo "$XDG_CACHE_HOME"', { profile: 'crio', cache: true });
    t.equal(crio.stdout, '/tmp/oci-s2i-cache\n', 'crio: the cache on the container\'s own root');
  });

  await t.test('a timeout removes the container and says so', async (t) => {
    const start = Date.now();
    const r = await sh('sleep 30', { timeoutMs: 1500 });
    t.ok(r.timedOut);
    t.ok(Date.now() - start < 20_000, 'did not wait for the sleep');
    const name = r.argv[r.argv.indexOf('--name') + 1]!;
    t.not(spawnSync('podman', ['container', 'exists', name]).status, 0, 'container gone');
  });
});

t.test('registry images: pulled with --tls-verify=false, USER kept or refused as kubelet would, removed on close', async (t) => {
  let registry: TestRegistry | undefined;
  const client = new RegistryClient();
  const pods = new PodHarness();
  t.teardown(async () => {
    pods.close();
    await client.close();
    await registry?.stop();
  });
  registry = await startRegistry();
  const repo = `${testImagePrefix}/busybox-${process.pid}`;
  await pushBusyboxBuilder(client.repository(registry.host, repo), 'user', { user: '1001', labels: uniqueImageLabels() });
  await pushBusyboxBuilder(client.repository(registry.host, repo), 'root', { user: 'root', labels: uniqueImageLabels() });
  const image = `${registry.host}/${repo}:user`;

  const r = await pods.run({ profile: 'restricted', image, command: ['sh', '-c', 'id -u'], network: 'host' });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '1001\n', 'the image\'s USER');
  await t.rejects(pods.run({ profile: 'restricted', image: `${registry.host}/${repo}:root`, command: ['true'] }), /runAsNonRoot: image will run as root/);
  await t.rejects(pods.run({ profile: 'restricted', image: `${registry.host}/elsewhere:v1`, command: ['true'] }), /must be named oci-s2i-pod-test/);
  t.equal(spawnSync('podman', ['image', 'exists', image]).status, 0, 'pulled');
  pods.close();
  t.not(spawnSync('podman', ['image', 'exists', image]).status, 0, 'removed on close');
  t.not(spawnSync('podman', ['image', 'exists', `${registry.host}/${repo}:root`]).status, 0, 'the refused one too');
});

t.test('nonRootProblem: the kubelet\'s rules', async (t) => {
  for (const [user, want] of [['', /root/], ['0', /root/], ['root', /root/], ['0:1001', /root/], ['default', /non-numeric/], ['1001', undefined], ['1001:0', undefined]] as const) {
    const p = nonRootProblem(user);
    if (want) t.match(p, want, user);
    else t.equal(p, undefined, user);
  }
});

t.test('a SIGTERM of the test process removes its running containers', async (t) => {
  const url = pathToFileURL(path.join(import.meta.dirname, '..', 'helpers', 'pod.js')).href;
  // A test process of its own, killed as tap kills one that runs out of time.
  const code = `
    const { PodHarness } = await import(${JSON.stringify(url)});
    const pods = new PodHarness();
    const rootfs = pods.busyboxRootfs();
    const run = pods.run({ profile: 'restricted-random-uid', rootfs, command: ['sleep', '60'] });
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const names = require('node:child_process').execFileSync('podman', ['ps', '--format', '{{.Names}}'], { encoding: 'utf8' });
      const mine = names.split('\\n').find((n) => n.startsWith('oci-s2i-pod-test-' + process.pid + '-'));
      if (mine) { console.log(mine + ' ' + rootfs); break; }
    }
    await run;
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); ${code}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const [name, rootfs] = (await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())))).split(' ') as [string, string];
  t.equal(spawnSync('podman', ['container', 'exists', name]).status, 0, 'running');
  child.kill('SIGTERM');
  const [, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  t.equal(signal, 'SIGTERM', 'the process still ends by the signal');
  t.not(spawnSync('podman', ['container', 'exists', name]).status, 0, 'the container is gone');
  t.notOk(existsSync(rootfs), 'its temp dirs too');
});
