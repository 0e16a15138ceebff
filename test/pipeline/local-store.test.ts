// The local image store end to end with the real CLI (issue 13, spec/store-format.md "Local images"): a build
// without a TAG or with a TAG that names no registry lands in the store (image ID on stdout, --iidfile), and
// `images`, `tag`, `run`, `usage`, `push`, `copy local:` and `rmi` work on it with no registry for the result; what
// is pushed is read back with skopeo and umoci. Bad input: one line, a stable exit code.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-local-store-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
let registry: TestRegistry;
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function dirWith(files: Record<string, string>, mode: number): string {
  const dir = mkdtempSync(path.join(tmp, 'd-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    writeFileSync(path.join(dir, n), body, { mode });
  }
  return dir;
}

const SCRIPTS = {
  assemble: '#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/src/\necho assembled\n',
  run: '#!/bin/sh\necho "running: $(cat /opt/app-root/src/index.html)"\n',
  usage: '#!/bin/sh\necho "usage of this builder"\n',
};

async function builder(name: string): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { scriptsDir: dirWith(SCRIPTS, 0o755) });
  return `${registry.host}/${name}:latest`;
}

const cli = (...args: string[]) => runCli([...args, '--root', root]);
const reg = (...args: string[]) => runCli([...args, '--root', root, '--tls-verify=false']);

interface Row {
  name: string | null;
  repository: string;
  tag: string;
  id: string;
  digest: string;
  created: string | null;
  size: number;
}

async function images(): Promise<Row[]> {
  const r = await cli('images', '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

let b: string;
let untaggedId: string;
let appId: string;

t.test('build without a TAG: unnamed in the store, image ID on stdout and in --iidfile (no newline), no push', async (t) => {
  b = await builder('t/local-b');
  const src = dirWith({ 'index.html': 'first\n' }, 0o644);
  const iid = path.join(tmp, 'iid');
  const r = await reg('build', src, b, '--iidfile', iid);
  t.equal(r.code, 0, r.stderr);
  const printed = r.stdout.trim();
  t.match(printed, /^[0-9a-f]{64}$/, 'the image ID, as podman build prints it');
  t.equal(readFileSync(iid, 'utf8'), `sha256:${printed}`, '--iidfile: sha256:<hex>, no trailing newline');
  t.notMatch(r.stderr, /Pushing/, 'nothing pushed');
  untaggedId = `sha256:${printed}`;
  const rows = await images();
  const mine = rows.filter((x) => x.id === untaggedId);
  t.equal(mine.length, 1);
  t.equal(mine[0]!.name, null, 'unnamed');
  t.equal(mine[0]!.repository, '<none>');
  // The image ID is the config digest: the config blob in the store's layout hashes to it.
  const cfg = readFileSync(path.join(root, 'oci', 'blobs', 'sha256', printed));
  t.match(JSON.parse(cfg.toString()), { rootfs: { type: 'layers' } });
  t.ok(rows.some((x) => x.name === `${b}`), 'the pulled builder is listed too');
});

t.test('build with a TAG that names no registry: localhost/NAME:TAG, no "cannot reach docker.io"', async (t) => {
  const src = dirWith({ 'index.html': 'hello local\n' }, 0o644);
  const r = await reg('build', src, b, 'myapp:v1');
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /docker\.io|Pushing/);
  t.match(r.stderr, /Build completed successfully: localhost\/myapp:v1 \(local image\)/);
  appId = `sha256:${r.stdout.trim()}`;
  const row = (await images()).find((x) => x.name === 'localhost/myapp:v1');
  t.ok(row, 'listed as localhost/myapp:v1');
  t.equal(row?.id, appId);
  t.equal(row?.repository, 'localhost/myapp');
  t.equal(row?.tag, 'v1');
  t.ok((row?.size ?? 0) > 1000, 'a size');
  // The store is an OCI layout: umoci and skopeo read the local image by its name.
  t.match(execFileSync('umoci', ['ls', '--layout', path.join(root, 'oci')], { encoding: 'utf8' }), /localhost\/myapp:v1/);
  // (skopeo's oci: transport reads OCI manifests only: an --format oci local build.)
  const oci = await reg('build', src, b, 'ociapp', '--format', 'oci');
  t.equal(oci.code, 0, oci.stderr);
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${path.join(root, 'oci')}:localhost/ociapp:latest`], { encoding: 'utf8' }));
  t.same(inspected.config.Cmd, ['/usr/libexec/s2i/run']);
  t.equal(`sha256:${oci.stdout.trim()}`, (await images()).find((x) => x.name === 'localhost/ociapp:latest')?.id, 'the printed ID is the one listed');
  // the table and -q
  const table = await cli('images');
  t.match(table.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  t.match(table.stdout, new RegExp(`localhost/myapp\\s+v1\\s+${appId.slice(7, 19)}\\s`));
  const q = await cli('images', '-q');
  t.ok(q.stdout.split('\n').includes(appId.slice(7, 19)), '-q: short IDs');
  const full = await cli('images', '-q', '--no-trunc');
  t.ok(full.stdout.split('\n').includes(appId), '--no-trunc: whole IDs');
});

t.test('--no-push with a registry TAG lands in the store under that name', async (t) => {
  const src = dirWith({ 'index.html': 'np\n' }, 0o644);
  const r = await reg('build', src, b, `${registry.host}/t/np:1`, '--no-push');
  t.equal(r.code, 0, r.stderr);
  t.ok((await images()).some((x) => x.name === `${registry.host}/t/np:1`));
  const pushed = await reg('inspect', `docker://${registry.host}/t/np:1`);
  t.not(pushed.code, 0, 'and nothing was pushed');
});

t.test('tag, then run and usage take the local image by name, ID and local: (no registry for it)', async (t) => {
  const tag = await cli('tag', 'myapp:v1', 'other');
  t.equal(tag.code, 0, tag.stderr);
  const tagId = await cli('tag', untaggedId.slice(7, 17), 'local:first:1');
  t.equal(tagId.code, 0, tagId.stderr);
  const rows = await images();
  t.equal(rows.find((x) => x.name === 'localhost/other:latest')?.id, appId, 'tag: localhost/other:latest');
  t.equal(rows.find((x) => x.name === 'localhost/first:1')?.id, untaggedId, 'an unnamed build gets a name');
  t.notOk(rows.some((x) => x.name === null && x.id === untaggedId), 'and is no longer listed unnamed');

  for (const name of ['myapp:v1', 'localhost/myapp:v1', 'local:myapp:v1', `local:${appId.slice(7, 19)}`]) {
    const run = await cli('run', name);
    t.equal(run.code, 0, `${name}: ${run.stderr}`);
    t.match(run.stdout, /running: hello local/, `run ${name}`);
  }
  const first = await cli('run', 'local:first:1');
  t.match(first.stdout, /running: first/);
  const usage = await cli('usage', 'local:other');
  t.equal(usage.code, 0, usage.stderr);
  t.match(usage.stdout, /usage of this builder/);
});

t.test('a local image as the BUILDER of the next build', async (t) => {
  const src = dirWith({ 'index.html': 'second\n' }, 0o644);
  const r = await reg('build', src, 'local:myapp:v1', 'myapp:v2');
  t.equal(r.code, 0, r.stderr);
  const run = await cli('run', 'myapp:v2');
  t.match(run.stdout, /running: second/);
});

t.test('push LOCAL DEST and copy local: through the one writer; checked with skopeo and umoci', async (t) => {
  const digestfile = path.join(tmp, 'digest');
  const p = await reg('push', 'myapp:v1', `${registry.host}/t/pushed:v1`, '--digestfile', digestfile);
  t.equal(p.code, 0, p.stderr);
  const digest = readFileSync(digestfile, 'utf8');
  t.match(digest, /^sha256:[0-9a-f]{64}$/, '--digestfile, no newline');
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/t/pushed:v1`], { encoding: 'utf8' }));
  t.equal(inspected.Digest, digest);
  const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${registry.host}/t/pushed:v1`], { encoding: 'utf8' }));
  t.same(cfg.config.Cmd, ['/usr/libexec/s2i/run']);
  // The pushed manifest names the local image's config: the same image ID.
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/t/pushed:v1`], { encoding: 'utf8' }));
  t.equal(raw.config.digest, appId);

  // --format oci converts on the way; into a layout umoci reads and unpacks.
  const layout = path.join(tmp, 'layout');
  const c = await cli('copy', 'local:myapp:v1', `oci:${layout}:app`, '--format', 'oci');
  t.equal(c.code, 0, c.stderr);
  t.match(execFileSync('umoci', ['ls', '--layout', layout], { encoding: 'utf8' }), /^app$/m);
  const bundle = path.join(tmp, 'bundle');
  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:app`, bundle]);
  t.equal(readFileSync(path.join(bundle, 'rootfs', 'opt', 'app-root', 'src', 'index.html'), 'utf8'), 'hello local\n');

  // copy into the store: a registry image becomes a local one
  const into = await reg('copy', `docker://${registry.host}/t/pushed:v1`, 'local:fromreg:1');
  t.equal(into.code, 0, into.stderr);
  t.equal((await images()).find((x) => x.name === 'localhost/fromreg:1')?.id, appId);

  // push with no DEST: to the registry the name names
  const named = await cli('tag', 'myapp:v1', `${registry.host}/t/byname:3`);
  t.equal(named.code, 0, named.stderr);
  const self = await reg('push', `${registry.host}/t/byname:3`);
  t.equal(self.code, 0, self.stderr);
  t.match(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/t/byname:3`], { encoding: 'utf8' }), /"Digest"/);
});

t.test('bad input: one line and a stable exit code, nothing changed', async (t) => {
  const before = readFileSync(path.join(root, 'oci', 'index.json'), 'utf8');
  const cases: Array<[string[], number, RegExp]> = [
    [['run', 'local:nope'], 2, /no local image "nope"/],
    [['rmi', 'nope'], 1, /no local image "nope": see `oci-s2i images`/],
    [['rmi', 'other', 'nope'], 1, /no local image "nope"/], // every argument is looked up first: `other` stays
    [['tag', 'nope', 'x'], 1, /no local image "nope"/],
    [['tag', 'myapp:v1', 'Bad:Name'], 64, /invalid image reference/],
    [['tag', 'myapp:v1', 'x@sha256:' + 'a'.repeat(64)], 64, /has a digest/],
    [['push', 'myapp:v1'], 64, /localhost\/myapp:v1 names no registry to push to: give a DEST/],
    [['rmi', appId.slice(7, 19)], 1, /has \d+ names .*--force/],
    [['images', 'extra'], 64, /./],
    [['copy', 'local:', 'oci:/tmp/x'], 64, /the local image name is empty/],
    [['copy', 'containers-storage:foo', 'oci:/tmp/x'], 64, /not supported .*local:NAME/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await cli(...args);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code} (${r.stderr})`);
    t.match(r.stderr, msg, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
  t.equal(readFileSync(path.join(root, 'oci', 'index.json'), 'utf8'), before, 'index.json untouched');
  // An ambiguous ID prefix: images (builders told apart by their usage script) are pulled until two IDs share their
  // first hex digit, which 17 images always do.
  const sharedDigit = async (): Promise<string | undefined> => {
    const ids = [...new Set((await images()).map((x) => x.id.slice(7)))];
    return ids.map((x) => x[0]!).find((c, i, all) => all.indexOf(c) !== i);
  };
  let shared = await sharedDigit();
  for (let i = 0; shared === undefined && i < 17; i++) {
    await pushBusyboxBuilder(client.repository(registry.host, 'ambiguous'), `v${i}`, { scriptsDir: dirWith({ ...SCRIPTS, usage: `#!/bin/sh\necho "usage ${i}"\n` }, 0o755) });
    const p = await reg('pull', `${registry.host}/ambiguous:v${i}`);
    t.equal(p.code, 0, `pull ambiguous:v${i} (${p.stderr})`);
    shared = await sharedDigit();
  }
  t.ok(shared !== undefined, 'two local images whose IDs share their first hex digit');
  const amb = await cli('rmi', shared ?? '');
  t.equal(amb.code, 1, amb.stderr);
  t.match(amb.stderr, /is the start of \d+ image IDs .*give more of it/);
  // --incremental with no TAG has no previous image to name
  const inc = await reg('build', dirWith({ 'index.html': 'x\n' }, 0o644), b, '--incremental');
  t.equal(inc.code, 64, inc.stderr);
  t.match(inc.stderr, /--incremental needs a TAG or --incremental-from IMAGE/);
});

t.test('rmi: by name removes that name only; by ID every name with --force; blobs stay for cache prune', async (t) => {
  const r1 = await cli('rmi', 'other');
  t.equal(r1.code, 0, r1.stderr);
  t.equal(r1.stdout, 'Untagged: localhost/other:latest\n');
  let rows = await images();
  t.ok(rows.some((x) => x.name === 'localhost/myapp:v1'), 'the other name stays');
  const r2 = await cli('rmi', '--force', `local:${appId}`);
  t.equal(r2.code, 0, r2.stderr);
  rows = await images();
  t.notOk(rows.some((x) => x.id === appId), 'every name of the ID is gone');
  t.ok(existsSync(path.join(root, 'oci', 'blobs', 'sha256', appId.slice(7))), 'the config blob stays until cache prune');
  const prune = await cli('cache', 'prune');
  t.equal(prune.code, 0, prune.stderr);
  t.notOk(existsSync(path.join(root, 'oci', 'blobs', 'sha256', appId.slice(7))), 'cache prune removes what no name reaches');
  const gone = await cli('run', 'myapp:v1', '--pull-policy', 'never');
  t.not(gone.code, 0, 'and the image is gone');
});
