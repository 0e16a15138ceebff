// The two seccomp families a CI pod meets (shared/ENVIRONMENT.md): podman's and CRI-O's file
// (/usr/share/containers/seccomp.json) lets any process call unshare, mount and clone with CLONE_NEW* flags;
// Kubernetes on containerd (RuntimeDefault, the rules of Docker's default profile, moby/profiles/seccomp) keeps
// those for CAP_SYS_ADMIN and answers clone3 with ENOSYS, so that glibc falls back to clone, whose flags the
// filter can see (it cannot read clone3's struct). No containerd here: its rules are derived from podman's file
// at test time, so the rest of the file (the ~370 allowed syscalls, the arch map) stays the host's own.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const podmanSeccompFile = '/usr/share/containers/seccomp.json';

interface SeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: string;
}

interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompRule {
  names: string[];
  action: string;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
  errnoRet?: number;
  errno?: string;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  syscalls: SeccompRule[];
  [key: string]: unknown;
}

/** Syscalls RuntimeDefault gives only to CAP_SYS_ADMIN (moby's profile: its CAP_SYS_ADMIN block). */
export const sysAdminOnly = [
  'unshare', 'setns', 'mount', 'umount', 'umount2',
  'fsopen', 'fsconfig', 'fsmount', 'move_mount', 'open_tree', 'fspick', 'mount_setattr',
  'clone', 'clone3',
] as const;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (0x7e020000): the mask moby's clone rule tests. */
export const cloneNamespaceFlags = 0x7e020000;

const ENOSYS = 38;
const EPERM = 1;

/**
 * containerd's RuntimeDefault rules derived from podman's: the names of `sysAdminOnly` leave every rule that
 * allows them, then come back as moby writes them: allowed with CAP_SYS_ADMIN; without it clone only when no
 * CLONE_NEW* flag is set (clone's flags are argument 0, argument 1 on s390), clone3 ENOSYS and the rest EPERM.
 */
export function runtimeDefaultProfile(podman: SeccompProfile): SeccompProfile {
  const moved = new Set<string>(sysAdminOnly);
  const syscalls: SeccompRule[] = [];
  for (const rule of podman.syscalls) {
    const names = rule.names.filter((n) => !moved.has(n));
    if (names.length > 0) syscalls.push({ ...rule, names });
  }
  const withoutSysAdmin = { caps: ['CAP_SYS_ADMIN'] };
  const maskedEq = (index: number): SeccompArg[] => [{ index, value: cloneNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }];
  syscalls.push(
    { names: [...sysAdminOnly], action: 'SCMP_ACT_ALLOW', args: [], comment: 'containerd RuntimeDefault: CAP_SYS_ADMIN only', includes: { caps: ['CAP_SYS_ADMIN'] }, excludes: {} },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: maskedEq(0), comment: 'clone without CLONE_NEW* flags', includes: {}, excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: maskedEq(1), comment: 's390 clone: flags are the second argument', includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', args: [], comment: 'ENOSYS makes glibc fall back to clone', includes: {}, excludes: { caps: ['CAP_SYS_ADMIN'] }, errnoRet: ENOSYS, errno: 'ENOSYS' },
    {
      names: sysAdminOnly.filter((n) => n !== 'clone' && n !== 'clone3'),
      action: 'SCMP_ACT_ERRNO', args: [], comment: 'refused without CAP_SYS_ADMIN', includes: {}, excludes: withoutSysAdmin, errnoRet: EPERM, errno: 'EPERM',
    },
  );
  return { ...podman, syscalls };
}

let written: { dir: string; file: string } | undefined;

/** The RuntimeDefault-like profile as a file for `--security-opt seccomp=FILE`, written once per process, removed at exit. */
export function runtimeDefaultSeccompFile(): string {
  if (written) return written.file;
  const podman = JSON.parse(readFileSync(podmanSeccompFile, 'utf8')) as SeccompProfile;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-seccomp-'));
  const file = path.join(dir, 'runtime-default.json');
  writeFileSync(file, JSON.stringify(runtimeDefaultProfile(podman), null, 1));
  written = { dir, file };
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return file;
}
