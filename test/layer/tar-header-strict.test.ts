// Issue 16, finding 4: tar headers are checked strictly before tar-stream trusts them. A negative size (base-256
// or PAX size=-1), a size that is not octal and a size past 2^53 used to make the applier wait forever for the
// entry's data (the event loop emptied and `build`/`pull` exited 0 having done nothing); now each is a one-line
// ERR_LAYER_CORRUPT naming the layer and the entry. The same check guards the archive transports and
// save-artifacts. Real writers' output (GNU tar in every format, tar-stream, our own writer) is still accepted.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { applyLayer } from '../../src/layer/apply.js';
import { parseNumericField, parsePaxRecords, checkPaxValues, TarHeaderCheck, TarHeaderError } from '../../src/layer/tar-header-check.js';
import { writeLayer } from '../../src/layer/write.js';
import { extractArchive } from '../../src/transport/tar-archive.js';
import { extractArtifacts } from '../../src/pipeline/artifacts.js';
import { makeSandbox, makeTar } from './apply-helpers.js';
import { base256Field, hostileSizeTars, octalField, paxEntry, rawEntry, rawTar } from './tar-craft.js';
import { withExitCode } from '../helpers/exit-code.js';

const layerDigest = `sha256:${'cd'.repeat(32)}`;

/** Fails instead of hanging: before the fix these promises never settled. */
function within<T>(p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms (the extractor hangs)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A stream that hands out `buf` in pieces of `n` bytes (headers straddle chunks). */
function chunked(buf: Buffer, n: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += n) parts.push(buf.subarray(i, i + n));
  return Readable.from(parts);
}

t.test('numeric fields', async (t) => {
  const f = (s: string | Buffer, width = 12): Buffer => Buffer.concat([Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'), Buffer.alloc(width)]).subarray(0, width);
  const accepted: Array<[string, Buffer, number, boolean?]> = [
    ['GNU/Go: zero-padded, NUL-terminated', f('00000000012\0'), 10],
    ['tar-stream: digits then a space', f('0000000012 \0'), 10],
    ['old tar: leading spaces', f('         12 '), 10],
    ['leading NULs', f('\x00\x00\x00\x00\x00\x00\x00\x00\x0012'), 10],
    ['all NUL', Buffer.alloc(12), 0],
    ['all spaces', f('            '), 0],
    ['base-256 positive', base256Field(8n * 1024n ** 3n, 12), 8 * 1024 ** 3],
    ['base-256 2^53-1', base256Field(BigInt(Number.MAX_SAFE_INTEGER), 12), Number.MAX_SAFE_INTEGER],
    ['base-256 negative mtime', base256Field(-86_400n, 12), -86_400, true],
  ];
  for (const [name, b, want, signed] of accepted) t.equal(parseNumericField(b, signed ?? false), want, name);
  const refused: Array<[string, Buffer, RegExp, boolean?]> = [
    ['negative base-256', base256Field(-5n, 12), /negative/],
    ['base-256 past 2^53', base256Field(1n << 80n, 12), /2\^53/],
    ['base-256 2^53', base256Field(1n << 53n, 12), /2\^53/],
    ['unknown base-256 sign byte', f(Buffer.from([0x81, 0, 0, 1])), /sign byte/],
    ['octal with a trailing letter', f('0000000012x\0'), /not octal/],
    ['not a number', f('zzzzzzzzzzz\0'), /not octal/],
    ['8 and 9 are not octal', f('00000000019\0'), /not octal/],
    ['a minus sign', f('-0000000001\0'), /not octal/],
    ['digits after a NUL', f('12\x00345'), /not octal/],
    ['digits after a space', f('1 2'), /not octal/],
    ['a NUL then a space before the digits (tar-stream reads 0, Go 10)', f('\0 12'), /not octal/],
  ];
  for (const [name, b, why, signed] of refused) t.match(parseNumericField(b, signed ?? false), why, name);
});

t.test('PAX records', async (t) => {
  t.same(parsePaxRecords(Buffer.from('11 size=12\n16 path=a/b/c.d\n')), new Map([['size', '12'], ['path', 'a/b/c.d']]));
  t.match(parsePaxRecords(Buffer.from('12 size=12\n')), /does not fit|newline/, 'length one too long');
  t.match(parsePaxRecords(Buffer.from('10 size=12\n')), /newline/, 'length one too short');
  t.match(parsePaxRecords(Buffer.from('x size=1\n')), /not decimal/);
  t.match(parsePaxRecords(Buffer.from('9 size1\n\n')), /key=/);
  t.equal(checkPaxValues(new Map([['size', '0'], ['mtime', '-1.5'], ['uid', '4294967296']]), false), undefined);
  t.match(checkPaxValues(new Map([['size', '-1']]), false), /size="-1"/);
  t.match(checkPaxValues(new Map([['size', '1e3']]), false), /non-negative decimal/);
  t.match(checkPaxValues(new Map([['size', '']]), false), /non-negative decimal/);
  t.match(checkPaxValues(new Map([['uid', '-2']]), false), /uid/);
  t.match(checkPaxValues(new Map([['GNU.sparse.offset', '-512']]), false), /GNU\.sparse\.offset/);
  t.match(checkPaxValues(new Map([['GNU.sparse.map', '0,512,-1,5']]), false), /sparse\.map/);
  t.match(checkPaxValues(new Map([['mtime', 'yesterday']]), false), /mtime/);
  t.match(checkPaxValues(new Map([['size', '12']]), true), /size/, 'a size in a global header');
});

t.test('hostile sizes are refused by the applier, naming layer and entry (they used to hang)', async (t) => {
  for (const c of hostileSizeTars()) {
    await t.test(c.name, async (tt) => {
      const sb = await makeSandbox(tt);
      const before = await sb.snapshot();
      const err = await within(applyLayer(Readable.from([c.tar]), sb.root, { layerDigest }).then(() => undefined, (e: unknown) => e));
      tt.ok(err, 'refused');
      tt.match(err, { code: 'ERR_LAYER_CORRUPT' });
      tt.match((err as Error).message, layerDigest, 'names the layer');
      tt.match((err as Error).message, c.entry, 'names the entry');
      tt.notMatch((err as Error).message, /\n/, 'one line');
      tt.equal(await sb.snapshot(), before, 'nothing outside root changed');
    });
  }
});

t.test('other header rules', async (t) => {
  const cases: Array<{ name: string; entry: string; why: RegExp; tar: Buffer }> = [
    { name: 'a symlink with a size', entry: 'sl', why: /symbolic link with a size of 5/, tar: rawTar(rawEntry({ name: 'sl', type: '2', linkname: 'x', sizeField: octalField(5, 12) }), rawEntry({ name: 'y', data: 'hello' })) },
    { name: 'a hard link with a size', entry: 'hl', why: /hard link/, tar: rawTar(rawEntry({ name: 'a', data: 'a' }), rawEntry({ name: 'hl', type: '1', linkname: 'a', sizeField: octalField(512, 12) })) },
    { name: 'a negative uid', entry: 'u', why: /uid field that is negative/, tar: rawTar(rawEntry({ name: 'u', data: 'x', fields: { uid: base256Field(-1n, 8) } })) },
    { name: 'a mode that is not octal', entry: 'm', why: /mode field that is not octal/, tar: rawTar(rawEntry({ name: 'm', data: 'x', fields: { mode: Buffer.from('0000999\0') } })) },
    { name: 'PAX uid=-1', entry: 'pu', why: /uid="-1"/, tar: rawTar(paxEntry([['uid', '-1']]), rawEntry({ name: 'pu', data: 'x' })) },
    { name: 'PAX path names the entry', entry: 'from-pax', why: /size=/, tar: rawTar(paxEntry([['path', 'from-pax'], ['size', '-1']]), rawEntry({ name: 'ustar-name', data: 'x' })) },
    { name: 'a malformed PAX record', entry: 'bad-pax', why: /PAX record/, tar: rawTar(rawEntry({ name: 'PaxHeader', type: 'x', data: '99 size=1\n' }), rawEntry({ name: 'bad-pax', data: 'x' })) },
    { name: 'a global PAX size', entry: 'g', why: /global PAX header that has a size/, tar: rawTar(paxEntry([['size', '1']], 'g'), rawEntry({ name: 'g', data: 'x' })) },
    { name: 'a PAX header over 1 MiB', entry: 'PaxHeader', why: /over the 1048576-byte limit/, tar: rawTar(rawEntry({ name: 'PaxHeader', type: 'x', sizeField: octalField(2 << 20, 12) })) },
    { name: 'a GNU sparse header with a negative offset', entry: 'sp', why: /sparse offset/, tar: (() => {
      const h = rawEntry({ name: 'sp', type: 'S', data: 'x' });
      base256Field(-1n, 12).copy(h, 386);
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += h[i]!;
      h.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1');
      return rawTar(h);
    })() },
  ];
  for (const c of cases) {
    const sb = await makeSandbox(t);
    const err = await within(applyLayer(Readable.from([c.tar]), sb.root, { layerDigest }).then(() => undefined, (e: unknown) => e));
    t.match(err, { code: 'ERR_LAYER_CORRUPT' }, c.name);
    t.match((err as Error | undefined)?.message, c.why, `${c.name}: why`);
    t.match((err as Error | undefined)?.message, c.entry, `${c.name}: entry`);
  }
});

t.test('accepted: real writers, any chunking', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tar-strict-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  await fs.mkdir(path.join(src, 'd'.repeat(120)), { recursive: true });
  await fs.writeFile(path.join(src, long), 'long name\n');
  await fs.writeFile(path.join(src, 'big'), Buffer.alloc(70_000, 7));
  await fs.symlink('big', path.join(src, 'link'));
  await fs.link(path.join(src, 'big'), path.join(src, 'hard'));
  // Past ustar's 2^21: base-256 (gnu) or PAX (posix). In a user namespace that maps one ID chown fails: the
  // rootless twins (hostile-userns, hostile-user) run without that case.
  const bigOwner = await fs.chown(path.join(src, 'big'), 3_000_000, 3_000_000).then(() => true, () => false);
  const sparse = path.join(src, 'sparse');
  await fs.writeFile(sparse, 'start');
  const fh = await fs.open(sparse, 'r+');
  await fh.write('end', 1 << 20, 'latin1');
  await fh.close();
  const tars: Array<[string, Buffer]> = [];
  // ustar holds neither the long name, the big uid nor sparse files; oldgnu has no PAX.
  const gnuTar = (format: string, ...names: string[]): Buffer => execFileSync('tar', ['-C', src, '-c', `--format=${format}`, ...names], { maxBuffer: 1 << 26 });
  tars.push(['GNU tar --format=gnu --sparse', gnuTar('gnu', '--sparse', '.')]);
  tars.push(['GNU tar --format=posix --sparse', gnuTar('posix', '--sparse', '.')]);
  tars.push(['GNU tar --format=oldgnu --sparse', gnuTar('oldgnu', '--sparse', 'big', 'link', 'hard', 'sparse', long)]);
  if (bigOwner) await fs.chown(path.join(src, 'big'), 0, 0);
  tars.push(['GNU tar --format=ustar', gnuTar('ustar', 'big', 'link', 'hard', 'sparse')]);
  tars.push(['tar-stream', await makeTar([{ name: 'a', data: 'x', uid: 2_000_000 }, { name: long, data: 'y', pax: { 'SCHILY.xattr.user.k': 'v' } }])]);
  const ours = path.join(dir, 'ours.tar');
  await writeLayer(src, (await import('node:fs')).createWriteStream(ours), { compression: 'none' });
  tars.push(['our writer', await fs.readFile(ours)]);
  for (const [name, tar] of tars) {
    for (const n of [tar.length, 4096, 511, 1]) {
      if (n === 1 && tar.length > 300_000) continue;
      const sb = await makeSandbox(t);
      const r = await within(applyLayer(chunked(tar, n), sb.root, { layerDigest }).then((x) => x, (e: unknown) => e as Error));
      t.notOk(r instanceof Error, `${name}, chunks of ${n}: ${(r as Error).message ?? 'applied'}`);
    }
  }
});

t.test('oci-archive / docker-archive reader: refused with ERR_ARCHIVE_INVALID', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tar-strict-archive-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  for (const c of hostileSizeTars()) {
    const file = path.join(dir, `${c.entry}.tar`);
    await fs.writeFile(file, c.tar);
    const out = await fs.mkdtemp(path.join(dir, 'x-'));
    const err = await within(extractArchive(file, out).then(() => undefined, (e: unknown) => e));
    t.match(err, { code: 'ERR_ARCHIVE_INVALID' }, c.name);
    t.match((err as Error | undefined)?.message, c.entry, `${c.name}: names the entry`);
  }
});

t.test('save-artifacts reader: refused with ERR_ARTIFACTS_CORRUPT (exit 3)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tar-strict-artifacts-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  for (const c of hostileSizeTars()) {
    const out = await fs.mkdtemp(path.join(dir, 'x-'));
    const err = await within(extractArtifacts(Readable.from([c.tar]), out).then(() => undefined, (e: unknown) => e));
    t.match(withExitCode(err), { code: 'ERR_ARTIFACTS_CORRUPT', exitCode: 3 }, c.name);
    t.match((err as Error | undefined)?.message, c.entry, `${c.name}: names the entry`);
  }
});

t.test('the check stream alone: fails before passing the bad header on', async (t) => {
  const c = hostileSizeTars()[0]!;
  const check = new TarHeaderCheck();
  const passed: Buffer[] = [];
  check.on('data', (b: Buffer) => passed.push(b));
  const err = await new Promise<unknown>((resolve) => {
    check.on('error', resolve);
    check.on('end', () => resolve(undefined));
    chunked(c.tar, 512).pipe(check);
  });
  t.ok(err instanceof TarHeaderError);
  t.equal((err as TarHeaderError).entry, c.entry);
  t.equal(Buffer.concat(passed).length, 1024, 'only the good entry before it was passed on');
});
