// `oci-s2i login [-u USER] [--password-stdin | -p PASS] HOST`: checks the credentials against the registry,
// then stores them in a podman-compatible auth file (0600, written atomically). The password is never echoed
// or printed; it is prompted for only on a terminal.
import { S2IError } from '../../errors.js';
import { defaultAuthFile, writeAuthFile } from '../../registry/credentials.js';
import { loginHost, verifyLogin } from '../../registry/login.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { canPrompt, prompt } from '../prompt.js';
import { registryOptions, registryParams } from '../registry-flags.js';

/** A password on stdin is small; more than this is not a password. */
const MAX_PASSWORD = 64 * 1024;

function usageError(message: string): S2IError {
  return new S2IError('ERR_USAGE', message);
}

async function readStdinPassword(): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > MAX_PASSWORD) throw usageError('--password-stdin: standard input is over 64 KiB; that is not a password');
    parts.push(b);
  }
  // As podman: one trailing newline (and a CR before it) is not part of the password.
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

export const loginCommand: Command = {
  name: 'login',
  summary: 'Log in to a registry: check the user name and password against it, then store them in the auth file (podman format).',
  args: ['REGISTRY'],
  params: [
    { name: 'username', short: 'u', type: 'string', value: 'USER', description: 'user name (prompted for on a terminal)' },
    { name: 'password', short: 'p', type: 'string', value: 'PASS', description: 'password; visible in the process list, prefer --password-stdin' },
    { name: 'password-stdin', type: 'boolean', description: 'read the password from standard input' },
    { name: 'authfile', type: 'string', value: 'FILE', description: 'auth file to write, created when missing (default: REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, else $XDG_RUNTIME_DIR/containers/auth.json or /run/containers/$UID/auth.json)' },
    ...registryParams.filter((p) => !['root', 'creds', 'authfile'].includes(p.name)),
  ],
  async run(ctx) {
    const v = ctx.values;
    const registry = loginHost(ctx.positionals[0]!);
    const fromStdin = v['password-stdin'] === true;
    let password = str(v.password);
    if (fromStdin && password !== undefined) throw usageError('--password and --password-stdin cannot be combined; use --password-stdin');
    const tty = canPrompt();
    let username = str(v.username);
    if (username === undefined) {
      if (!tty || fromStdin) throw usageError(`no user name: run \`oci-s2i login -u USER --password-stdin ${registry}\``);
      username = (await prompt('Username: ', false, ctx.stderr)).trim();
    }
    if (username === '' || username.includes(':')) throw usageError('the user name must be non-empty and contain no ":"');
    if (fromStdin) password = await readStdinPassword();
    else if (password === undefined) {
      if (!tty) throw usageError(`no password: pass it on standard input with --password-stdin (standard input is not a terminal to ask on)`);
      password = await prompt('Password: ', true, ctx.stderr);
    } else if (!ctx.global.quiet) {
      ctx.stderr.write('warning: --password is visible to other users of this machine; use --password-stdin\n');
    }
    if (password === '') throw usageError('the password is empty');

    const opts = registryOptions(v, { createsAuthFile: true });
    const creds = { username, password };
    await verifyLogin(registry, creds, { ...opts, signal: ctx.signal });
    const file = defaultAuthFile({ ...(opts.authFile ? { authFile: opts.authFile } : {}) });
    await writeAuthFile(file, registry, creds);
    if (ctx.global.json) ctx.stdout.write(JSON.stringify({ registry, authFile: file }) + '\n');
    else ctx.stdout.write('Login Succeeded!\n');
    return 0;
  },
};
