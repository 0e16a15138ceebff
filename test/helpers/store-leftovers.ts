// What a finished command must not leave in the store (src/store/): lock files (`locks/`), leases of its pid
// (`leases/`), build dirs (`builds/`), temp files and unpack dirs (`tmp/`, `layers/tmp/`). Looked for by name a
// few levels down, never inside content dirs (`sha256/`, `by-blob/`, `blobs/`: an image's own /tmp lives there);
// and archives unpacked into the store to be read (`oci-s2i-*-archive-*`).
import fs from 'node:fs/promises';
import path from 'node:path';

const transient = new Set(['locks', 'leases', 'builds', 'tmp']);
const content = new Set(['sha256', 'sha512', 'by-blob', 'blobs', 'meta']);

/** Paths (relative to `root`) of what a command left behind; [] when the store is clean or absent. */
export async function storeLeftovers(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names.sort()) {
      const p = path.join(dir, n);
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      if (depth === 0 && n.startsWith('oci-s2i-')) {
        out.push(n); // an archive unpacked into the store to be read (transport/*-archive.ts)
      } else if (transient.has(n)) {
        for (const e of (await fs.readdir(p)).sort()) out.push(path.relative(root, path.join(p, e)));
      } else if (!content.has(n) && depth < 3) {
        await walk(p, depth + 1);
      }
    }
  };
  await walk(root, 0);
  return out;
}
