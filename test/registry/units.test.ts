// Pure parts by table: challenges, scopes, Retry-After, backoff, error bodies, URL redaction; and the
// credential search (real temp files, a real credential-helper program on PATH).
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mergeScopes, parseChallenges, parseScope } from '../../src/registry/auth.js';
import { findCredentials, removeAuth, writeAuthFile } from '../../src/registry/credentials.js';
import { parseErrorBody, redactUrl } from '../../src/registry/errors.js';
import { backoffDelay, isRetryableStatus, isTransientNetworkError, isUnreachableError, parseRetryAfter, retryPolicy } from '../../src/registry/retry.js';

t.test('parseChallenges', async (t) => {
  const cases: [string, ReturnType<typeof parseChallenges>][] = [
    [
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Basic realm="x", Bearer realm="https://t/token",service=svc',
      [
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'bearer', params: { realm: 'https://t/token', service: 'svc' } },
      ],
    ],
    ['Bearer realm="a \\"quoted\\" b" , error="insufficient_scope"', [{ scheme: 'bearer', params: { realm: 'a "quoted" b', error: 'insufficient_scope' } }]],
    ['', []],
    ['"garbage', [{ scheme: 'garbage', params: {} }]],
    [',,,', []],
  ];
  for (const [input, want] of cases) t.same(parseChallenges(input), want, input);
  t.same(parseChallenges(undefined), []);
});

t.test('scopes keep host:port names whole', async (t) => {
  t.same(parseScope('repository:localhost:5000/a/b:pull,push'), { type: 'repository', name: 'localhost:5000/a/b', actions: ['pull', 'push'] });
  t.same(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  t.equal(parseScope('nonsense'), undefined);
  t.same(mergeScopes(['repository:h:1/a:push', 'repository:h:1/a:pull', 'repository:b:pull']), ['repository:b:pull', 'repository:h:1/a:pull,push']);
});

t.test('retry policy', async (t) => {
  t.equal(parseRetryAfter('3'), 3000);
  t.equal(parseRetryAfter(' 0 '), 0);
  t.ok((parseRetryAfter(new Date(Date.now() + 10_000).toUTCString()) ?? 0) > 8000);
  t.equal(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT'), 0);
  t.equal(parseRetryAfter('soon'), undefined);
  t.equal(parseRetryAfter(undefined), undefined);
  t.equal(parseRetryAfter('-5'), undefined);
  for (const s of [429, 500, 502, 503, 504]) t.ok(isRetryableStatus(s), `${s} retried`);
  for (const s of [400, 401, 403, 404, 405, 409, 501]) t.notOk(isRetryableStatus(s), `${s} not retried`);
  const p = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
  t.same(p, { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 });
  t.equal(backoffDelay(1, p, () => 0), 50);
  t.equal(backoffDelay(1, p, () => 1), 100);
  t.equal(backoffDelay(3, p, () => 1), 400);
  t.equal(backoffDelay(10, p, () => 1), 1000, 'capped');
  t.ok(isTransientNetworkError(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
  t.ok(isTransientNetworkError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) })));
  t.notOk(isTransientNetworkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })));
  // Refused and unresolved connections: unreachable, and retried like dropped ones (--retry).
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
    t.ok(isUnreachableError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code }) })), `${code} is unreachable`);
  }
  for (const code of ['ECONNRESET', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED']) {
    t.notOk(isUnreachableError(Object.assign(new Error('x'), { code })), `${code} is not`);
  }
});

t.test('error bodies and URL redaction', async (t) => {
  t.same(parseErrorBody('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown","detail":{"d":1}}]}'), [
    { code: 'BLOB_UNKNOWN', message: 'blob unknown', detail: { d: 1 } },
  ]);
  t.same(parseErrorBody('{"errors":[{"code":"X_NEW_CODE"}, 5, null, {"message":"no code"}]}'), [{ code: 'X_NEW_CODE', message: '' }]);
  for (const junk of ['', '<html>', '[]', 'null', '{"errors":{}}', Buffer.from([0xff, 0xfe])]) t.same(parseErrorBody(junk), [], String(junk));
  t.equal(redactUrl('https://user:pw@r.example/v2/a/blobs/uploads/u?_state=SECRET&digest=x'), 'https://r.example/v2/a/blobs/uploads/u');
  t.equal(redactUrl('not a url'), '<invalid URL>');
});

t.test('credentials', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // XDG_RUNTIME_DIR: a dir with no auth file, so the real /run/containers/$UID/auth.json is not read.
  const env: NodeJS.ProcessEnv = { HOME: dir, XDG_RUNTIME_DIR: dir, PATH: `${dir}/bin:${process.env.PATH}` };
  const find = async (registry: string, opts: Parameters<typeof findCredentials>[1]) => (await findCredentials(registry, opts))?.credentials;
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  t.test('docker config and containers auth.json (the full order: credentials.test.ts)', async (t) => {
    mkdirSync(path.join(dir, '.docker'), { recursive: true });
    writeFileSync(path.join(dir, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'https://r.example': { auth: b64('d:1') } } }));
    t.same(await find('docker.io', { env }), { username: 'hub', password: 'pw' });
    t.same(await find('r.example', { env }), { username: 'd', password: '1' });
    mkdirSync(path.join(dir, '.config', 'containers'), { recursive: true });
    writeFileSync(path.join(dir, '.config', 'containers', 'auth.json'), JSON.stringify({ auths: { 'r.example': { auth: b64('podman:2') } } }));
    t.same(await find('r.example', { env }), { username: 'podman', password: '2' }, 'containers auth.json before docker config');
    t.equal(await find('other.example', { env }), undefined);
    t.same(await find('r.example', { env, authFile: path.join(dir, '.docker', 'config.json') }), { username: 'd', password: '1' });
  });

  t.test('bad auth files', async (t) => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"auths": {"r.example": {"auth": "secret-looking');
    const err = (await find('r.example', { authFile: bad }).catch((e: unknown) => e)) as Error;
    t.match(err, { code: 'ERR_AUTH_FILE_INVALID' });
    t.notMatch(err.message, /secret-looking/);
    writeFileSync(bad, JSON.stringify({ auths: { 'r.example': { auth: b64('no-colon') } } }));
    t.equal(await find('r.example', { authFile: bad }), undefined);
    await t.rejects(find('r.example', { authFile: path.join(dir, 'missing.json') }), { code: 'ERR_AUTH_FILE_MISSING' });
  });

  t.test('credential helpers', async (t) => {
    mkdirSync(path.join(dir, 'bin'), { recursive: true });
    const helper = path.join(dir, 'bin', 'docker-credential-fake');
    writeFileSync(
      helper,
      '#!/bin/sh\nread server\ncase "$server" in\n  h.example) echo \'{"Username":"hu","Secret":"hs"}\';;\n  t.example) echo \'{"Username":"<token>","Secret":"idtok"}\';;\n  *) echo "credentials not found in native keychain"; exit 1;;\nesac\n',
    );
    chmodSync(helper, 0o755);
    const file = path.join(dir, 'helpers.json');
    writeFileSync(file, JSON.stringify({ credHelpers: { 'h.example': 'fake' }, credsStore: 'fake' }));
    t.same(await find('h.example', { authFile: file, env }), { username: 'hu', password: 'hs' });
    t.same(await find('t.example', { authFile: file, env }), { identityToken: 'idtok' });
    t.equal(await find('n.example', { authFile: file, env }), undefined);
    writeFileSync(file, JSON.stringify({ credHelpers: { 'h.example': 'missing-helper' } }));
    await t.rejects(find('h.example', { authFile: file, env }), { code: 'ERR_CREDENTIAL_HELPER' });
    writeFileSync(file, JSON.stringify({ credHelpers: { 'h.example': '../../bin/sh' } }));
    await t.rejects(find('h.example', { authFile: file, env }), { code: 'ERR_CREDENTIAL_HELPER' });
  });

  t.test('writeAuthFile / removeAuth', async (t) => {
    const file = path.join(dir, 'new', 'auth.json');
    writeFileSync(path.join(dir, 'keep.json'), '');
    await writeAuthFile(file, 'r.example:5000', { username: 'u', password: 'p:w' });
    await writeAuthFile(file, 'docker.io', { username: 'hub', password: 'x' });
    t.equal(statSync(file).mode & 0o777, 0o600);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
    t.same(Object.keys(doc.auths).sort(), ['https://index.docker.io/v1/', 'r.example:5000']);
    t.same(await find('r.example:5000', { authFile: file }), { username: 'u', password: 'p:w' });
    t.equal(await removeAuth(file, 'r.example:5000'), true);
    t.equal(await removeAuth(file, 'r.example:5000'), false);
    t.equal(await find('r.example:5000', { authFile: file }), undefined);
    t.same(await find('docker.io', { authFile: file }), { username: 'hub', password: 'x' });
  });
});
