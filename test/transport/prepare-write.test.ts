// Upload-ahead is a capability of the destination, not a reach into the registry client: `prepareWrite` asks a
// registry destination for its protocol probe and upload sessions (the build calls it at its start) and says
// whether the first session opened (a registry that refuses the push rejects it); for files it only checks the
// directory can be written, and opens nothing. The destination says which blobs are small enough to upload
// without looking first.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MediaType } from '../../src/oci/media-types.js';
import { RegistryClient, WHOLE_UPLOAD_MAX } from '../../src/registry/client.js';
import { openDestination } from '../../src/transport/open.js';
import { parseImageLocation } from '../../src/transport/parse.js';
import { prepareWrite } from '../../src/transport/write-image.js';
import { startRegistry } from '../helpers/registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';

t.test('a registry destination opens its upload sessions ahead; the next upload takes one', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const proxy = await startFaultProxy(reg.host);
  t.teardown(() => proxy.stop());
  const client = new RegistryClient();
  t.teardown(() => client.close());
  const where = parseImageLocation(`${proxy.host}/team/ahead:1`);
  await prepareWrite(where, client, { uploads: 2 });
  for (let i = 0; i < 300 && proxy.stats.count('POST') < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proxy.stats.count('POST'), 2, 'two upload sessions opened before the write');
  const dst = await openDestination(where, { client });
  t.equal(dst.smallUploadMax, WHOLE_UPLOAD_MAX, 'a registry uploads small blobs in one request');
  const data = randomBytes(3000);
  const desc = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length };
  await dst.pushBlob(desc, () => Readable.from([data]));
  t.equal(proxy.stats.count('POST'), 2, 'the upload took a session opened ahead');
  t.equal(proxy.stats.count('PUT'), 1, 'and went as one PUT');
  await dst.close();
  // Not a registry name: nothing throws; the promise says so (ignored, it is no unhandled rejection).
  const good = parseImageLocation('example.com/x:1');
  if (good.transport !== 'docker') throw new Error('a registry location');
  const bad = { ...good, ref: { ...good.ref, registry: 'not a host!' } };
  t.doesNotThrow(() => prepareWrite(bad, client, { uploads: 2 }));
  await t.rejects(prepareWrite(bad, client, { uploads: 2 }));
});

t.test('a registry that refuses the push: the promise rejects with the refusal, before any write', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: 'u', password: 'right-pw' } });
  t.teardown(() => reg.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-prepare-write-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const anon = new RegistryClient({ env: { HOME: dir, XDG_RUNTIME_DIR: dir } });
  t.teardown(() => anon.close());
  await t.rejects(prepareWrite(parseImageLocation(`${reg.host}/team/app:1`), anon, { uploads: 2 }), { code: 'ERR_UNAUTHORIZED' });
  const wrong = new RegistryClient({ credentials: { username: 'u', password: 'wrong-pw' } });
  t.teardown(() => wrong.close());
  const err = (await prepareWrite(parseImageLocation(`${reg.host}/team/app:1`), wrong, { uploads: 1 }).catch((e: unknown) => e)) as Error;
  t.match(err, { code: 'ERR_UNAUTHORIZED' });
  t.notMatch(err.message, 'wrong-pw');
  const right = new RegistryClient({ credentials: { username: 'u', password: 'right-pw' } });
  t.teardown(() => right.close());
  await prepareWrite(parseImageLocation(`${reg.host}/team/app:1`), right, { uploads: 1 });
});

t.test('files: the directory is checked, nothing written; no small-upload rule', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-prepare-write-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = new RegistryClient();
  t.teardown(() => client.close());
  for (const l of [`oci:${dir}/layout:t`, `oci-archive:${dir}/a.tar:t`, `docker-archive:${dir}/d.tar:a:1`, `oci:${dir}/new/deeper/layout`]) {
    await prepareWrite(parseImageLocation(l), client, { uploads: 2 });
  }
  writeFileSync(path.join(dir, 'a-file'), '');
  await t.rejects(prepareWrite(parseImageLocation(`oci:${dir}/a-file/layout:t`), client, { uploads: 2 }), {
    code: 'ERR_DESTINATION',
    message: `cannot write the OCI layout ${dir}/a-file/layout: ${dir}/a-file is not a directory; give a path in a directory you can write`,
  });
  await t.rejects(prepareWrite(parseImageLocation(`oci-archive:${dir}/a-file/x.tar`), client, { uploads: 2 }), { code: 'ERR_DESTINATION', message: /the archive/ });
  t.notOk(existsSync(path.join(dir, 'layout')) || existsSync(path.join(dir, 'a.tar')) || existsSync(path.join(dir, 'd.tar')) || existsSync(path.join(dir, 'new')), 'no destination opened');
  const dst = await openDestination(`oci:${dir}/layout:t`);
  t.equal(dst.smallUploadMax, undefined);
  await dst.close();
});
