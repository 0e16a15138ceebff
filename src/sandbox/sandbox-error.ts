// Sandbox failures as one line: what the kernel or the pod refused, and what to do about it. Every way the
// sandbox cannot be set up (no mount namespace, no user namespace, no ID maps, no overlay) ends as ERR_SANDBOX
// (exit 13, cli/error-table.ts), never as "assemble exited with code 1" or a Node stack. The ways out are the
// same wherever it fails: run the step in the builder image (`--isolation in-image`), use the Tekton Task
// (integrations/tekton), or give the pod what the sandbox needs.
import { S2IError } from '../errors.js';

/** What was refused, by whom. */
export type SandboxRefusal =
  /** unshare(CLONE_NEWNS) refused: no CAP_SYS_ADMIN and no user namespace to get one in. */
  | 'mount-namespace'
  /** unshare(CLONE_NEWUSER) refused (seccomp RuntimeDefault, no_new_privs, user.max_user_namespaces = 0). */
  | 'user-namespace'
  /** newuidmap/newgidmap could not write the ID maps (no CAP_SETUID/SETGID for them, no_new_privs). */
  | 'id-map'
  /** The overlay rootfs cannot be mounted and `--isolation sandbox` allows no copy. */
  | 'overlay'
  /** A fresh /proc cannot be mounted (a pod's masked /proc seen from a user namespace: mount_too_revealing). */
  | 'proc'
  /** The OCI runtime refused to start the container (its own error line). */
  | 'runtime';

const ADVICE: Record<SandboxRefusal, string> = {
  'mount-namespace':
    'give the container CAP_SYS_ADMIN (podman/docker --cap-add SYS_ADMIN) or a seccomp profile that allows unshare for user namespaces (podman\'s default, CRI-O\'s; on Kubernetes seccompProfile Unconfined)',
  'user-namespace':
    'allow user namespaces: seccomp Unconfined or CRI-O\'s profile (Kubernetes RuntimeDefault on containerd refuses unshare without CAP_SYS_ADMIN), and sysctl user.max_user_namespaces > 0',
  'id-map':
    'newuidmap/newgidmap need their set-user-ID bit or file capabilities to work: give the container --cap-add SETUID,SETGID and allow privilege escalation (no no-new-privileges), or add a range to /etc/subuid and /etc/subgid',
  proc: 'the pod\'s /proc has masked paths, so a user namespace cannot mount its own: run the pod with procMount: Unmasked (podman: --security-opt unmask=ALL) or CAP_SYS_ADMIN',
  runtime: 'check the runtime\'s message above (--runtime runc|crun picks the other one)',
  overlay: 'run with --isolation auto to build on a copied rootfs instead (slower), or put the cache (--root) on a volume or tmpfs, not on the container\'s own overlay root',
};

const WAYS_OUT = 'or build with --isolation in-image (assemble runs in the builder image itself), or use the Tekton Task in integrations/tekton';

/** The sandbox error: `cannot set up the build sandbox: <what> (<detail>); <advice>, <ways out>`. */
export function sandboxError(refusal: SandboxRefusal, what: string, detail: string, cause?: unknown): S2IError {
  const d = detail.replace(/\s+/g, ' ').trim().slice(0, 300);
  return new S2IError('ERR_SANDBOX', `cannot set up the build sandbox: ${what}${d ? ` (${d})` : ''}; ${ADVICE[refusal]}, ${WAYS_OUT}`, cause === undefined ? {} : { cause });
}

/** Lines the runtime wrapper (util-linux unshare) and the runtimes write when a container cannot start: when the
 *  tail of a failed run has one, the sandbox failed, not the script. */
const WRAPPER_REFUSED = /^unshare: (.*)$/;
const RUNTIME_REFUSED = /^(?:runc run failed: |ERRO\[\d+\] |crun: |\{"level":"error","msg":)(.*)$|error during container init|container_linux\.go/;

/** The sandbox error a failed run's last lines show, if they show one (see above). */
export function refusalInOutput(tail: readonly string[]): S2IError | undefined {
  for (const line of tail) {
    const w = WRAPPER_REFUSED.exec(line.trim());
    if (w) {
      const what = /mount \/proc/.test(w[1]!) ? 'proc' : 'mount-namespace';
      return sandboxError(what, what === 'proc' ? 'a /proc for the build container cannot be mounted' : 'the build container\'s namespaces cannot be made', line);
    }
  }
  for (const line of tail) {
    if (RUNTIME_REFUSED.test(line.trim())) return sandboxError('runtime', 'the OCI runtime cannot start the build container', line);
  }
  return undefined;
}
