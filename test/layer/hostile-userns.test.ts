// The hostile suite again as root of a user namespace that maps only our own uid (the rootless case: chown to
// unmapped IDs fails with EINVAL, mknod of devices with EPERM): still nothing escapes, and the fallbacks warn once.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const canUnshare = await exec('unshare', ['--user', '--map-root-user', 'true']).then(() => true, () => false);
const skip = canUnshare ? false : 'unshare --user is not allowed here';

t.test('hostile suite inside a user namespace', { skip }, async (t) => {
  const r = await exec('unshare', ['--user', '--map-root-user', process.execPath, path.join(here, 'hostile.test.js')], { maxBuffer: 1 << 24 }).then(
    (x) => ({ code: 0, out: x.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
  t.equal(r.code, 0, 'every hostile case passes');
  t.notMatch(r.out, /^not ok/m);
  t.ok((r.out.match(/^ok \d+/gm) ?? []).length >= 25, 'at least 25 cases ran');
});

t.test('strict tar headers inside a user namespace (issue 16 finding 4)', { skip }, async (t) => {
  const r = await exec('unshare', ['--user', '--map-root-user', process.execPath, path.join(here, 'tar-header-strict.test.js')], { maxBuffer: 1 << 24 }).then(
    (x) => ({ code: 0, out: x.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
  t.equal(r.code, 0, 'every case passes');
  t.notMatch(r.out, /^\s*not ok/m);
  t.ok((r.out.match(/^ok \d+/gm) ?? []).length >= 7, 'every group ran');
});

t.test('unmapped owners and devices fall back with one warning each', { skip }, async (t) => {
  const applyUrl = pathToFileURL(path.join(here, '..', '..', 'src', 'layer', 'apply.js')).href;
  const helpersUrl = pathToFileURL(path.join(here, 'apply-helpers.js')).href;
  const script = `
    import fs from 'node:fs/promises'; import os from 'node:os'; import path from 'node:path';
    const { applyLayer } = await import(${JSON.stringify(applyUrl)});
    const { makeTar, tarStreamOf } = await import(${JSON.stringify(helpersUrl)});
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'userns-'));
    const tar = await makeTar([
      { name: 'a', data: 'x', uid: 1001, gid: 1001 }, { name: 'b', data: 'y', uid: 1002 },
      { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }, { name: 'sda', type: 'block-device', devmajor: 8 },
      { name: 'd/.wh.gone' },
    ]);
    const warnings = [];
    await applyLayer(tarStreamOf(tar), root, { layerDigest: 'sha256:' + 'e'.repeat(64), onWarning: (m) => warnings.push(m) });
    const wh = await fs.lstat(path.join(root, 'd/gone'));
    console.log(JSON.stringify({ warnings, whiteout: wh.isCharacterDevice(), a: await fs.readFile(path.join(root, 'a'), 'utf8') }));
    await fs.rm(root, { recursive: true, force: true });
  `;
  const { stdout } = await exec('unshare', ['--user', '--map-root-user', process.execPath, '--input-type=module', '-e', script]);
  const r = JSON.parse(stdout) as { warnings: string[]; whiteout: boolean; a: string };
  t.equal(r.a, 'x');
  t.ok(r.whiteout, 'whiteouts (char 0:0) are allowed without CAP_MKNOD');
  t.equal(r.warnings.length, 2, 'one warning per kind');
  t.match(r.warnings.join('\n'), /could not set the owner of 2 entries/);
  t.match(r.warnings.join('\n'), /skipped 2 device nodes .*null, sda/);
});
