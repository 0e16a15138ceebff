// Flags shared by every command that talks to registries.
import type { Param, CommandContext } from './command.js';
import { str, boolFlag, intFlag, nonEmptyPath } from './command.js';
import type { RegistryClientOptions } from '../registry/client.js';

export const registryParams: Param[] = [
  { name: 'authfile', type: 'string', value: 'FILE', description: 'registry credentials file (default: REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json)' },
  { name: 'tls-verify', type: 'string', value: 'BOOL', description: 'verify TLS certificates; false also allows plain HTTP to non-loopback registries', default: true },
  { name: 'cert-dir', type: 'string', value: 'DIR', description: 'CA (*.crt) and client certificate (*.cert + *.key) files for the registry (default: /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST)' },
  { name: 'retry', type: 'string', value: 'N', description: 'attempts for each registry request on 429/5xx and refused, unresolved or dropped connections', default: '4' },
  { name: 'retry-delay', type: 'string', value: 'MS', description: 'first backoff delay in milliseconds (doubles, capped at 5 s)', default: '200' },
  { name: 'root', type: 'string', value: 'DIR', description: 'cache and store directory (default $XDG_CACHE_HOME/oci-s2i)', check: nonEmptyPath('root') },
];

export function registryOptions(v: CommandContext['values']): Omit<RegistryClientOptions, 'onProgress' | 'signal'> {
  const tls = boolFlag('tls-verify', v['tls-verify']);
  const attempts = intFlag('retry', str(v.retry), 1, 100);
  const delay = intFlag('retry-delay', str(v['retry-delay']), 0, 600_000);
  const authFile = str(v.authfile);
  const certDir = str(v['cert-dir']);
  return {
    ...(authFile ? { authFile } : {}),
    ...(certDir ? { certDir } : {}),
    ...(tls === false ? { tlsVerify: false, plainHttp: undefined } : {}),
    ...(attempts !== undefined || delay !== undefined
      ? { retry: { ...(attempts !== undefined ? { attempts } : {}), ...(delay !== undefined ? { baseDelayMs: delay } : {}) } }
      : {}),
  };
}
