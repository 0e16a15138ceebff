// `oci-s2i layer` through the real CLI: the blob it writes is read back by independent tools (gzip, zstd,
// GNU tar), its digests are checked with sha256 of the bytes, and every bad flag is a usage error (64).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot, runCli } from '../helpers/cli.js';
import { parseCommandArgs } from '../../src/cli/command.js';
import { layerCommand } from '../../src/cli/commands/layer.js';
import { exitOf } from '../helpers/exit-code.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-cli-layer-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const src = path.join(tmp, 'src');
fs.mkdirSync(path.join(src, 'app', 'lib'), { recursive: true });
fs.writeFileSync(path.join(src, 'app', 'main.js'), 'console.log("hello")\n'.repeat(500));
fs.writeFileSync(path.join(src, 'app', 'lib', 'big.bin'), Buffer.alloc(700_000, 'x'));
fs.symlinkSync('main.js', path.join(src, 'app', 'link'));
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Out {
  file: string;
  diffID: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  compression: string;
  backend?: string;
  level: number | null;
  entries: number;
  ms: number;
}
async function layer(args: string[]): Promise<{ out: Out; blob: Buffer }> {
  const r = await runCli(['layer', '--json', ...args]);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Out;
  return { out, blob: fs.readFileSync(out.file) };
}

t.test('gzip (each backend): a valid blob whose digests are what the CLI says', async (t) => {
  const diffIDs = new Set<string>();
  for (const backend of ['libdeflate', 'parallel', 'zlib', 'pako']) {
    const file = path.join(tmp, `l-${backend}.tar.gz`);
    const { out, blob } = await layer([src, '-o', file, '--backend', backend, '--level', '1']);
    t.equal(out.digest, sha(blob), `${backend}: digest is sha256 of the file`);
    t.equal(out.size, blob.length, `${backend}: size`);
    t.equal(out.backend, backend);
    t.equal(out.level, 1);
    const tar = execFileSync('gunzip', ['-c', file], { maxBuffer: 1 << 26 });
    t.equal(out.diffID, sha(tar), `${backend}: diffID is sha256 of the tar`);
    t.equal(out.uncompressedSize, tar.length);
    diffIDs.add(out.diffID);
    const names = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
    t.same(names, ['app/', 'app/lib/', 'app/lib/big.bin', 'app/link', 'app/main.js'], `${backend}: sorted entries, no root entry`);
    t.equal(out.entries, 5);
  }
  t.equal(diffIDs.size, 1, 'same tar whatever the backend');
});

t.test('zstd and none', async (t) => {
  const z = await layer([src, '-o', path.join(tmp, 'l.tar.zst'), '--compression', 'zstd']);
  t.equal(z.out.level, 3, 'zstd default level');
  t.equal(z.out.backend, undefined);
  t.equal(z.out.diffID, sha(execFileSync('zstd', ['-dc', z.out.file], { maxBuffer: 1 << 26 })));
  const n = await layer([src, '-o', path.join(tmp, 'l.tar'), '--compression', 'none']);
  t.equal(n.out.digest, n.out.diffID, 'uncompressed: digest = diffID');
  t.equal(n.out.diffID, z.out.diffID, 'same tar as zstd');
});

t.test('human output: digest on stdout, summary on stderr', async (t) => {
  const r = await runCli(['layer', src, '-o', path.join(tmp, 'h.tar.gz')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  t.match(r.stderr, /5 entries, tar \d+ bytes → gzip \d+ bytes/);
  t.match(r.stderr, /diffID sha256:[0-9a-f]{64}/);
});

t.test('--overlay turns a whiteout device into a .wh. entry; without it the device stays', { skip: process.getuid?.() !== 0 ? 'mknod needs root' : false }, async (t) => {
  const upper = path.join(tmp, 'upper');
  fs.mkdirSync(upper);
  execFileSync('mknod', [path.join(upper, 'gone'), 'c', '0', '0']);
  const o = await layer([upper, '-o', path.join(tmp, 'o.tar'), '--compression', 'none', '--overlay']);
  t.match(execFileSync('tar', ['-tvf', o.out.file], { encoding: 'utf8' }), /^-.* \.wh\.gone$/m);
  const p = await layer([upper, '-o', path.join(tmp, 'p.tar'), '--compression', 'none']);
  t.match(execFileSync('tar', ['-tvf', p.out.file], { encoding: 'utf8' }), /^c.* gone$/m);
});

t.test('--mtime-clamp caps mtimes', async (t) => {
  const o = await layer([src, '-o', path.join(tmp, 'c.tar'), '--compression', 'none', '--mtime-clamp', '1000']);
  const listing = execFileSync('tar', ['--full-time', '-tvf', o.out.file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  t.match(listing, /1970-01-01 00:16:40 app\/main\.js/);
});

t.test('bad input: usage errors (exit 64), a missing directory, an unwritable output', async (t) => {
  const out = path.join(tmp, 'bad.tar.gz');
  const cases: Array<[string[], RegExp]> = [
    [[src], /needs -o FILE/],
    [[src, '-o', out, '--compression', 'brotli'], /--compression must be one of gzip, zstd, none/],
    [[src, '-o', out, '--level', '10'], /--level must be an integer from 0 to 9/],
    [[src, '-o', out, '--compression', 'zstd', '--level', '0'], /--level must be an integer from 1 to 19/],
    [[src, '-o', out, '--level', 'six'], /--level must be an integer/],
    [[src, '-o', out, '--backend', 'igzip'], /--backend must be one of libdeflate, parallel, zlib, pako/],
    [[src, '-o', out, '--compression', 'zstd', '--backend', 'parallel'], /does not apply to --compression zstd/],
    [[src, '-o', out, '--compression', 'none', '--level', '1'], /--level does not apply/],
    [[src, '-o', out, '--mtime-clamp=-5'], /--mtime-clamp must be an integer/],
    [[src, src, '-o', out], /takes DIR, got 2/],
    [[], /takes DIR, got 0/],
    [[src, '-o', out, '--no-such-flag'], /unknown flag --no-such-flag for layer/],
  ];
  // In-process, through the same parser and run() the CLI uses (a process per case would be slow).
  for (const [args, msg] of cases) {
    await t.rejects(exitOf((async () => {
      const { positionals, values } = parseCommandArgs(layerCommand, args);
      await layerCommand.run({
        positionals, values, global: { quiet: true, json: false, debug: false, loglevel: 0 },
        signal: new AbortController().signal, stdout: process.stdout, stderr: process.stderr,
      });
    })()), { name: 'S2IError', code: 'ERR_USAGE', exitCode: 64, message: msg }, args.join(' '));
  }
  // And once through the real process: the exit status and the one-line message.
  const usage = await runCli(['layer', src, '--level', '10', '-o', out]);
  t.equal(usage.code, 64);
  t.match(usage.stderr, /^oci-s2i: --level must be an integer from 0 to 9, not "10"\n$/);

  const missing = await runCli(['layer', path.join(tmp, 'nope'), '-o', out]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /does not exist/);
  const file = await runCli(['layer', path.join(src, 'app', 'main.js'), '-o', out]);
  t.match(file.stderr, /is not a directory/);
  t.notOk(fs.existsSync(out), 'no blob and no temp file left behind');
  t.same(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp')), []);
  const unwritable = await runCli(['layer', src, '-o', path.join(tmp, 'no-such-dir', 'x.tar.gz')]);
  t.equal(unwritable.code, 1);
  t.match(unwritable.stderr, /could not write layer file/);
});

t.test('--backend libdeflate where the addon was not built: one line saying how to build it, nothing written', async (t) => {
  // An install of the CLI without build/deflate.node (libdeflate-dev was missing when it was built).
  const pkg = path.join(tmp, 'no-libdeflate');
  for (const p of ['bin', 'dist/src', 'package.json', 'build/native.node']) fs.cpSync(path.join(projectRoot, p), path.join(pkg, p), { recursive: true });
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(pkg, 'node_modules'));
  const out = path.join(tmp, 'nolib.tar.gz');
  const r = await runCli(['layer', src, '-o', out, '--backend', 'libdeflate'], { cli: path.join(pkg, 'bin', 'oci-s2i.js'), env: { OCI_S2I_NO_BUNDLE: '1' } });
  t.equal(r.code, 1);
  t.match(r.stderr, /^oci-s2i: .*the libdeflate gzip backend was not built \(build\/deflate\.node\); install libdeflate-dev and run `npm run build`, or use --backend parallel\n$/);
  t.notOk(fs.existsSync(out), 'no blob');
  t.same(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp')), [], 'no temp file');
  // The default backend there is the one that is built.
  const ok = await runCli(['layer', src, '-o', out, '--json'], { cli: path.join(pkg, 'bin', 'oci-s2i.js'), env: { OCI_S2I_NO_BUNDLE: '1' } });
  t.equal(ok.code, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as Out).backend, 'parallel');
});
