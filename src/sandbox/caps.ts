// This process's effective capabilities (/proc/self/status CapEff), for choosing how to enter the namespace:
// `unshare -m` needs CAP_SYS_ADMIN; root in a pod with the default capabilities has none of it.
import { readFileSync } from 'node:fs';

/** linux/capability.h */
export const CAP_DAC_OVERRIDE = 1;
export const CAP_DAC_READ_SEARCH = 2;
export const CAP_SYS_ADMIN = 21;

/** Whether capability `bit` is effective; true when /proc cannot tell (the old behaviour: just try). */
export function hasCapability(bit: number, status?: string): boolean {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return true;
    }
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  if (!m) return true;
  return ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/** Whether a seccomp filter is on this process (/proc/self/status `Seccomp: 2`). The filters pods run under
 *  (Docker's, podman's, Kubernetes RuntimeDefault) allow sethostname only to CAP_SYS_ADMIN of the container, which a
 *  user namespace's full set does not change, and from inside one the pod's own capabilities cannot be seen. */
export function underSeccompFilter(status?: string): boolean {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return false;
    }
  }
  const m = /^Seccomp:\s*(\d+)$/m.exec(text);
  return m !== null && m[1] !== '0';
}
