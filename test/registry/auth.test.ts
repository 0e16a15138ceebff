// Authentication: the real registry with htpasswd (Basic), and a bearer-token registry on a real socket
// (challenge, realm with service + one scope param per scope, token cache, insufficient_scope, identity
// tokens by OAuth2 POST with GET fallback, redirects without Authorization).
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { writeAuthFile } from '../../src/registry/credentials.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { startRegistry } from '../helpers/registry.js';
import { exitOf } from '../helpers/exit-code.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });
const opener = (data: Buffer) => () => Readable.from([data]);
/** No auth file anywhere (XDG_RUNTIME_DIR keeps the real /run/containers/$UID/auth.json out). */
const emptyEnv = (dir: string): NodeJS.ProcessEnv => ({ HOME: dir, XDG_RUNTIME_DIR: dir, PATH: process.env.PATH });

t.test('htpasswd registry', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret-pw' } });
  t.teardown(() => reg.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = randomBytes(1000);

  t.test('no credentials: ERR_UNAUTHORIZED with the login hint, nothing pushed', async (t) => {
    const c = new RegistryClient({ env: emptyEnv(dir) });
    t.teardown(() => c.close());
    const err = await c.repository(reg.host, 'a/b').pushBlob(blob(data), opener(data)).catch((e: unknown) => e);
    t.match(err, { code: 'ERR_UNAUTHORIZED', status: 401, message: new RegExp(`oci-s2i login ${reg.host}.*--creds USER.*REGISTRY_AUTH_FILE`) });
    await t.rejects(exitOf(c.repository(reg.host, 'a/b').resolve('latest')), { code: 'ERR_UNAUTHORIZED', exitCode: 2 });
  });

  t.test('wrong password: ERR_UNAUTHORIZED and the password appears nowhere', async (t) => {
    const file = path.join(dir, 'bad.json');
    await writeAuthFile(file, reg.host, { username: 'alice', password: 'wrong-pw-xyz' });
    const c = new RegistryClient({ authFile: file });
    t.teardown(() => c.close());
    const err = (await c.repository(reg.host, 'a/b').resolve('latest').catch((e: unknown) => e)) as Error;
    t.match(err, { code: 'ERR_UNAUTHORIZED' });
    const everything = JSON.stringify(err) + err.message + String(err.stack) + JSON.stringify((err as { url?: string }).url);
    t.notMatch(everything, /wrong-pw-xyz/);
    t.notMatch(everything, new RegExp(Buffer.from('alice:wrong-pw-xyz').toString('base64')));
  });

  t.test('basic auth from an auth file (and from REGISTRY_AUTH_FILE)', async (t) => {
    const file = path.join(dir, 'auth.json');
    await writeAuthFile(file, reg.host, { username: 'alice', password: 's3cret-pw' });
    const c = new RegistryClient({ authFile: file });
    t.teardown(() => c.close());
    const repo = c.repository(reg.host, 'a/b');
    await repo.pushBlob(blob(data), opener(data));
    t.equal(await repo.blobExists(blob(data)), true);
    const c2 = new RegistryClient({ env: { ...emptyEnv(dir), REGISTRY_AUTH_FILE: file } });
    t.teardown(() => c2.close());
    t.same(await c2.repository(reg.host, 'a/b').fetchBlobBytes(blob(data), 1 << 20), data);
  });
});

interface TokenCall {
  method: string;
  query: URLSearchParams;
  authorization?: string;
  form?: URLSearchParams;
}

/** A bearer-token registry: /token issues tokens naming their scopes; /v2/ checks them. */
async function startBearerRegistry(opts: { oauthPost?: boolean; narrowFirst?: boolean } = {}) {
  const calls: TokenCall[] = [];
  const seen: { path: string; authorization?: string; host?: string }[] = [];
  const tokens = new Map<string, string>(); // token → scopes
  let narrowed = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(req.headers.host ? { host: req.headers.host } : {}) });
      if (url.pathname === '/token') {
        const call: TokenCall = { method: req.method ?? '', query: url.searchParams, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
        if (req.method === 'POST') {
          call.form = new URLSearchParams(body);
          calls.push(call);
          if (!opts.oauthPost) return void res.writeHead(404).end();
          const tok = randomBytes(8).toString('hex');
          tokens.set(tok, call.form.get('scope') ?? '');
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: tok, expires_in: 10 }));
        }
        calls.push(call);
        const tok = randomBytes(8).toString('hex');
        tokens.set(tok, url.searchParams.getAll('scope').join(' '));
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: tok, expires_in: 300 }));
      }
      const realm = `http://${req.headers.host}/token`;
      const auth = req.headers.authorization ?? '';
      const scopes = tokens.get(auth.replace(/^Bearer /, ''));
      const needed = `repository:${url.pathname.split('/').slice(2, 4).join('/')}:pull`;
      if (scopes === undefined) {
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="test.svc",scope="${needed}"`, 'content-type': 'application/json' })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      if (opts.narrowFirst && !narrowed) {
        narrowed = true;
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="test.svc",scope="${needed},push",error="insufficient_scope"` })
          .end();
      }
      if (url.pathname.endsWith('/blobs/' + sha('hello'))) {
        // Storage redirect to another host name of the same machine.
        const port = (storage.address() as AddressInfo).port;
        return void res.writeHead(307, { location: `http://127.0.0.1:${port}/storage/blob?sig=SECRET` }).end();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'x', tags: ['one', 'two'] }));
    });
  });
  // Blob storage on another port, i.e. another host as far as credentials go.
  const storage = http.createServer((req, res) => {
    seen.push({ path: new URL(req.url ?? '/', 'http://x').pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    res.writeHead(200, { 'content-length': '5' }).end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const stop = async (): Promise<void> => {
    server.closeAllConnections();
    storage.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => storage.close(() => r()));
  };
  return { host: `127.0.0.1:${port}`, calls, seen, stop };
}

t.test('bearer token flow', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-bearer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  t.test('anonymous token, one scope param per scope, cached for the next request', async (t) => {
    const srv = await startBearerRegistry();
    t.teardown(() => srv.stop());
    const c = new RegistryClient({ env: emptyEnv(dir) });
    t.teardown(() => c.close());
    const repo = c.repository(srv.host, 'team/app');
    t.same(await repo.tags(), ['one', 'two']);
    t.same(await repo.tags(), ['one', 'two']);
    t.equal(srv.calls.length, 1, 'token fetched once');
    t.equal(srv.calls[0]?.query.get('service'), 'test.svc');
    t.same(srv.calls[0]?.query.getAll('scope'), ['repository:team/app:pull']);
    t.equal(srv.calls[0]?.authorization, undefined, 'anonymous');
  });

  t.test('basic credentials go to the realm; mount asks for the source repository too', async (t) => {
    const srv = await startBearerRegistry();
    t.teardown(() => srv.stop());
    const file = path.join(dir, 'a.json');
    await writeAuthFile(file, srv.host, { username: 'u', password: 'p' });
    const c = new RegistryClient({ authFile: file });
    t.teardown(() => c.close());
    // The fake answers 200 to the POST, which is not a 201/202: the call fails, but the token request shows the scopes.
    await c.repository(srv.host, 'team/app').mountBlob(blob(Buffer.from('x')), 'other/src').catch(() => undefined);
    t.equal(srv.calls[0]?.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    t.same(srv.calls[0]?.query.getAll('scope'), ['repository:other/src:pull', 'repository:team/app:pull,push']);
  });

  t.test('insufficient_scope: one retry with the wider scope', async (t) => {
    const srv = await startBearerRegistry({ narrowFirst: true });
    t.teardown(() => srv.stop());
    const c = new RegistryClient({ env: emptyEnv(dir) });
    t.teardown(() => c.close());
    t.same(await c.repository(srv.host, 'team/app').tags(), ['one', 'two']);
    t.equal(srv.calls.length, 2);
    t.same(srv.calls[1]?.query.getAll('scope'), ['repository:team/app:pull,push']);
  });

  t.test('identity token: OAuth2 POST, and GET fallback on 404', async (t) => {
    for (const oauthPost of [true, false]) {
      const srv = await startBearerRegistry({ oauthPost });
      t.teardown(() => srv.stop());
      const file = path.join(dir, `id-${oauthPost}.json`);
      await writeAuthFile(file, srv.host, { identityToken: 'refresh-xyz' });
      const c = new RegistryClient({ authFile: file });
      t.teardown(() => c.close());
      t.same(await c.repository(srv.host, 'team/app').tags(), ['one', 'two']);
      t.equal(srv.calls[0]?.method, 'POST');
      t.equal(srv.calls[0]?.form?.get('grant_type'), 'refresh_token');
      t.equal(srv.calls[0]?.form?.get('refresh_token'), 'refresh-xyz');
      t.equal(srv.calls[0]?.form?.get('service'), 'test.svc');
      if (!oauthPost) t.equal(srv.calls[1]?.method, 'GET', 'fell back to GET');
    }
  });

  t.test('redirect to another host: followed without Authorization', async (t) => {
    const srv = await startBearerRegistry();
    t.teardown(() => srv.stop());
    const c = new RegistryClient({ env: emptyEnv(dir) });
    t.teardown(() => c.close());
    const got = await c.repository(srv.host, 'team/app').fetchBlobBytes(blob(Buffer.from('hello')), 100);
    t.equal(got.toString(), 'hello');
    const storage = srv.seen.find((s) => s.path === '/storage/blob');
    t.ok(storage, 'storage was asked');
    t.equal(storage?.authorization, undefined, 'no Authorization sent to the storage host');
  });
});
