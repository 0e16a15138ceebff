// Generates the OCI runtime spec (runtime-spec v1.0.2 config.json) for one sandboxed process. We write it
// ourselves rather than `runc spec` so every field is deliberate: no user namespace of its own (we already run
// in one when rootless), host network unless asked otherwise, no cgroup limits we cannot honour rootless.
import { S2IError } from '../errors.js';

export interface Mount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids?: number[];
  terminal?: boolean;
}

export interface SandboxSpecInput {
  rootfs: string;
  process: ProcessSpec;
  /** Default 'oci-s2i'; null: none (keep the parent's: sethostname is refused where the bounding set has no
   *  CAP_SYS_ADMIN, as in a pod: its seccomp profile allows sethostname only with that capability). */
  hostname?: string | null;
  /** `host` shares the host network namespace (s2i's default for builds); `none` gives a private, empty one. */
  network?: 'host' | 'none';
  /** Extra bind mounts (injections, volumes). */
  mounts?: Mount[];
  /** Capabilities to drop from the default set (parseCapList: CAP_NET_RAW, net_raw, comma-separated lists, ALL). */
  capDrop?: string[];
  readonlyRootfs?: boolean;
  /** When true (a user namespace without a subordinate range), skip mounts a single-ID namespace cannot make. */
  restricted?: boolean;
  /** Host file bound read-only at /etc/hosts instead of the host's (--add-host); also used with network none. */
  hostsFile?: string;
}

/** The capability set podman/buildah give containers by default. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

/** Every capability Linux defines (linux/capability.h, 0 to CAP_CHECKPOINT_RESTORE = 40). */
export const KNOWN_CAPS: ReadonlySet<string> = new Set([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
]);

export function normalizeCap(name: string): string {
  const up = name.trim().toUpperCase();
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/**
 * `--cap-drop` values as s2i and podman take them: repeatable, each a comma-separated list, `CAP_CHOWN`,
 * `CHOWN` or `chown`, and `ALL`. Returns CAP_ names (`ALL` as is); an unknown name is a usage error (exit 64),
 * since a typo would otherwise leave the capability in place without a word.
 */
export function parseCapList(values: readonly string[], flag = '--cap-drop'): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const name = part.trim();
      if (name === '') throw new S2IError('ERR_USAGE', `${flag} "${v.slice(0, 100)}": empty capability name`);
      if (name.toUpperCase() === 'ALL') {
        out.push('ALL');
        continue;
      }
      const cap = normalizeCap(name);
      if (!KNOWN_CAPS.has(cap)) {
        throw new S2IError('ERR_USAGE', `${flag} "${name.slice(0, 100)}" is not a Linux capability; use names like CHOWN, CAP_NET_RAW or ALL`);
      }
      out.push(cap);
    }
  }
  return out;
}

export function buildRuntimeSpec(input: SandboxSpecInput): Record<string, unknown> {
  const drop = new Set(parseCapList(input.capDrop ?? []));
  const all = drop.has('ALL');
  const caps = all ? [] : DEFAULT_CAPS.filter((c) => !drop.has(c));
  // Non-root processes get no effective/permitted caps (as runc/podman do for a non-zero uid), only bounding.
  const isRoot = input.process.uid === 0;
  const namespaces: Array<{ type: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs cannot be mounted fresh without owning the network namespace: bind the host's, read-only.
    { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  if (input.network !== 'none') {
    mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] });
  }
  if (input.hostsFile || input.network !== 'none') {
    mounts.push({ destination: '/etc/hosts', type: 'bind', source: input.hostsFile ?? '/etc/hosts', options: ['rbind', 'ro'] });
  }
  if (input.restricted) {
    // gid 5 (tty) does not exist in a single-ID namespace.
    const pts = mounts.find((m) => m.destination === '/dev/pts');
    if (pts) pts.options = ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'];
  } else {
    const pts = mounts.find((m) => m.destination === '/dev/pts');
    pts?.options?.push('gid=5');
  }
  mounts.push(...(input.mounts ?? []));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.process.terminal ?? false,
      user: {
        uid: input.process.uid,
        gid: input.process.gid,
        ...(input.process.additionalGids?.length ? { additionalGids: input.process.additionalGids } : {}),
      },
      args: input.process.args,
      env: input.process.env,
      cwd: input.process.cwd,
      capabilities: {
        bounding: caps,
        effective: isRoot ? caps : [],
        permitted: isRoot ? caps : [],
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    ...(input.hostname === null ? {} : { hostname: input.hostname ?? 'oci-s2i' }),
    mounts,
    linux: {
      namespaces,
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
