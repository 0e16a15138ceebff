// Issue 16, findings 1 and 2: a hostile builder or runtime image must not make a build write on the host.
// One regression test per finding, as node-tar keeps one per advisory; each plants canaries outside the store
// (a file and a directory) that must stay byte-identical and keep their owner, as root and rootless.
//  1. the builder's image already has /tmp/src/index.html -> <host file>, /tmp/src/sub -> <host dir>, /tmp/src ->
//     <host dir>, /tmp/scripts -> <host dir>, or a relative link climbing past the root: the source and scripts
//     injection used to write through them ("Build completed successfully").
//  2. a runtime image whose WorkingDir climbs with `..` to a host dir: artifacts were written there and the dir
//     re-owned to the image's user.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { ensureUser, cliFor, userTempDir, canCreateUsers, type TestUser } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec, type TarFile } from '../../src/demo/busybox-image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-escape-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
const client = new RegistryClient();

t.before(async () => {
  registry = await startRegistry();
});
/** Dirs made outside `tmp` (the unprivileged user's), removed at the end too. */
const cleanups: string[] = [];
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
  for (const d of cleanups) rmSync(d, { recursive: true, force: true });
});

const RUN = '#!/bin/sh\necho running\n';
const ASSEMBLE = '#!/bin/sh\nset -e\necho "src index: $(cat /tmp/src/index.html 2>/dev/null || echo none)"\nls -la /tmp/src\n';

function scriptsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmp, 'scripts-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) writeFileSync(path.join(dir, n), body, { mode: 0o755 });
  return dir;
}

async function builder(name: string, spec: BuilderSpec): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { scriptsDir: scriptsDir({ assemble: ASSEMBLE, run: RUN }), ...spec });
  return `${registry.host}/${name}:latest`;
}

interface Canaries {
  dir: string;
  file: string;
  /** What must stay as it is: names, bytes, owners, modes. */
  snapshot(): string;
}

function plantCanaries(parent: string, owner?: TestUser): Canaries {
  const dir = mkdtempSync(path.join(parent, 'canary-'));
  chmodSync(dir, 0o755);
  const file = path.join(dir, 'host-file');
  writeFileSync(file, 'host data\n', { mode: 0o644 });
  mkdirSync(path.join(dir, 'host-dir'));
  writeFileSync(path.join(dir, 'host-dir', 'kept'), 'kept\n');
  if (owner) execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  const snapshot = () => {
    const out: string[] = [];
    const walk = (p: string) => {
      const st = statSync(p);
      out.push(`${path.relative(dir, p)} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isFile() ? readFileSync(p, 'utf8') : ''}`);
      if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(path.join(p, n));
    };
    walk(dir);
    return out.join('\n');
  };
  return { dir, file, snapshot };
}

function source(parent: string, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(parent, 'src-'));
  chmodSync(dir, 0o755);
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    writeFileSync(path.join(dir, n), body, { mode: n.includes('.s2i/bin/') ? 0o755 : 0o644 });
  }
  return dir;
}

const dirs = (...names: string[]): TarFile[] => names.map((n) => ({ name: n, type: 'directory', mode: 0o777 }));
const link = (name: string, linkname: string): TarFile => ({ name, type: 'symlink', linkname });

interface Mode {
  name: string;
  skip: string | false;
  setup(): { parent: string; user?: TestUser; run(args: string[]): ReturnType<typeof runCli>; root: string };
}

const modes: Mode[] = [
  {
    name: 'root',
    skip: process.getuid?.() !== 0 && 'needs root',
    setup() {
      const parent = mkdtempSync(path.join(tmp, 'root-'));
      const root = path.join(parent, 'store');
      return { parent, root, run: (args) => runCli([...args, '--root', root]) };
    },
  },
  {
    name: 'rootless',
    skip: !canCreateUsers() && 'needs root to create a test user',
    setup() {
      const user = ensureUser('ocis2i-rootless', { subIds: true });
      const cli = cliFor(user);
      const parent = userTempDir(user, 'oci-s2i-escape-user-');
      cleanups.push(parent);
      const root = path.join(parent, 'store');
      return { parent, user, root, run: (args) => runCli([...args, '--root', root], { user, cli, env: { XDG_CACHE_HOME: path.join(parent, '.cache') } }) };
    },
  },
];

for (const mode of modes) {
  t.test(`finding 1 (${mode.name}): source and scripts injection never write through the image's symlinks`, { skip: mode.skip }, async (t) => {
    const env = mode.setup();
    const c = plantCanaries(env.parent, env.user);
    const before = c.snapshot();
    const own = (p: string) => {
      if (env.user) execFileSync('chown', ['-R', `${env.user.uid}:${env.user.gid}`, p]);
      return p;
    };
    const cases: Array<{ what: string; layer: TarFile[]; src: Record<string, string>; expect: RegExp }> = [
      { what: 'file link to a host file', layer: [...dirs('tmp/src/'), link('tmp/src/index.html', c.file)], src: { 'index.html': 'from source\n' }, expect: /src index: from source/ },
      {
        what: 'relative link climbing to a host file',
        layer: [...dirs('tmp/src/'), link('tmp/src/index.html', '../../../../../../../../../..' + c.file)],
        src: { 'index.html': 'from source\n' },
        expect: /src index: from source/,
      },
      { what: 'dir link to a host dir', layer: [...dirs('tmp/src/'), link('tmp/src/sub', path.join(c.dir, 'host-dir'))], src: { 'index.html': 'x\n', 'sub/new.txt': 'new\n' }, expect: /sub/ },
      { what: 'the destination itself a link to a host dir', layer: [link('tmp/src', c.dir)], src: { 'index.html': 'dest\n' }, expect: /src index: dest/ },
      {
        what: 'the scripts dir a link to a host dir',
        layer: [link('tmp/scripts', c.dir)],
        src: { 'index.html': 'x\n', '.s2i/bin/assemble': '#!/bin/sh\necho "override assemble ran"\n' },
        expect: /override assemble ran/,
      },
    ];
    for (const [i, k] of cases.entries()) {
      const b = await builder(`t/escape-${mode.name}-${i}`, { extraLayer: k.layer });
      const r = await env.run(['build', own(source(env.parent, k.src)), b, `${registry.host}/t/escape-app-${mode.name}-${i}:1`]);
      t.equal(r.code, 0, `${k.what}: builds (the link is replaced, not followed): ${r.stderr}`);
      t.match(r.stderr, k.expect, `${k.what}: assemble saw the source`);
      t.equal(c.snapshot(), before, `${k.what}: host canaries byte-identical, same owners and modes`);
    }
  });

  t.test(`finding 1 (${mode.name}), build-image: COPY into a base image never writes through its symlinks`, { skip: mode.skip }, async (t) => {
    const env = mode.setup();
    const c = plantCanaries(env.parent, env.user);
    const before = c.snapshot();
    await pushBusyboxBuilder(client.repository(registry.host, `t/escape-base-${mode.name}`), 'latest', {
      user: '0',
      cmd: ['sh'],
      extraLayer: [link('app', c.dir), link('etc/motd', c.file), link('rel', '../../../../../../../../..' + c.dir)],
    });
    const ctx = source(env.parent, {
      Containerfile: `FROM ${registry.host}/t/escape-base-${mode.name}:latest\nCOPY f /app/\nCOPY g /etc/motd\nCOPY f /rel/x\nRUN cat /etc/motd /app/f\n`,
      f: 'f data\n',
      g: 'g data\n',
    });
    if (env.user) execFileSync('chown', ['-R', `${env.user.uid}:${env.user.gid}`, ctx]);
    const r = await env.run(['build-image', ctx, `${registry.host}/t/escape-built-${mode.name}:1`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /g data[\s\S]*f data/, 'the copies landed in the image');
    t.equal(c.snapshot(), before, 'host canaries byte-identical, same owners and modes');
  });

  t.test(`finding 2 (${mode.name}): a runtime image whose WorkingDir climbs with .. is refused, nothing written on the host`, { skip: mode.skip }, async (t) => {
    const env = mode.setup();
    const c = plantCanaries(env.parent, env.user);
    const before = c.snapshot();
    const b = await builder(`t/escape-rt-builder-${mode.name}`, {});
    await pushBusyboxBuilder(client.repository(registry.host, `t/escape-rt-${mode.name}`), 'latest', {
      user: '431',
      workingDir: '/..'.repeat(20) + c.dir,
      labels: { 'io.openshift.s2i.scripts-url': '', 'io.openshift.s2i.assemble-input-files': '/tmp/src/index.html' },
    });
    const src = source(env.parent, { 'index.html': 'artifact\n', '.s2i/bin/run': RUN });
    if (env.user) execFileSync('chown', ['-R', `${env.user.uid}:${env.user.gid}`, src]);
    const r = await env.run(['build', src, b, `${registry.host}/t/escape-rt-app-${mode.name}:1`, '--runtime-image', `${registry.host}/t/escape-rt-${mode.name}:latest`]);
    t.equal(r.code, 5, r.stderr);
    t.match(r.stderr, /WorkingDir of the runtime image .* contains a "\.\." component/);
    t.equal(r.stderr.trim().split('\n').filter((l) => /error|ERR_/.test(l)).length <= 1, true, 'one error line');
    t.equal(c.snapshot(), before, 'host dir untouched and not re-owned');
  });
}
