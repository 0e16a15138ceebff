// `oci-s2i logout [--authfile FILE] [--all] [HOST]`: removes stored credentials from the auth file login writes.
// A named file (--authfile, REGISTRY_AUTH_FILE) must exist, as in podman.
import { S2IError } from '../../errors.js';
import { checkNamedAuthFile, defaultAuthFile, removeAllAuths, removeAuth } from '../../registry/credentials.js';
import { loginHost } from '../../registry/login.js';
import type { Command } from '../command.js';
import { str } from '../command.js';

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Remove the stored credentials for a registry (or all of them) from the auth file.',
  args: ['REGISTRY?'],
  params: [
    { name: 'authfile', type: 'string', value: 'FILE', description: 'auth file, which must exist (default: REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, else $XDG_RUNTIME_DIR/containers/auth.json or /run/containers/$UID/auth.json)' },
    { name: 'all', short: 'a', type: 'boolean', description: 'remove the credentials of every registry' },
  ],
  async run(ctx) {
    const authFile = str(ctx.values.authfile);
    checkNamedAuthFile(authFile ? { authFile } : {});
    const file = defaultAuthFile(authFile ? { authFile } : {});
    const arg = ctx.positionals[0];
    if (ctx.values.all === true) {
      if (arg !== undefined) throw new S2IError('ERR_USAGE', '--all removes every registry; give no REGISTRY with it');
      await removeAllAuths(file);
      ctx.stdout.write('Removed login credentials for all registries\n');
      return 0;
    }
    if (arg === undefined) throw new S2IError('ERR_USAGE', 'logout needs a REGISTRY, or --all');
    const registry = loginHost(arg);
    if (!(await removeAuth(file, registry))) {
      throw new S2IError('ERR_NOT_LOGGED_IN', `not logged in to ${registry}: ${file} has no credentials for it`);
    }
    ctx.stdout.write(`Removed login credentials for ${registry}\n`);
    return 0;
  },
};
