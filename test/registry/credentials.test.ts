// Where credentials are found, in containers/image's order (pkg/docker/config getAuthFilePaths, containers-auth.json(5)):
// the named file alone (--authfile, REGISTRY_AUTH_FILE; it must exist); else $XDG_RUNTIME_DIR/containers/auth.json or
// /run/containers/$UID/auth.json, $XDG_CONFIG_HOME/containers/auth.json, $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, ~/.dockercfg (legacy format). Where login writes: podman's rule. Real files in a temp dir;
// the /run/containers path is computed for a made-up UID and only compared, never written (test/cli/creds.test.ts
// reads the real one as another user).
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { authFileSearchPath, checkNamedAuthFile, defaultAuthFile, findCredentials, removeAuth } from '../../src/registry/credentials.js';
import { exitOf } from '../helpers/exit-code.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-credentials-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const entry = (user: string, pass: string) => ({ auth: b64(`${user}:${pass}`) });
const paths = (l: { path: string; legacy?: boolean }[]): string[] => l.map((p) => (p.legacy ? `${p.path} (legacy)` : p.path));

function write(file: string, doc: unknown): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

t.test('the search path, as containers/image computes it', async (t) => {
  const env = { HOME: '/h' };
  t.same(paths(authFileSearchPath({ env, uid: 4242 })), [
    '/run/containers/4242/auth.json',
    '/h/.config/containers/auth.json',
    '/h/.docker/config.json',
    '/h/.dockercfg (legacy)',
  ], 'XDG_RUNTIME_DIR unset (most pods): /run/containers/$UID first');
  t.same(paths(authFileSearchPath({ env: { ...env, XDG_RUNTIME_DIR: '/run/user/7', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc' }, uid: 7 })), [
    '/run/user/7/containers/auth.json',
    '/cfg/containers/auth.json',
    '/dc/config.json',
    '/h/.dockercfg (legacy)',
  ], 'XDG_RUNTIME_DIR, XDG_CONFIG_HOME; DOCKER_CONFIG replaces ~/.docker');
  t.same(paths(authFileSearchPath({ env: { ...env, REGISTRY_AUTH_FILE: '/r.json', XDG_RUNTIME_DIR: '/x' } })), ['/r.json'], 'REGISTRY_AUTH_FILE alone');
  t.same(paths(authFileSearchPath({ authFile: '/a.json', env: { ...env, REGISTRY_AUTH_FILE: '/r.json' } })), ['/a.json'], '--authfile alone, over REGISTRY_AUTH_FILE');
  t.equal(authFileSearchPath({ env: { HOME: '/h' } })[0]!.path, `/run/containers/${process.getuid!()}/auth.json`, 'this process\'s UID by default');
});

t.test('precedence: the first file that knows the registry wins', async (t) => {
  const home = path.join(dir, 'home');
  const run = path.join(dir, 'run');
  mkdirSync(run, { recursive: true });
  const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: run, PATH: process.env.PATH };
  const legacy = write(path.join(home, '.dockercfg'), { 'https://r.example/v1/': { auth: b64('legacy:0'), email: 'x@y' } });
  t.same(await findCredentials('r.example', { env }), { credentials: { username: 'legacy', password: '0' }, from: legacy }, '~/.dockercfg, legacy format, URL key');
  const docker = write(path.join(home, '.docker', 'config.json'), { auths: { 'https://r.example': entry('docker', '1'), 'https://index.docker.io/v1/': entry('hub', 'h') } });
  t.same(await findCredentials('r.example', { env }), { credentials: { username: 'docker', password: '1' }, from: docker });
  t.same((await findCredentials('docker.io', { env }))?.credentials, { username: 'hub', password: 'h' }, 'docker.io under docker login\'s key');
  const dc = write(path.join(dir, 'dc', 'config.json'), { auths: { 'r.example': entry('dockercfg-env', '2') } });
  t.same((await findCredentials('r.example', { env: { ...env, DOCKER_CONFIG: path.dirname(dc) } }))?.credentials, { username: 'dockercfg-env', password: '2' }, 'DOCKER_CONFIG instead of ~/.docker');
  t.same((await findCredentials('docker.io', { env: { ...env, DOCKER_CONFIG: path.dirname(dc) } })), undefined, '~/.docker is then not read');
  const config = write(path.join(home, '.config', 'containers', 'auth.json'), { auths: { 'r.example': entry('config', '3') } });
  t.same(await findCredentials('r.example', { env }), { credentials: { username: 'config', password: '3' }, from: config });
  const xdgConfig = write(path.join(dir, 'xdg-config', 'containers', 'auth.json'), { auths: { 'r.example': entry('xdg-config', '4') } });
  t.same((await findCredentials('r.example', { env: { ...env, XDG_CONFIG_HOME: path.join(dir, 'xdg-config') } }))?.from, xdgConfig, 'XDG_CONFIG_HOME instead of ~/.config');
  const primary = write(path.join(run, 'containers', 'auth.json'), { auths: { 'r.example': entry('runtime', '5') } });
  t.same(await findCredentials('r.example', { env }), { credentials: { username: 'runtime', password: '5' }, from: primary }, 'the primary file first');
  t.same((await findCredentials('docker.io', { env }))?.credentials, { username: 'hub', password: 'h' }, 'a registry the first files do not know: the next one');
  const named = write(path.join(dir, 'named.json'), { auths: { 'other.example': entry('o', '6') } });
  t.equal(await findCredentials('r.example', { env: { ...env, REGISTRY_AUTH_FILE: named } }), undefined, 'REGISTRY_AUTH_FILE is the only file read');
  t.same((await findCredentials('other.example', { env, authFile: named }))?.credentials, { username: 'o', password: '6' });
});

t.test('keys: exact, then normalized; a namespaced key is not the registry', async (t) => {
  const f = write(path.join(dir, 'keys.json'), {
    auths: {
      'quay.example/team': entry('ns', '1'),
      'http://plain.example:5000/v1/': entry('url', '2'),
      'registry-1.docker.io': entry('hub1', '3'),
      'empty.example': { auth: '' },
    },
  });
  t.equal(await findCredentials('quay.example', { authFile: f }), undefined, 'quay.example/team is only for that namespace');
  t.same((await findCredentials('plain.example:5000', { authFile: f }))?.credentials, { username: 'url', password: '2' });
  t.same((await findCredentials('docker.io', { authFile: f }))?.credentials, { username: 'hub1', password: '3' }, 'docker.io hosts are one');
  t.equal(await findCredentials('empty.example', { authFile: f }), undefined, 'an empty entry (a helper marker) is no credential');
  t.equal(await removeAuth(f, 'plain.example:5000'), true, 'logout finds the URL key');
  t.equal(await removeAuth(f, 'quay.example'), false, 'and leaves the namespaced one');
});

t.test('a named auth file that does not exist is an error (exit 64), naming the file and where it came from', async (t) => {
  const missing = path.join(dir, 'nope', 'auth.json');
  await t.rejects(exitOf(findCredentials('r.example', { authFile: missing })), { code: 'ERR_AUTH_FILE_MISSING', exitCode: 64, message: new RegExp(`^--authfile ${missing} cannot be read \\(ENOENT\\)`) });
  t.throws(() => checkNamedAuthFile({ env: { REGISTRY_AUTH_FILE: missing } }), { code: 'ERR_AUTH_FILE_MISSING', message: /^REGISTRY_AUTH_FILE .* cannot be read/ });
  t.throws(() => checkNamedAuthFile({ authFile: dir }), { code: 'ERR_AUTH_FILE_MISSING', message: /is not a file/ });
  t.doesNotThrow(() => checkNamedAuthFile({ env: {} }), 'nothing named: nothing to check');
  t.equal(await findCredentials('r.example', { env: { HOME: path.join(dir, 'empty-home'), XDG_RUNTIME_DIR: path.join(dir, 'no-run') } }), undefined, 'the default files may all be missing');
});

t.test('where login writes (podman): --authfile, REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, the primary file', async (t) => {
  const run = path.join(dir, 'run-w');
  mkdirSync(run);
  t.equal(defaultAuthFile({ authFile: '/a.json', env: { REGISTRY_AUTH_FILE: '/r.json' } }), '/a.json');
  t.equal(defaultAuthFile({ env: { REGISTRY_AUTH_FILE: '/r.json', DOCKER_CONFIG: '/dc' } }), '/r.json');
  t.equal(defaultAuthFile({ env: { DOCKER_CONFIG: '/dc', XDG_RUNTIME_DIR: run } }), '/dc/config.json');
  t.equal(defaultAuthFile({ env: { XDG_RUNTIME_DIR: run } }), path.join(run, 'containers', 'auth.json'));
  t.equal(defaultAuthFile({ env: {}, uid: 4242 }), '/run/containers/4242/auth.json');
  t.throws(() => defaultAuthFile({ env: { XDG_RUNTIME_DIR: path.join(dir, 'typo') } }), { code: 'ERR_AUTH_FILE_INVALID', message: /XDG_RUNTIME_DIR .* does not exist/ });
});
