// A blob stream given up before its first read (a layout that found the blob there meanwhile destroys it) must
// let go of its response: the client then closes at once. It did not: the stream's generator never started, so
// its `finally` never disposed of the body, undici kept the request open, and `close()` waited with nothing left
// to run (sync saw the CLI's stall guard fire, ERR_INTERNAL_STALL, about one run in eight).
import t from 'tap';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { startRegistry } from '../helpers/registry.js';

t.test('a blob stream destroyed before it is read: close() does not wait for it', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const client = new RegistryClient();
  const repo = client.repository(reg.host, 'abandon/blob');
  const bytes = Buffer.alloc(4 << 20, 7); // more than a socket buffer: the response cannot just be read off
  const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: bytes.length };
  await repo.pushBlob(desc, (o) => Readable.from([bytes.subarray(o)]));
  const streams = await Promise.all([1, 2, 3].map(() => repo.fetchBlob(desc)));
  for (const s of streams) s.destroy();
  const closed = await Promise.race([client.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000).unref())]);
  t.equal(closed, 'closed');
});
