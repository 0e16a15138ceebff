// Test helpers for layer application: build tars with tar-stream, sandboxes with a sentinel dir next to root.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import type { ApplyResult } from '../../src/layer/apply.js';
import { treeDigest, type TreeDigest } from '../../src/store/tree-digest.js';

export interface TarEntry {
  name: string;
  type?: tarStream.Headers['type'];
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      size: data?.length ?? 0,
      ...(e.pax ? { pax: e.pax } : {}),
    } as tarStream.Headers;
    await new Promise<void>((resolve, reject) => pack.entry(header, data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function tarStreamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export interface Sandbox {
  base: string;
  root: string;
  sentinel: string;
  /** A listing of everything under base except root, with types, modes and contents. */
  snapshot(): Promise<string>;
}

async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const names = (await fs.readdir(dir)).sort();
  for (const n of names) {
    const p = path.join(dir, n);
    const r = rel ? `${rel}/${n}` : n;
    const st = await fs.lstat(p);
    if (st.isDirectory()) {
      out.push(`${r}/ ${st.mode.toString(8)} ${st.mtimeMs}`);
      out.push(...(await walk(p, r)));
    } else if (st.isSymbolicLink()) out.push(`${r} -> ${await fs.readlink(p)}`);
    else if (st.isFile()) out.push(`${r} ${st.mode.toString(8)} ${st.mtimeMs} ${(await fs.readFile(p)).toString('hex')}`);
    else out.push(`${r} special ${st.mode.toString(8)} ${st.rdev}`);
  }
  return out;
}

export async function makeSandbox(t: { teardown(fn: () => Promise<void> | void): void }): Promise<Sandbox> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'apply-'));
  const root = path.join(base, 'root');
  const sentinel = path.join(base, 'sentinel');
  await fs.mkdir(root);
  await fs.mkdir(sentinel);
  await fs.writeFile(path.join(sentinel, 'file'), 'original');
  t.teardown(() => fs.rm(base, { recursive: true, force: true }));
  return {
    base,
    root,
    sentinel,
    async snapshot() {
      const top = (await fs.readdir(base)).sort().join(',');
      return `${top}\n${(await walk(sentinel)).join('\n')}`;
    },
  };
}

/**
 * The tree digest taken from the content hashes the applier recorded (as the layer cache does) and the one
 * recomputed from scratch (as `cache verify` does). They must be equal, and the first must have read no file.
 */
export async function recordedAndRecomputed(root: string, res: ApplyResult): Promise<{ recorded: TreeDigest; recomputed: TreeDigest }> {
  return { recorded: await treeDigest(root, { known: res.files }), recomputed: await treeDigest(root) };
}
