// `login` as a library call: the credentials are checked against the registry (GET /v2/ with them, answering
// a Bearer challenge at the token endpoint or a Basic one) before anything is stored, so a wrong password
// fails here and not at the next push.
import { S2IError } from '../errors.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import type { Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { checkRegistry } from './names.js';

/** `https://quay.io/`, `quay.io`, `localhost:5000` → host[:port]; anything with a path is refused. */
export function loginHost(arg: string): string {
  const host = arg.trim().replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'index.docker.io/v1') return 'docker.io';
  if (host.includes('/')) {
    throw new S2IError('ERR_USAGE', `log in to a registry host, not to "${arg.slice(0, 100)}": give host[:port], e.g. quay.io`);
  }
  checkRegistry(host);
  return host;
}

/** Resolves when `registry` accepts `creds`; ERR_LOGIN_FAILED when it refuses them. Never mentions the password. */
export async function verifyLogin(registry: string, creds: Credentials, opts: Omit<RegistryClientOptions, 'credentials'> = {}): Promise<void> {
  const client = new RegistryClient({ ...opts, credentials: creds });
  try {
    await client.ping(registry);
  } catch (e) {
    if (e instanceof S2IError && e.code === 'ERR_UNAUTHORIZED') {
      const who = 'username' in creds ? ` for user ${JSON.stringify(creds.username.slice(0, 100))}` : '';
      throw new RegistryError('ERR_LOGIN_FAILED', `login to ${registry} failed: the registry refused the credentials${who}; check the user name and password`, {
        cause: e,
        ...(e instanceof RegistryError && e.status !== undefined ? { status: e.status } : {}),
      });
    }
    throw e;
  } finally {
    await client.close();
  }
}
