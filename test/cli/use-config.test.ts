// `build --use-config`, s2i's switch (pkg/config/config.go): SOURCE, BUILDER, TAG and flags restored from
// ./.s2ifile in s2i's JSON, the command line winning, and the build's own written back there in that format.
// Files as s2i writes them are read (env-N, "[a,b]" lists, "SRC:DST,SRC:DST" injections); bad files are one line
// with ERR_USE_CONFIG (exit 64); secrets are never written.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildParams } from '../../src/cli/commands/build.js';
import { restoreS2iConfig, saveS2iConfig } from '../../src/cli/s2i-config.js';
import { exitCodeFor } from '../../src/cli/error-table.js';
import { runCli } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-use-config-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function dirWith(s2ifile: unknown, name = '.s2ifile'): string {
  const dir = path.join(tmp, `d${n++}`);
  mkdirSync(dir);
  if (s2ifile !== undefined) writeFileSync(path.join(dir, name), typeof s2ifile === 'string' ? s2ifile : JSON.stringify(s2ifile));
  return dir;
}

t.test("s2i's format: positionals and flags restored, the command line wins", async (t) => {
  const dir = dirWith({
    source: 'https://example.com/app.git',
    builderImage: 'example.com/builder:1',
    tag: 'example.com/app:1',
    flags: { 'use-config': 'true', incremental: 'true', 'env-1': 'B=2', 'env-0': 'A=1', 'scripts-url': 'file:///x', 'cap-drop': '[CHOWN,SETUID]', inject: '/s1:/d1,/s2:', loglevel: '3', url: 'unix:///var/run/docker.sock' },
  });
  const r = restoreS2iConfig(dir, { 'scripts-url': 'image:///y' }, [], buildParams);
  t.same(r.positionals, ['https://example.com/app.git', 'example.com/builder:1', 'example.com/app:1']);
  t.equal(r.values['scripts-url'], 'image:///y', 'command line wins');
  t.equal(r.values.incremental, true);
  t.same(r.values.env, ['A=1', 'B=2'], 'env-N in order');
  t.same(r.values['cap-drop'], ['CHOWN', 'SETUID'], "pflag's [a,b]");
  t.same(r.values.inject, ['/s1:/d1', '/s2:'], "s2i's VolumeList String()");
  t.match(r.warnings.join('\n'), /flag "loglevel" is not an oci-s2i build flag: ignored/);
  t.match(r.warnings.join('\n'), /flag "url" is not an oci-s2i build flag: ignored/);
  t.same(restoreS2iConfig(dir, { env: ['C=3'] }, ['src', 'b2'], buildParams).values.env, ['C=3'], '-e on the command line replaces the stored list');
  t.same(restoreS2iConfig(dir, {}, ['src', 'b2'], buildParams).positionals, ['src', 'b2', 'example.com/app:1'], 'SOURCE BUILDER given: the stored TAG kept');
  t.same(restoreS2iConfig(dir, {}, ['src', 'b2', 't2'], buildParams).positionals, ['src', 'b2', 't2']);
});

t.test('no file: nothing restored, one line; .stifile read with a warning', async (t) => {
  const none = restoreS2iConfig(dirWith(undefined), {}, ['s', 'b'], buildParams);
  t.same(none.positionals, ['s', 'b']);
  t.match(none.warnings[0], /no \.s2ifile in .*: nothing restored/);
  const old = restoreS2iConfig(dirWith({ source: 's', builderImage: 'b' }, '.stifile'), {}, [], buildParams);
  t.same(old.positionals, ['s', 'b']);
  t.match(old.warnings[0], /\.stifile is deprecated/);
});

t.test('the earlier shape (flag values by long name) is still read', async (t) => {
  const r = restoreS2iConfig(dirWith({ builder: 'b', tag: 't', incremental: true, env: ['A=1'] }), {}, ['src'], buildParams);
  t.same(r.positionals, ['src', 'b', 't']);
  t.equal(r.values.incremental, true);
  t.same(r.values.env, ['A=1']);
});

t.test('bad files: one line, ERR_USE_CONFIG, exit 64', async (t) => {
  for (const [body, re] of [
    ['{', /is not JSON/],
    ['[1]', /is not a JSON object/],
    [{ builderImage: 1 }, /"builderImage" that is not a string/],
    [{ flags: [] }, /"flags" that is not an object/],
    [{ builderImage: 'b', flags: { incremental: 'yes' } }, /a switch is "true" or "false"/],
    [{ builderImage: 'b', flags: { 'pull-policy': true } }, /not a string/],
    [{ builderImage: 'b' }, /names no source or builder image/],
    [{ nope: 1 }, /unknown flag "nope"/],
  ] as const) {
    const dir = dirWith(body);
    let err: unknown;
    try {
      restoreS2iConfig(dir, {}, [], buildParams);
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'ERR_USE_CONFIG', message: re }, JSON.stringify(body));
    t.notMatch((err as Error).message, /\n/, 'one line');
    t.equal(exitCodeFor(err), 64);
  }
});

t.test("saved in s2i's format; secrets never written", async (t) => {
  const dir = dirWith(undefined);
  t.equal(saveS2iConfig(dir, ['src', 'b', 't'], { incremental: true, env: ['A=1', 'B=x,y'], label: ['l=1'], creds: 'u:secret-pass', 'pull-policy': 'always', copy: false }, buildParams), undefined);
  const doc = JSON.parse(readFileSync(path.join(dir, '.s2ifile'), 'utf8'));
  t.same(doc, { source: 'src', builderImage: 'b', tag: 't', flags: { incremental: 'true', 'env-0': 'A=1', 'env-1': 'B=x,y', 'label-0': 'l=1', 'pull-policy': 'always', 'use-config': 'true' } });
  t.notMatch(readFileSync(path.join(dir, '.s2ifile'), 'utf8'), /secret-pass/);
  const back = restoreS2iConfig(dir, {}, [], buildParams);
  t.same(back.values, { incremental: true, env: ['A=1', 'B=x,y'], label: ['l=1'], 'pull-policy': 'always' }, 'read back as written');
  t.match(saveS2iConfig(path.join(tmp, 'missing-dir'), ['s', 'b'], {}, buildParams), /--use-config: cannot write .*ENOENT/);
});

t.test('the CLI: --use-config restores from ./.s2ifile and saves there (--as-dockerfile: no registry, no sandbox needed)', async (t) => {
  const src = path.join(tmp, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'index.html'), 'hi\n');
  const cwd = dirWith({ source: src, builderImage: 'oci:/nonexistent-layout:b', flags: { 'as-dockerfile': path.join(tmp, 'df') + '/', 'env-0': 'A=1' } });
  const r = await runCli(['build', '--use-config', '-e', 'B=2', '--scripts-url', 'image:///usr/libexec/s2i'], { cwd });
  // The builder layout does not exist: the build fails at its pull, after the flags were checked and saved.
  t.not(r.code, 0);
  const saved = JSON.parse(readFileSync(path.join(cwd, '.s2ifile'), 'utf8'));
  t.same(saved.source, src);
  t.same(saved.builderImage, 'oci:/nonexistent-layout:b');
  t.same(saved.flags['env-0'], 'B=2', 'the command line -e replaced the stored one');
  t.notOk('env-1' in saved.flags);
  t.equal(saved.flags['scripts-url'], 'image:///usr/libexec/s2i');
  t.equal(saved.flags['use-config'], 'true');
  writeFileSync(path.join(cwd, '.s2ifile'), '{"flags": {"incremental": "maybe"}}');
  const bad = await runCli(['build', '--use-config'], { cwd });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /^oci-s2i: --use-config: .*\.s2ifile has flag "incremental" = "maybe": a switch is "true" or "false"; fix or remove it/m);
  t.ok(existsSync(path.join(cwd, '.s2ifile')));
});
