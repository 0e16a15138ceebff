// The new (last) layer of a pushed image as a listing of its tar entries: what an in-image build and a sandbox
// build of the same source are compared by (test/pipeline/in-image.test.ts, and the Go builder in bench/build.ts).
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import type { RegistryClient } from '../../src/registry/client.js';

export interface Entry { name: string; type: string; mode: number; uid: number; gid: number; size: number; linkname?: string }

/** The last layer of `ref` (HOST/REPO:TAG, gzip), listed, and how many layers the image has. */
export async function lastLayer(client: RegistryClient, ref: string): Promise<{ layers: number; entries: Entry[] }> {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  const repo = client.repository(ref.slice(0, slash), ref.slice(slash + 1, colon));
  const m = JSON.parse((await repo.resolve(ref.slice(colon + 1))).bytes.toString('utf8')) as { layers: Array<{ digest: string; size: number; mediaType: string }> };
  const last = m.layers[m.layers.length - 1]!;
  const chunks: Buffer[] = [];
  for await (const c of await repo.fetchBlob(last)) chunks.push(c as Buffer);
  const entries: Entry[] = [];
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    entries.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0, ...(h.linkname ? { linkname: h.linkname } : {}) });
    stream.on('end', next);
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    Readable.from([zlib.gunzipSync(Buffer.concat(chunks))]).pipe(ex);
  });
  return { layers: m.layers.length, entries };
}

/** One line per entry: name, type, mode, owner, the size of a file (unless `sizes` is false), a link's target. */
export function showEntries(es: Entry[], sizes = true): string[] {
  // The sandbox's layer also has the directory its runtime's mount points (/etc/hosts, /etc/resolv.conf) were
  // made in and removed from again: `etc/` alone, which an in-image build has no reason to touch.
  return es
    .filter((e) => e.name !== 'etc/' || es.some((o) => o.name.startsWith('etc/') && o.name !== 'etc/'))
    .map((e) => `${e.name} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${sizes && e.type === 'file' ? e.size : ''}${e.linkname ? ` -> ${e.linkname}` : ''}`);
}
