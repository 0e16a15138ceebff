// podman for the standalone tests, with the flags this host needs (spec: /work/shared/ENVIRONMENT.md: runc,
// the nofile/nproc limits) and the loopback registries (host network, no TLS). Every image a test pulls or
// makes is named under oci-s2i-standalone-test and removed by rmiAll() (call it from t.teardown).
import { spawnSync } from 'node:child_process';

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

const images = new Set<string>();

/** podman ARGS, waited for (bounded: a hung container fails the test instead of the suite). */
export function podman(args: string[], timeoutMs = 60_000): Ran {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NODE_OPTIONS: '' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The restricted pod (Pod Security "restricted", OpenShift restricted-v2): a random UID in group 0, no capabilities, no_new_privs. */
export const restricted = ['--user', '1000680000:0', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];

/** `podman run --rm` of ARGS (flags, then the image and its command); the image is remembered for rmiAll(). */
export function podmanRun(args: string[]): Ran {
  return podman(['run', '--rm', '--runtime', 'runc', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000', '--network', 'host', '--tls-verify=false', '--pull', 'missing', ...args]);
}

/** The name of a test image in the registry at `host`, remembered for rmiAll(). */
export function testImage(host: string, name: string): string {
  const ref = `${host}/oci-s2i-standalone-test/${name}:latest`;
  images.add(ref);
  return ref;
}

/** The busybox-only image (src/demo/busybox-image.ts) the tests push to `host`. */
export function busyboxImage(host: string): string {
  return testImage(host, 'busybox');
}

/** Removes every image this process named (those never pulled are ignored by podman). */
export function rmiAll(): void {
  if (images.size > 0) podman(['rmi', '-f', '--ignore', ...images]);
  images.clear();
}
