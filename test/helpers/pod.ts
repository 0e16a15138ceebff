// Runs a command in a podman container shaped like a Kubernetes pod (shared/ENVIRONMENT.md "Containers as CI
// pods"): the user, capabilities, no_new_privs and seccomp profile a kubelet would give it, per profile below.
// A test makes one PodHarness and closes it in t.teardown: every container it started is removed by name
// (`--rm` is not enough when podman itself is killed), and every image it pulled and every temp dir it made are
// removed again; a SIGTERM of the test process (tap's timeout) closes every open harness before the process ends.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxPath } from '../../src/demo/busybox-image.js';
import { podmanSeccompFile, runtimeDefaultSeccompFile } from './seccomp-profiles.js';

export type PodProfile = 'restricted' | 'restricted-random-uid' | 'root-default' | 'crio' | 'privileged';

/** OpenShift restricted-v2 hands out UIDs like this one, with gid 0 and no passwd or subuid entry. */
export const randomUid = '1000680000:0';

interface ProfileShape {
  /** --user; undefined: the image's USER (or the one given to run()). */
  user?: string;
  flags: () => string[];
  /** Kubernetes runAsNonRoot: the kubelet refuses an image whose user is root or not numeric. */
  nonRoot: boolean;
  /** Where `cache: true` puts XDG_CACHE_HOME: an emptyDir-like volume, or the container's own overlay root. */
  cacheOn: 'volume' | 'root';
}

const restrictedFlags = (): string[] => ['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--security-opt', `seccomp=${runtimeDefaultSeccompFile()}`];

export const profiles: Record<PodProfile, ProfileShape> = {
  // Pod Security "restricted" on containerd: runAsNonRoot, drop ALL, allowPrivilegeEscalation false, RuntimeDefault.
  restricted: { flags: restrictedFlags, nonRoot: true, cacheOn: 'volume' },
  // OpenShift restricted-v2: the same with a UID from the namespace's range.
  'restricted-random-uid': { user: randomUid, flags: restrictedFlags, nonRoot: true, cacheOn: 'volume' },
  // A pod with no securityContext: root, the runtime's default capabilities and seccomp.
  'root-default': { user: '0:0', flags: () => [], nonRoot: false, cacheOn: 'volume' },
  // CRI-O (OpenShift) as root: its seccomp file is podman's; the cache lives on the container's overlay root,
  // where a kernel overlay cannot take its upper dir (ENVIRONMENT.md "Overlay on overlay").
  crio: { user: '0:0', flags: () => ['--security-opt', `seccomp=${podmanSeccompFile}`], nonRoot: false, cacheOn: 'root' },
  privileged: { user: '0:0', flags: () => ['--privileged'], nonRoot: false, cacheOn: 'volume' },
};

export interface PodVolume {
  host: string;
  container: string;
  readOnly?: boolean;
}

export interface PodRunOptions {
  profile: PodProfile;
  /** A registry reference (pulled with --tls-verify=false; its repository must start with `oci-s2i-pod-test`) or an image podman has. */
  image?: string;
  /** A root filesystem directory instead of an image (`podman run --rootfs`): host binaries, no pull. */
  rootfs?: string;
  command: string[];
  /** UID[:GID]; default: the profile's, else the image's USER. */
  user?: string;
  volumes?: PodVolume[];
  env?: Record<string, string>;
  workdir?: string;
  network?: 'host' | 'none' | 'default';
  /** Default 60 s; the container is removed when it runs out, and the result says so. */
  timeoutMs?: number;
  /** Set XDG_CACHE_HOME where the profile keeps the cache (a fresh volume, or the container's root). */
  cache?: boolean;
  /** Overrides for probes that step outside a profile: another seccomp family, or capabilities added to it. */
  seccomp?: 'runtime-default' | 'podman';
  capAdd?: string[];
}

export interface PodResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The podman command line, for failure messages. */
  argv: string[];
}

const podmanBase = ['--runtime', 'runc'];
const runFlags = ['--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=10000:10000'];
export const testImagePrefix = 'oci-s2i-pod-test';

/**
 * A label that makes a test image's ID its own. The busybox images the tests push are byte-identical from run to
 * run, so without it two test processes (or another suite) pulling and removing "their" image at once work on
 * one podman image, and one's `rmi` breaks the other's pull.
 */
export function uniqueImageLabels(): Record<string, string> {
  return { 'io.oci-s2i.pod-test': `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` };
}

function podman(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('podman', [...podmanBase, ...args], { encoding: 'utf8' });
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The repository path of a registry reference (after host[:port]/), or undefined for a local name. */
function registryRepository(image: string): string | undefined {
  const slash = image.indexOf('/');
  if (slash < 0) return undefined;
  const host = image.slice(0, slash);
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') return undefined;
  return image.slice(slash + 1);
}

/** kubelet's runAsNonRoot check of an image's USER (pkg/kubelet/kuberuntime verifyRunAsNonRoot). */
export function nonRootProblem(user: string): string | undefined {
  const uid = user.split(':')[0] ?? '';
  if (uid === '' || uid === 'root' || uid === '0') return `image will run as root (USER "${user}")`;
  if (!/^\d+$/.test(uid)) return `image has non-numeric user (${uid}), cannot verify user is non-root`;
  return undefined;
}

const open = new Set<PodHarness>();
let sigtermHooked = false;

/** tap ends a test that runs out of time with SIGTERM: the harnesses clean up first, then the signal does its work. */
function onSigterm(): void {
  for (const h of open) h.close();
  process.kill(process.pid, 'SIGTERM');
}

export class PodHarness {
  private readonly containers = new Set<string>();
  private readonly pulled = new Set<string>();
  private readonly tempDirs: string[] = [];
  private seq = 0;
  private readonly id = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor() {
    open.add(this);
    if (!sigtermHooked) {
      sigtermHooked = true;
      process.once('SIGTERM', onSigterm);
    }
  }

  /** Pulls a registry image once (podman would pull on run, but then the harness could not tell what to remove). */
  private pull(image: string): void {
    const repo = registryRepository(image);
    if (repo === undefined) return;
    if (!repo.startsWith(testImagePrefix)) throw new Error(`pod harness: registry images must be named ${testImagePrefix}*: ${image}`);
    if (this.pulled.has(image)) return;
    const had = podman(['image', 'exists', image]).code === 0;
    if (!had) {
      const r = podman(['pull', '-q', '--tls-verify=false', image]);
      if (r.code !== 0) throw new Error(`podman pull ${image}: ${r.stderr.trim()}`);
      this.pulled.add(image);
    }
  }

  /** The USER an image declares ('' when none). */
  private imageUser(image: string): string {
    const r = podman(['image', 'inspect', '--format', '{{.Config.User}}', image]);
    if (r.code !== 0) throw new Error(`podman image inspect ${image}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** The podman arguments for one run (exported through run() only; kept apart to read in failure messages). */
  private argv(o: PodRunOptions, name: string): string[] {
    const shape = profiles[o.profile];
    const user = o.user ?? shape.user;
    const args = ['run', '--rm', '--name', name, ...runFlags, ...shape.flags()];
    if (user !== undefined) args.push('--user', user);
    if (o.seccomp) args.push('--security-opt', `seccomp=${o.seccomp === 'podman' ? podmanSeccompFile : runtimeDefaultSeccompFile()}`);
    for (const c of o.capAdd ?? []) args.push('--cap-add', c);
    for (const v of o.volumes ?? []) args.push('-v', `${v.host}:${v.container}${v.readOnly ? ':ro' : ''}`);
    const env = { ...(o.env ?? {}) };
    if (o.cache) {
      if (shape.cacheOn === 'volume') {
        const dir = this.tempDir('cache-');
        args.push('-v', `${dir}:/oci-s2i-cache`);
        env.XDG_CACHE_HOME = '/oci-s2i-cache';
      } else {
        env.XDG_CACHE_HOME = '/tmp/oci-s2i-cache';
      }
    }
    for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
    if (o.workdir) args.push('-w', o.workdir);
    if (o.network && o.network !== 'default') args.push('--network', o.network);
    // A pod's `command` replaces the image's ENTRYPOINT (and `args` its CMD), as kubelet does: the command's
    // first word is the entrypoint, the rest its arguments.
    const [entry, ...rest] = o.command;
    if (entry !== undefined) args.push('--entrypoint', entry);
    if (o.rootfs) args.push('--rootfs', o.rootfs);
    else if (o.image) args.push(o.image);
    else throw new Error('pod harness: give image or rootfs');
    return [...args, ...rest];
  }

  /** A host dir any container user may write (an emptyDir: kubelet makes them 0777), removed on close(). */
  tempDir(prefix = 'dir-'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${testImagePrefix}-${prefix}`));
    chmodSync(dir, 0o777);
    this.tempDirs.push(dir);
    return dir;
  }

  /** A root filesystem of the host's static busybox (the `--rootfs` of probes that need no image). */
  busyboxRootfs(): string {
    const dir = this.tempDir('rootfs-');
    chmodSync(dir, 0o755);
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(path.join(dir, d));
    chmodSync(path.join(dir, 'tmp'), 0o1777);
    copyFileSync(busyboxPath(), path.join(dir, 'bin', 'busybox'));
    chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
    for (const applet of execFileSync(busyboxPath(), ['--list'], { encoding: 'utf8' }).split('\n')) {
      if (applet && applet !== 'busybox') symlinkSync('busybox', path.join(dir, 'bin', applet));
    }
    return dir;
  }

  async run(o: PodRunOptions): Promise<PodResult> {
    if (o.image && !o.rootfs) {
      this.pull(o.image);
      if (profiles[o.profile].nonRoot && o.user === undefined && profiles[o.profile].user === undefined) {
        const problem = nonRootProblem(this.imageUser(o.image));
        // The kubelet refuses to start the container (CreateContainerConfigError): so does the harness.
        if (problem) throw new Error(`runAsNonRoot: ${problem}`);
      }
    }
    const name = `${testImagePrefix}-${this.id}-${++this.seq}`;
    const argv = this.argv(o, name);
    this.containers.add(name);
    const child = spawn('podman', [...podmanBase, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      podman(['rm', '-f', '-t', '0', '--ignore', name]);
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 60_000);
    const code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    clearTimeout(timer);
    return { code, stdout, stderr, timedOut, argv: ['podman', ...podmanBase, ...argv] };
  }

  /** Removes every container this harness started and every image it pulled; safe to call twice. */
  close(): void {
    open.delete(this);
    if (this.containers.size > 0) podman(['rm', '-f', '-t', '0', '--ignore', ...this.containers]);
    this.containers.clear();
    if (this.pulled.size > 0) podman(['rmi', '-f', ...this.pulled]);
    this.pulled.clear();
    // Files a container user wrote in a volume may be another uid's (or a subordinate uid's): root removes them.
    for (const d of this.tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
