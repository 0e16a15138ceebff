// Upload-ahead is a capability of the destination, not a reach into the registry client: `prepareWrite` asks a
// registry destination for its protocol probe and upload sessions (the build calls it while assemble runs), does
// nothing for files, and the destination says which blobs are small enough to upload without looking first.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
  prepareWrite(where, client, { uploads: 2 });
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
  // Not a registry name: nothing happens, nothing throws (the write itself reports it).
  const good = parseImageLocation('example.com/x:1');
  if (good.transport !== 'docker') throw new Error('a registry location');
  t.doesNotThrow(() => prepareWrite({ ...good, ref: { ...good.ref, registry: 'not a host!' } }, client, { uploads: 2 }));
});

t.test('files: nothing to warm up, nothing written; no small-upload rule', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-prepare-write-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = new RegistryClient();
  t.teardown(() => client.close());
  for (const l of [`oci:${dir}/layout:t`, `oci-archive:${dir}/a.tar:t`, `docker-archive:${dir}/d.tar:a:1`]) {
    prepareWrite(parseImageLocation(l), client, { uploads: 2 });
  }
  t.notOk(existsSync(path.join(dir, 'layout')) || existsSync(path.join(dir, 'a.tar')) || existsSync(path.join(dir, 'd.tar')), 'no destination opened');
  const dst = await openDestination(`oci:${dir}/layout:t`);
  t.equal(dst.smallUploadMax, undefined);
  await dst.close();
});
