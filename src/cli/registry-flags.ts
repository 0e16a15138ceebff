// Flags shared by every command that talks to registries, and the credentials they give: --authfile (which must
// exist, as in podman) and --creds USER[:PASS] (podman/skopeo; `copy` also takes skopeo's --src-creds/--dest-creds).
import type { Param, CommandContext } from './command.js';
import { str, boolFlag, intFlag, nonEmptyPath } from './command.js';
import { S2IError } from '../errors.js';
import type { RegistryClientOptions } from '../registry/client.js';
import { checkNamedAuthFile, type Credentials } from '../registry/credentials.js';
import { canPrompt, prompt } from './prompt.js';

type Values = CommandContext['values'];

/** The flags that carry credentials; cli/secret-args.ts keeps their values out of process titles and argv. */
const credsFlags = ['creds', 'src-creds', 'dest-creds'] as const;
type CredsFlag = (typeof credsFlags)[number];

const credsParam: Param = {
  name: 'creds',
  type: 'string',
  value: 'USER[:PASS]',
  description: 'credentials for every registry this command talks to, instead of the auth files; without :PASS the password is asked for on the terminal',
};

/** --root: the cache and store directory (also of the commands that use only the store: images, tag, rmi). */
export const rootParam: Param = { name: 'root', type: 'string', value: 'DIR', description: 'cache and store directory (default $XDG_CACHE_HOME/oci-s2i)', check: nonEmptyPath('root') };

export const registryParams: Param[] = [
  { name: 'authfile', type: 'string', value: 'FILE', description: 'registry credentials file, the only one read; it must exist (default: REGISTRY_AUTH_FILE, else podman\'s and docker\'s files: see Environment)' },
  credsParam,
  { name: 'tls-verify', type: 'string', value: 'BOOL', description: 'verify TLS certificates; false also allows plain HTTP to non-loopback registries', default: true },
  { name: 'cert-dir', type: 'string', value: 'DIR', description: 'CA (*.crt) and client certificate (*.cert + *.key) files for the registry (default: /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST)' },
  { name: 'retry', type: 'string', value: 'N', description: 'attempts for each registry request on 429/5xx and refused, unresolved or dropped connections', default: '4' },
  { name: 'retry-delay', type: 'string', value: 'MS', description: 'first backoff delay in milliseconds (doubles, capped at 5 s)', default: '200' },
  rootParam,
];

/** `USER[:PASS]` split at the first ':' (the password may hold more), as podman's --creds. */
function splitCreds(flag: CredsFlag, value: string): { username: string; password: string } {
  const colon = value.indexOf(':');
  const username = colon < 0 ? value : value.slice(0, colon);
  const password = colon < 0 ? '' : value.slice(colon + 1);
  if (username === '') throw new S2IError('ERR_USAGE', `--${flag}: the user name is empty; give USER[:PASS]`);
  return { username, password };
}

function noPassword(flag: CredsFlag, username: string): S2IError {
  return new S2IError(
    'ERR_USAGE',
    `--${flag} ${JSON.stringify(username.slice(0, 100))} has no password and standard input is not a terminal to ask on: give --${flag} USER:PASS, or log in with \`oci-s2i login --password-stdin\``,
  );
}

/**
 * Asks on the terminal for the password of each --creds/--src-creds/--dest-creds given without one (podman asks
 * the same way), and puts it into `values`; without a terminal that is a usage error. Runs before the command.
 */
export async function askMissingPasswords(values: Values, stderr: NodeJS.WriteStream): Promise<void> {
  for (const flag of credsFlags) {
    const v = str(values[flag]);
    if (v === undefined) continue;
    const { username, password } = splitCreds(flag, v);
    if (password !== '') continue;
    if (!canPrompt()) throw noPassword(flag, username);
    const answer = await prompt(flag === 'creds' ? `Password for ${username}: ` : `Password for ${username} (--${flag}): `, true, stderr);
    if (answer === '') throw new S2IError('ERR_USAGE', `--${flag}: the password is empty`);
    values[flag] = `${username}:${answer}`;
  }
}

/** The credentials of `--<flag>` (a password is required by now: askMissingPasswords asked for it). */
function credsOf(values: Values, flag: CredsFlag): Credentials | undefined {
  const v = str(values[flag]);
  if (v === undefined) return undefined;
  const c = splitCreds(flag, v);
  if (c.password === '') throw noPassword(flag, c.username);
  return c;
}

interface RegistryFlagUse {
  /** `copy`: the source's or the destination's credentials (--src-creds / --dest-creds, else --creds). */
  side?: 'src' | 'dest';
  /** `login` creates the auth file: it need not exist yet. */
  createsAuthFile?: boolean;
}

export function registryOptions(v: Values, use: RegistryFlagUse = {}): Omit<RegistryClientOptions, 'onProgress' | 'signal'> {
  const tls = boolFlag('tls-verify', v['tls-verify']);
  const attempts = intFlag('retry', str(v.retry), 1, 100);
  const delay = intFlag('retry-delay', str(v['retry-delay']), 0, 600_000);
  const authFile = str(v.authfile);
  if (!use.createsAuthFile) checkNamedAuthFile(authFile ? { authFile } : {});
  const credentials = (use.side ? credsOf(v, `${use.side}-creds`) : undefined) ?? credsOf(v, 'creds');
  const certDir = str(v['cert-dir']);
  return {
    ...(authFile ? { authFile } : {}),
    ...(credentials ? { credentials } : {}),
    ...(certDir ? { certDir } : {}),
    ...(tls === false ? { tlsVerify: false, plainHttp: undefined } : {}),
    ...(attempts !== undefined || delay !== undefined
      ? { retry: { ...(attempts !== undefined ? { attempts } : {}), ...(delay !== undefined ? { baseDelayMs: delay } : {}) } }
      : {}),
  };
}
