// The real registry in `auth: token` mode, verifying JWTs from the test token server: anonymous pull,
// authenticated push, scopes as requested (mount asks for the source too), tokens reused per scope set.
import t from 'tap';
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
import { startTokenServer } from '../helpers/token-server.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer): Descriptor => ({ mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length });

t.test('token auth against the real registry', async (t) => {
  const tokens = await startTokenServer({ users: { bob: 'pw-bob' } });
  t.teardown(() => tokens.stop());
  const reg = await startRegistry({ authYaml: tokens.authYaml });
  t.teardown(() => reg.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-token-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'auth.json');
  await writeAuthFile(file, reg.host, { username: 'bob', password: 'pw-bob' });
  const data = randomBytes(50_000);

  t.test('anonymous push is refused with the login hint', async (t) => {
    const c = new RegistryClient({ env: { HOME: dir } });
    t.teardown(() => c.close());
    await t.rejects(c.repository(reg.host, 'tok/app').pushBlob(blob(data), () => Readable.from([data])), {
      code: 'ERR_UNAUTHORIZED',
      message: /oci-s2i login/,
    });
  });

  t.test('authenticated push, tokens reused, mount scope includes the source', async (t) => {
    const c = new RegistryClient({ authFile: file });
    t.teardown(() => c.close());
    const repo = c.repository(reg.host, 'tok/app');
    tokens.requests.length = 0;
    await repo.pushBlob(blob(data), () => Readable.from([data]));
    t.equal(await repo.blobExists(blob(data)), true);
    const pushReqs = tokens.requests.filter((r) => r.scopes.join() === 'repository:tok/app:pull,push');
    t.equal(pushReqs.length, 1, 'one token for all push requests');
    t.equal(pushReqs[0]?.user, 'bob');
    t.equal(pushReqs[0]?.service, tokens.service);
    const other = c.repository(reg.host, 'tok/other');
    t.equal(await other.mountBlob(blob(data), 'tok/app'), true);
    t.ok(tokens.requests.some((r) => r.scopes.includes('repository:tok/app:pull') && r.scopes.includes('repository:tok/other:pull,push')));
  });

  t.test('anonymous pull of what bob pushed', async (t) => {
    const c = new RegistryClient({ env: { HOME: dir } });
    t.teardown(() => c.close());
    t.same(await c.repository(reg.host, 'tok/app').fetchBlobBytes(blob(data), 1 << 20), data);
  });
});
