// Synthetic inputs the benchmarks create themselves under bench/.data (gitignored), once, then reuse:
// a tree of many small files (like a node_modules or site-packages) and a tree of a few large files (like a
// toolchain). Content is deterministic (seeded PRNG, plus the bytes of this machine's own binaries for
// realistic entropy), so two runs on the same machine compress the same bytes.
import { existsSync, mkdirSync, writeFileSync, readdirSync, openSync, readSync, closeSync, statSync, renameSync, rmSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench');
export const dataDir = path.join(benchDir, '.data');

const WORDS = ('the of and to in is for on that by with from this are be as at an or not it which can if will use ' +
  'function return const import export default class interface string number boolean value error module require ' +
  'usr lib share bin locale python3 site-packages LICENSE README index test spec json yaml config build dist src ' +
  'buffer stream promise async await new throw catch try else while for let var type null undefined true false').split(' ');

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // xorshift32: fast, deterministic, good enough to make text that compresses like text.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Text that gzips about 3-4x, like source code and docs. */
function text(rnd: () => number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  let col = 0;
  while (off < size) {
    const r = rnd();
    let w = WORDS[r % WORDS.length]!;
    if ((r >>> 8) % 7 === 0) w = (r >>> 4).toString(36);
    const sep = col > 60 + ((r >>> 20) % 30) ? '\n' : (r >>> 12) % 9 === 0 ? '(' : ' ';
    col = sep === '\n' ? 0 : col + w.length + 1;
    off += out.write(w + sep, off, 'latin1');
  }
  return out;
}

/** Bytes of this machine's binaries (ELF code and data compress about 2.5-3x), read from `offset`. */
function binary(size: number, offset: number): Buffer {
  const out = Buffer.alloc(size);
  const fd = openSync(process.execPath, 'r');
  try {
    const total = statSync(process.execPath).size;
    let got = 0;
    while (got < size) {
      const n = readSync(fd, out, got, Math.min(size - got, 8 << 20), (offset + got) % (total - (8 << 20)));
      if (n === 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const MTIME = new Date('2024-01-01T00:00:00Z');

function build(name: string, make: (dir: string) => void): string {
  const dir = path.join(dataDir, name);
  if (existsSync(path.join(dir, '.complete'))) return path.join(dir, 'tree');
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'tree'), { recursive: true });
  make(path.join(tmp, 'tree'));
  writeFileSync(path.join(tmp, '.complete'), '');
  renameSync(tmp, dir);
  return path.join(dir, 'tree');
}

export interface Tree {
  name: string;
  dir: string;
  files: number;
  bytes: number;
}

function describe(name: string, dir: string): Tree {
  let files = 0;
  let bytes = 0;
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  visit(dir);
  return { name, dir, files, bytes };
}

/** ~20,000 files of 0.1-34 KiB (median ~1.7 KiB) in a 3-level tree: about 115 MB. */
export function smallFilesTree(): Tree {
  const dir = build('small-files', (root) => {
    const rnd = prng(7);
    let n = 0;
    for (let a = 0; a < 20; a++) {
      for (let b = 0; b < 25; b++) {
        const d = path.join(root, `pkg-${a}`, `mod-${b}`);
        mkdirSync(d, { recursive: true });
        for (let c = 0; c < 40; c++, n++) {
          // Log-uniform sizes: many tiny files, a few of tens of KiB.
          const size = Math.floor(100 * Math.pow(2, (rnd() % 1000) / 1000 * 8.4));
          const body = n % 10 === 9 ? binary(size, (rnd() % 64) << 20) : text(rnd, size);
          const f = path.join(d, `file-${c}.${n % 10 === 9 ? 'so' : 'js'}`);
          writeFileSync(f, body);
          utimesSync(f, MTIME, MTIME);
        }
      }
    }
  });
  return describe('small-files', dir);
}

/** An application source: ~5,000 files of 0.1-16 KiB (JavaScript-like text), about 20 MB: an app with its
 *  node_modules, for the build and push benchmarks. */
export function appTree(): Tree {
  const dir = build('app', (root) => {
    const rnd = prng(13);
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 25; b++) {
        const d = path.join(root, 'node_modules', `pkg-${a}`, `mod-${b}`);
        mkdirSync(d, { recursive: true });
        for (let c = 0; c < 40; c++) {
          const size = Math.floor(100 * Math.pow(2, ((rnd() % 1000) / 1000) * 7.3));
          const f = path.join(d, `file-${c}.js`);
          writeFileSync(f, text(rnd, size));
          utimesSync(f, MTIME, MTIME);
        }
      }
    }
    writeFileSync(path.join(root, 'index.html'), '<h1>hello from the bench app</h1>\n');
  });
  return describe('app', dir);
}

/** 4 files of 48 MiB: three of machine code, one of text (logs, data): about 200 MB. */
export function largeFilesTree(): Tree {
  const dir = build('large-files', (root) => {
    const rnd = prng(11);
    for (let i = 0; i < 4; i++) {
      const size = 48 << 20;
      const body = i % 3 === 2 ? text(rnd, size) : binary(size, i * (16 << 20));
      const f = path.join(root, `large-${i}.${i % 3 === 2 ? 'txt' : 'bin'}`);
      writeFileSync(f, body);
      utimesSync(f, MTIME, MTIME);
    }
  });
  return describe('large-files', dir);
}
