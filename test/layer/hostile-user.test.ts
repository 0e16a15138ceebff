// The hostile suite as a real unprivileged user with a subordinate ID range, inside a user namespace mapped the way
// the engine maps it (0 = the user, 1.. = the range: `unshare -r --map-auto` uses newuidmap like the CLI does). Then
// ownership is real (uid 1001 in a layer is a subordinate uid on the host), and `oci-s2i cache verify|prune` run by
// that user verify and delete layers full of files owned by subordinate IDs (why `cache` runs in the namespace).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { canCreateUsers, cliFor, ensureUser, projectRootFor, userTempDir, type TestUser } from '../helpers/users.js';

const exec = promisify(execFile);
const skip = canCreateUsers() ? false : 'needs root to create the test user';

/** Runs `node args…` as `user` inside `unshare --user --map-root-user --map-auto`, cwd a dir the user owns. */
async function asUserInNamespace(user: TestUser, cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // `env -u`: tap's process hooks re-add NODE_OPTIONS to every spawn, and would write into the checkout as that user.
  return exec(
    'env',
    ['-u', 'NODE_OPTIONS', `HOME=${user.home}`, 'setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'unshare', '--user', '--map-root-user', '--map-auto', process.execPath, ...args],
    { cwd, maxBuffer: 1 << 24 },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function subUidStart(user: TestUser): Promise<number> {
  const line = (await fs.readFile('/etc/subuid', 'utf8')).split('\n').find((l) => l.startsWith(`${user.name}:`))!;
  return Number(line.split(':')[1]);
}

t.test('real unprivileged user with a subordinate range', { skip }, async (t) => {
  const user = ensureUser('ocis2i-hostile', { subIds: true });
  // The compiled tests and sources the user runs, from a place they can read (the checkout may be under /root).
  const project = projectRootFor(user);
  const work = userTempDir(user, 'hostile-user-');
  t.teardown(() => fs.rm(work, { recursive: true, force: true }));

  t.test('the namespace maps the subordinate range', async (t) => {
    const r = await asUserInNamespace(user, work, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/uid_map", "utf8"))']);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    t.same(lines[0], [0, user.uid, 1], 'container root is the user');
    t.same(lines[1]!.slice(0, 2), [1, await subUidStart(user)], 'container 1.. is the subordinate range');
  });

  t.test('every hostile case passes and nothing escapes', async (t) => {
    const r = await asUserInNamespace(user, work, [path.join(project, 'dist', 'test', 'layer', 'hostile.test.js')]);
    t.equal(r.code, 0, 'the suite passes');
    t.notMatch(r.stdout, /^not ok/m);
    t.ok((r.stdout.match(/^ok \d+/gm) ?? []).length >= 25, 'at least 25 cases ran');
  });

  t.test('strict tar headers as the user (issue 16 finding 4)', async (t) => {
    const r = await asUserInNamespace(user, work, [path.join(project, 'dist', 'test', 'layer', 'tar-header-strict.test.js')]);
    t.equal(r.code, 0, 'every case passes');
    t.notMatch(r.stdout, /^\s*not ok/m);
    t.ok((r.stdout.match(/^ok \d+/gm) ?? []).length >= 7, 'every group ran');
  });

  t.test('owners are real subordinate IDs; cache verify and prune work as the user', async (t) => {
    const root = path.join(work, 'store');
    const url = (p: string) => JSON.stringify(pathToFileURL(path.join(project, 'dist', p)).href);
    const script = `
      import { Readable } from 'node:stream';
      const { LayerCache } = await import(${url('src/store/layer-cache.js')});
      const { makeTar } = await import(${url('test/layer/apply-helpers.js')});
      const { createHash } = await import('node:crypto');
      const tar = await makeTar([
        { name: 'app/', type: 'directory', uid: 1001, gid: 1001 },
        { name: 'app/owned', data: 'x', uid: 1001, gid: 1001 },
        { name: 'app/suid', data: 'y', mode: 0o4755 },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
        { name: 'gone/.wh..wh..opq' },
        { name: '.wh.removed' },
      ]);
      const blob = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:' + createHash('sha256').update(tar).digest('hex'), size: tar.length };
      const warnings = [];
      const cache = await LayerCache.open(${JSON.stringify(root)});
      const r = await cache.ensure(blob, async () => Readable.from([tar]), { onWarning: (m) => warnings.push(m) });
      console.log(JSON.stringify({ dir: r.dir, warnings }));
    `;
    const seeded = await asUserInNamespace(user, work, ['--input-type=module', '-e', script]);
    t.equal(seeded.code, 0, seeded.stderr);
    const { dir, warnings } = JSON.parse(seeded.stdout) as { dir: string; warnings: string[] };
    const base = await subUidStart(user);
    const owned = await fs.stat(path.join(dir, 'app/owned'));
    t.equal(owned.uid, base + 1000, 'uid 1001 in the layer is subordinate uid start+1000 on the host');
    t.equal((await fs.stat(path.join(dir, 'app/suid'))).uid, user.uid, 'uid 0 in the layer is the user');
    t.equal((await fs.stat(path.join(dir, 'app/suid'))).mode & 0o7777, 0o4755, 'setuid kept');
    t.ok((await fs.lstat(path.join(dir, 'removed'))).isCharacterDevice(), 'whiteout stored as char 0:0');
    t.match(warnings.join('\n'), /device nodes/, 'the device node is skipped with a warning');

    const cli = cliFor(user);
    const v = await runCli(['cache', 'verify', '--root', root], { user, cli });
    t.equal(v.code, 0, `verify as the user, through the engine's own namespace: ${v.stderr}`);
    t.match(v.stderr, /1 layer\(s\): all intact/, 'owners read back as recorded');
    const p = await runCli(['cache', 'prune', '--all', '--root', root], { user, cli });
    t.equal(p.code, 0, p.stderr);
    t.same(await fs.readdir(path.join(root, 'layers/sha256')), [], 'files owned by subordinate IDs deleted by the user');
  });
});
