import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, writeFile, rm, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { tmpDir } from './tmp-dir.js';
import path from 'node:path';
import { parseScriptsUrl, resolveScripts, fetchHttpScript, materializeScripts, scriptPathInImage, maxScriptBytes, type ScriptName } from '../../src/s2i/scripts.js';
import { exitOf, exitOfSync } from '../helpers/exit-code.js';

t.test('parseScriptsUrl: good', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['image:///usr/libexec/s2i', 'image', '/usr/libexec/s2i'],
    ['image:///usr/libexec/s2i/', 'image', '/usr/libexec/s2i'],
    ['IMAGE:///a//b', 'image', '/a/b'],
    ['file:///abs/dir', 'file', '/abs/dir'],
    ['file://rel/dir', 'file', '/base/rel/dir'],
    ['file://./x', 'file', '/base/x'],
    ['http://127.0.0.1:8080/scripts/', 'http', 'http://127.0.0.1:8080/scripts'],
    ['https://example.com/s', 'http', 'https://example.com/s'],
  ];
  for (const [url, kind, location] of cases) t.same(parseScriptsUrl(url, '/base'), { kind, location }, url);
});

t.test('parseScriptsUrl: bad schemes exit 12', async (t) => {
  for (const url of ['ftp://h/x', '/usr/libexec/s2i', 'usr/libexec', 'image://relative/path', 'file://', 'http://', 'git://h/x', 's3://b/k']) {
    t.throws(exitOfSync(() => parseScriptsUrl(url, '/base')), { code: 'ERR_SCRIPTS_URL_SCHEME', exitCode: 12 }, url);
  }
});

async function script(dir: string, name: string, body = '#!/bin/sh\n'): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, name), body, { mode: 0o755 });
}

t.test('precedence matrix: flag > .s2i/bin > label > deprecated label > env, per script', async (t) => {
  const dir = await tmpDir(t);
  const src = path.join(dir, 'src');
  const flagDir = path.join(dir, 'flag');
  // flag has only assemble; source has assemble+run; labels point into the image.
  await script(flagDir, 'assemble');
  await script(path.join(src, '.s2i', 'bin'), 'assemble');
  await script(path.join(src, '.s2i', 'bin'), 'run');
  const inImage = new Set(['/lbl/save-artifacts', '/lbl/run', '/dep/usage', '/env/assemble-runtime', '/env/usage']);
  const probeImage = async (p: string): Promise<boolean> => inImage.has(p);
  const all: ScriptName[] = ['assemble', 'run', 'save-artifacts', 'usage', 'assemble-runtime'];
  const m = await resolveScripts({
    scriptsUrl: `file://${flagDir}`,
    sourceDir: src,
    imageLabels: { 'io.openshift.s2i.scripts-url': 'image:///lbl', 'io.s2i.scripts-url': 'image:///dep' },
    imageEnv: ['PATH=/bin', 'STI_SCRIPTS_URL=image:///env'],
    needed: ['assemble', 'run'],
    optional: all,
    probeImage,
  });
  t.same(m.get('assemble'), { kind: 'file', hostPath: path.join(flagDir, 'assemble') }, 'flag wins');
  t.same(m.get('run'), { kind: 'file', hostPath: path.join(src, '.s2i', 'bin', 'run') }, '.s2i/bin beats label');
  t.same(m.get('save-artifacts'), { kind: 'image', path: '/lbl/save-artifacts' }, 'label');
  t.same(m.get('usage'), { kind: 'image', path: '/dep/usage' }, 'deprecated label beats env');
  t.same(m.get('assemble-runtime'), { kind: 'image', path: '/env/assemble-runtime' }, 'env last');
});

t.test('.s2i/bin overrides an image:// label; without probeImage image scripts are assumed present', async (t) => {
  const dir = await tmpDir(t);
  await script(path.join(dir, '.s2i', 'bin'), 'assemble');
  const m = await resolveScripts({
    sourceDir: dir,
    imageLabels: { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i' },
    imageEnv: [],
    needed: ['assemble', 'run'],
    optional: ['save-artifacts'],
  });
  t.same(m.get('assemble'), { kind: 'file', hostPath: path.join(dir, '.s2i', 'bin', 'assemble') });
  t.same(m.get('run'), { kind: 'image', path: '/usr/libexec/s2i/run' });
  t.same(m.get('save-artifacts'), { kind: 'image', path: '/usr/libexec/s2i/save-artifacts' });
  t.equal(scriptPathInImage('run', m.get('run')!, '/tmp'), '/usr/libexec/s2i/run');
  t.equal(scriptPathInImage('assemble', m.get('assemble')!, '/opt/d'), '/opt/d/scripts/assemble');
});

t.test('a .s2i/bin entry that is a directory is not a script', async (t) => {
  const dir = await tmpDir(t);
  await mkdir(path.join(dir, '.s2i', 'bin', 'assemble'), { recursive: true });
  const m = await resolveScripts({ sourceDir: dir, imageLabels: { 'io.openshift.s2i.scripts-url': 'image:///s' }, imageEnv: [], needed: ['assemble'], optional: [] });
  t.same(m.get('assemble'), { kind: 'image', path: '/s/assemble' });
});

t.test('missing required script: exit 11 naming the script and every place', async (t) => {
  const dir = await tmpDir(t);
  await t.rejects(
    exitOf(resolveScripts({
      scriptsUrl: 'image:///flag',
      sourceDir: dir,
      imageLabels: { 'io.openshift.s2i.scripts-url': 'image:///lbl' },
      imageEnv: ['STI_SCRIPTS_URL=image:///env'],
      needed: ['assemble', 'run'],
      optional: [],
      probeImage: async (p) => p.endsWith('/assemble'),
    })),
    { code: 'ERR_SCRIPT_MISSING', exitCode: 11, message: /"run".*--scripts-url image:\/\/\/flag.*\.s2i\/bin.*io\.openshift\.s2i\.scripts-url=image:\/\/\/lbl.*STI_SCRIPTS_URL=image:\/\/\/env/ },
  );
  await t.rejects(resolveScripts({ sourceDir: dir, imageLabels: {}, imageEnv: [], needed: ['assemble'], optional: [] }), { code: 'ERR_SCRIPT_MISSING' });
  // optional scripts that are nowhere are just absent
  const m = await resolveScripts({ sourceDir: dir, imageLabels: {}, imageEnv: [], needed: [], optional: ['save-artifacts'] });
  t.equal(m.size, 0);
});

t.test('a bad scheme in a label fails with exit 12 even if unused', async (t) => {
  const dir = await tmpDir(t);
  await t.rejects(exitOf(resolveScripts({ sourceDir: dir, imageLabels: { 'io.openshift.s2i.scripts-url': 'ftp://x/y' }, imageEnv: [], needed: ['assemble'], optional: [] })), {
    code: 'ERR_SCRIPTS_URL_SCHEME',
    exitCode: 12,
  });
});

t.test('an image may not name files of the build host: file:// (and image:// with ..) from a label or the env is exit 12', async (t) => {
  const dir = await tmpDir(t);
  const hostDir = await tmpDir(t);
  await writeFile(path.join(hostDir, 'assemble'), '#!/bin/sh\n', { mode: 0o755 });
  const cases: Array<{ labels?: Record<string, string>; env?: string[]; msg: RegExp }> = [
    { labels: { 'io.openshift.s2i.scripts-url': `file://${hostDir}` }, msg: /label io.openshift.s2i.scripts-url .*file:\/\// },
    { labels: { 'io.s2i.scripts-url': `file://${hostDir}` }, msg: /label io.s2i.scripts-url/ },
    { env: [`STI_SCRIPTS_URL=file://${hostDir}`], msg: /STI_SCRIPTS_URL/ },
    { labels: { 'io.openshift.s2i.scripts-url': 'image:///usr/../../etc' }, msg: /contains "\.\."/ },
  ];
  for (const c of cases) {
    await t.rejects(exitOf(resolveScripts({ sourceDir: dir, imageLabels: c.labels ?? {}, imageEnv: c.env ?? [], needed: ['assemble'], optional: [] })), {
      code: 'ERR_SCRIPTS_URL_SCHEME',
      exitCode: 12,
      message: c.msg,
    });
  }
  // The same directory given by the user with --scripts-url is fine.
  const ok = await resolveScripts({ scriptsUrl: `file://${hostDir}`, sourceDir: dir, imageLabels: {}, imageEnv: [], needed: ['assemble'], optional: [] });
  t.equal(ok.get('assemble')?.kind, 'file');
});

t.test('http:// scripts from a real loopback server', async (t) => {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    const u = req.url!;
    if (u === '/ok/assemble') return void res.writeHead(200).end('#!/bin/sh\necho assemble\n');
    if (u === '/ok/run') return void res.writeHead(201).end('#!/bin/sh\necho run\n');
    if (u === '/err/assemble') return void res.writeHead(500).end('boom');
    if (u === '/big/assemble') {
      res.writeHead(200);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      let n = 0;
      const more = (): void => {
        while (n < 12) {
          n++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    if (u === '/redir/run') return void res.writeHead(302, { location: '/ok/run' }).end();
    res.writeHead(404).end('nope');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await tmpDir(t);

  t.test('200 and 201 accepted, 404 means absent', async (t) => {
    const m = await resolveScripts({ scriptsUrl: `${base}/ok`, sourceDir: dir, imageLabels: {}, imageEnv: [], needed: ['assemble', 'run'], optional: ['save-artifacts'] });
    const a = m.get('assemble');
    t.equal(a?.kind, 'http');
    t.equal(a?.kind === 'http' && a.data?.toString(), '#!/bin/sh\necho assemble\n');
    t.equal(m.get('run')?.kind === 'http' && (m.get('run') as { url: string }).url, `${base}/ok/run`);
    t.notOk(m.has('save-artifacts'), '404 → optional script absent');
    const out = path.join(dir, 'upload-scripts');
    t.same(await materializeScripts(m, out), ['assemble', 'run']);
    t.equal(await readFile(path.join(out, 'run'), 'utf8'), '#!/bin/sh\necho run\n');
    t.equal((await stat(path.join(out, 'run'))).mode & 0o777, 0o755);
  });

  t.test('404 on a label URL falls through to the next place', async (t) => {
    const m = await resolveScripts({
      sourceDir: dir,
      imageLabels: { 'io.openshift.s2i.scripts-url': `${base}/missing`, 'io.s2i.scripts-url': 'image:///fallback' },
      imageEnv: [],
      needed: ['assemble'],
      optional: [],
    });
    t.same(m.get('assemble'), { kind: 'image', path: '/fallback/assemble' });
  });

  t.test('404 everywhere for a required script: exit 11', async (t) => {
    await t.rejects(exitOf(resolveScripts({ scriptsUrl: `${base}/missing`, sourceDir: dir, imageLabels: {}, imageEnv: [], needed: ['assemble'], optional: [] })), {
      code: 'ERR_SCRIPT_MISSING',
      exitCode: 11,
    });
  });

  t.test('500 is a download error, exit 8', async (t) => {
    await t.rejects(exitOf(resolveScripts({ scriptsUrl: `${base}/err`, sourceDir: dir, imageLabels: {}, imageEnv: [], needed: ['assemble'], optional: [] })), {
      code: 'ERR_SCRIPT_DOWNLOAD',
      exitCode: 8,
      message: /HTTP 500/,
    });
  });

  t.test('oversized script refused, exit 8', async (t) => {
    await t.rejects(exitOf(fetchHttpScript(`${base}/big/assemble`)), { code: 'ERR_SCRIPT_DOWNLOAD', exitCode: 8, message: new RegExp(String(maxScriptBytes)) });
  });

  t.test('redirects are followed', async (t) => {
    t.equal((await fetchHttpScript(`${base}/redir/run`))?.toString(), '#!/bin/sh\necho run\n');
  });

  t.test('connection refused is exit 8', async (t) => {
    const s2 = http.createServer();
    await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
    const port = (s2.address() as AddressInfo).port;
    await new Promise<void>((r) => s2.close(() => r()));
    await t.rejects(exitOf(fetchHttpScript(`http://127.0.0.1:${port}/x/assemble`)), { code: 'ERR_SCRIPT_DOWNLOAD', exitCode: 8 });
  });
});

t.test('fetchHttp injection and file:// relative URLs', async (t) => {
  const dir = await tmpDir(t);
  await script(path.join(dir, 'rel', 'scripts'), 'run');
  const seen: string[] = [];
  const m = await resolveScripts({
    scriptsUrl: 'file://rel/scripts',
    baseDir: dir,
    sourceDir: path.join(dir, 'nosrc'),
    imageLabels: { 'io.openshift.s2i.scripts-url': 'http://scripts.invalid/s' },
    imageEnv: [],
    needed: ['assemble', 'run'],
    optional: [],
    fetchHttp: async (u) => {
      seen.push(u);
      return Buffer.from('x');
    },
  });
  t.same(m.get('run'), { kind: 'file', hostPath: path.join(dir, 'rel', 'scripts', 'run') });
  t.same(seen, ['http://scripts.invalid/s/assemble']);
});
