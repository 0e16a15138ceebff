// The test builders of s2i's integration suite (openshift/source-to-image test/integration/images: sti-fake and
// its variants, Dockerfiles FROM busybox) made again with an independent tool: buildah, in a private vfs store,
// FROM a busybox image built from the host's static busybox (no network). They are pushed to a loopback
// registry; the scripts the fake images name (s2i's test/integration/scripts/.s2i/bin: assemble, run,
// save-artifacts, which touch marker files) are served over HTTP on a free port, as s2i's suite serves them on
// 23456, and their label names that port. Results are read back with skopeo, unpacked with umoci and run with
// runc (the image's own command, as s2i's suite starts a container), so nothing of oci-s2i checks oci-s2i.
// Differences from the originals: busybox-static on Debian has no `adduser` applet, so the fake user is written
// to /etc/passwd and /etc/group directly (same name, UID and home). Each image is built once per checkout and
// kept (builder-cache.ts); each test file copies the ones it needs into its own registry.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { cacheEntry, cachedImage, listenScriptsServer, pushCached, type CachedImage, type ImageRecipe } from './builder-cache.js';

const run = promisify(execFile);
const which = async (c: string): Promise<boolean> => run('sh', ['-c', `command -v ${c}`]).then(() => true, () => false);

/** Why the suite cannot run here, or false. */
export async function cannotRun(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (buildah bud and runc run the fake images)';
  for (const c of ['buildah', 'busybox', 'skopeo', 'umoci', 'runc', 'git']) if (!(await which(c))) return `needs ${c}`;
  return false;
}

/** s2i's test scripts (same effects: marker files under /sti-fake, the labels file, the artifacts tar). */
export const SCRIPTS: Record<string, string> = {
  assemble: [
    '#!/bin/sh',
    'cp -Rf /tmp/src /sti-fake/',
    'touch /sti-fake/assemble-invoked',
    'if [ -f /tmp/secret ]; then grep -q secret /tmp/secret && touch /sti-fake/secret-delivered; fi',
    'if [ -f /opt/app-root/src/secret ]; then grep -q secret /opt/app-root/src/secret && touch /sti-fake/relative-secret-delivered; fi',
    'if [ -e /tmp/artifacts/save-artifacts-invoked ]; then touch /sti-fake/save-artifacts-invoked; fi',
    'mkdir -p /tmp/.s2i/',
    'cat > /tmp/.s2i/image_metadata.json << EOL',
    '{',
    '  "labels": [',
    '    {"testLabel": "testLabel_value"}',
    '  ]',
    '}',
    'EOL',
    '',
  ].join('\n'),
  run: '#!/bin/sh\n\ntouch /sti-fake/run-invoked\n',
  // The zeros after the tar mimic the padding Debian's tar adds (s2i issue 301).
  'save-artifacts': '#!/bin/sh\ntouch /tmp/src/save-artifacts-invoked\n\ncd /tmp/src\ntar cf - .\n\ndd count=1 if=/dev/zero 2> /dev/null\n',
};

export type FakeImage =
  | 'sti-fake'
  | 'sti-fake-user'
  | 'sti-fake-scripts'
  | 'sti-fake-scripts-no-save-artifacts'
  | 'sti-fake-no-tar'
  | 'sti-fake-onbuild'
  | 'sti-fake-numericuser'
  | 'sti-fake-onbuild-rootuser'
  | 'sti-fake-onbuild-numericuser'
  | 'sti-fake-assemble-root'
  | 'sti-fake-assemble-user'
  /** Stands in for s2i's dockerfile tests' builder (centos/nodejs-8-centos7): USER 1001, scripts in /usr/libexec/s2i. */
  | 'nodejs-like';

const FAKE_USER = 'RUN mkdir -p /sti-fake && \\\n    echo "fakeuser:x:431:431::/sti-fake:/sbin/nologin" >> /etc/passwd && echo "fakeuser:x:431:" >> /etc/group && \\\n    chown -R fakeuser /sti-fake';
const SCRIPTS_IMAGE_BASE = 'FROM localhost/busybox\nRUN mkdir -p /sti-fake/src && \\\n    mkdir -p /tmp/scripts && \\\n    mkdir /usr/bin && \\\n    ln -s /bin/env /usr/bin/env\nWORKDIR /';

/** The Dockerfiles, as in s2i's test/integration/images (FROM busybox → the local busybox image). */
function dockerfile(name: FakeImage, scriptsUrl: string): string {
  const base = 'FROM localhost/sti_test/sti-fake';
  switch (name) {
    case 'sti-fake':
      return `FROM localhost/busybox\nRUN mkdir -p /sti-fake/src && mkdir -p /opt/app-root/src && \\\n    mkdir /usr/bin && \\\n    ln -s /bin/env /usr/bin/env\nWORKDIR /opt/app-root/src\nLABEL io.openshift.s2i.scripts-url=${scriptsUrl}\n`;
    case 'sti-fake-user':
      return `${base}\n${FAKE_USER}\nUSER fakeuser\n`;
    case 'sti-fake-numericuser':
      return `${base}\n${FAKE_USER}\nUSER 431\n`;
    case 'sti-fake-assemble-root':
      return `${base}\nLABEL io.openshift.s2i.assemble-user="0"\n${FAKE_USER}\nUSER 431\n`;
    case 'sti-fake-assemble-user':
      return `${base}\nLABEL io.openshift.s2i.assemble-user="431"\n${FAKE_USER}\nUSER 431\n`;
    case 'sti-fake-scripts':
      return `${SCRIPTS_IMAGE_BASE}\nADD scripts/ /tmp/scripts/\nLABEL io.openshift.s2i.scripts-url=image:///tmp/scripts/\n`;
    case 'sti-fake-scripts-no-save-artifacts':
      return `${SCRIPTS_IMAGE_BASE}\nADD scripts/run /tmp/scripts/\nADD scripts/assemble /tmp/scripts/\nLABEL io.openshift.s2i.scripts-url=image:///tmp/scripts/\n`;
    case 'sti-fake-no-tar':
      return 'FROM localhost/busybox\nRUN mkdir -p /sti-fake/src && \\\n    rm /bin/tar && \\\n    mkdir /usr/bin && \\\n    ln -s /bin/env /usr/bin/env\nWORKDIR /\n';
    case 'sti-fake-onbuild':
      return `${base}\nONBUILD RUN touch /sti-fake/src/onbuild\nONBUILD COPY . /tmp/src/\nWORKDIR /tmp/src\n`;
    case 'sti-fake-onbuild-rootuser':
      return `${base}\nONBUILD USER 0\nONBUILD RUN touch /tmp/onbuild\nONBUILD COPY . /tmp/src/\nWORKDIR /tmp/src\n`;
    case 'nodejs-like':
      return 'FROM localhost/busybox\nRUN mkdir -p /sti-fake/src /opt/app-root/src && chown -R 1001:0 /sti-fake /opt/app-root\nCOPY scripts/ /usr/libexec/s2i/\nWORKDIR /opt/app-root/src\nLABEL io.openshift.s2i.scripts-url=image:///usr/libexec/s2i\nUSER 1001\n';
    case 'sti-fake-onbuild-numericuser':
      return `${base}\nUSER 1001\nONBUILD USER 1001\nONBUILD RUN touch /tmp/onbuild\nONBUILD COPY . /tmp/src/\nWORKDIR /tmp/src\n`;
  }
}

export interface Suite {
  registry: TestRegistry;
  dir: string;
  /** oci-s2i's store for the builds. */
  root: string;
  /** s2i's FakeScriptsFileURL and FakeScriptsHTTPURL. */
  scriptsFileUrl: string;
  scriptsHttpUrl: string;
  /** Registry reference of each fake image made. */
  image: (name: FakeImage) => string;
  /** A git repository standing in for s2i's TestSource (ruby-hello-world: a Gemfile at the top). */
  source: string;
  buildah: (...args: string[]) => Promise<string>;
  stop: () => Promise<void>;
}

/** Starts the registry and the scripts server, builds and pushes `images` (and sti-fake, which most are FROM). */
export async function startSuite(images: FakeImage[]): Promise<Suite> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-conformance-'));
  chmodSync(dir, 0o755);
  const stops: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const scriptsRoot = path.join(dir, 'scripts');
    const bin = path.join(scriptsRoot, '.s2i', 'bin');
    mkdirSync(bin, { recursive: true });
    for (const [n, body] of Object.entries(SCRIPTS)) writeFileSync(path.join(bin, n), body, { mode: 0o755 });
    const server = http.createServer((req, res) => {
      const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      const file = path.join(scriptsRoot, path.normalize(rel));
      if (!file.startsWith(scriptsRoot + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.end(readFileSync(file));
    });
    // busybox: the static binary, its applets as links, the few directories and files the image has.
    const busyboxRecipe: ImageRecipe = {
      local: 'localhost/busybox',
      files: {
        busybox: { body: readFileSync(['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p))!), mode: 0o755 },
        Dockerfile: {
          body:
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' +
            "RUN mkdir -p -m 1777 /tmp && mkdir -p /etc /root /home /usr/sbin /var && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group\n",
        },
      },
    };
    const busyboxEntry = cacheEntry(busyboxRecipe);

    const wanted = new Set<FakeImage>(images);
    const fromStiFake = (n: FakeImage) => dockerfile(n, '').startsWith('FROM localhost/sti_test/sti-fake');
    if ([...wanted].some(fromStiFake)) wanted.add('sti-fake');
    const order = [...wanted].sort((a, b) => (a === 'sti-fake' ? -1 : b === 'sti-fake' ? 1 : 0));
    /** The recipes of `order` for a scripts server at `url`, in build order (sti-fake before the images FROM it). */
    const recipes = (url: string): Array<[FakeImage, ImageRecipe]> => {
      const out: Array<[FakeImage, ImageRecipe]> = [];
      let stiFake: ImageRecipe | undefined;
      for (const name of order) {
        const files: ImageRecipe['files'] = { Dockerfile: { body: dockerfile(name, url) } };
        for (const [n, body] of Object.entries(SCRIPTS)) files[`scripts/${n}`] = { body, mode: 0o755 };
        const parent = fromStiFake(name) ? { local: 'localhost/sti_test/sti-fake', image: cacheEntry(stiFake!) } : { local: 'localhost/busybox', image: busyboxEntry };
        const recipe: ImageRecipe = { local: `localhost/sti_test/${name}`, files, parent };
        if (name === 'sti-fake') stiFake = recipe;
        out.push([name, recipe]);
      }
      return out;
    };
    const urlOf = (port: number) => `http://127.0.0.1:${port}/.s2i/bin`;
    // Images whose Dockerfile names the scripts server (or is FROM one that does) tie the server to a port.
    const portBound = order.some((n) => fromStiFake(n) || dockerfile(n, urlOf(1)) !== dockerfile(n, urlOf(2)));
    const port = await listenScriptsServer(server, portBound ? (p) => recipes(urlOf(p)).filter(([, r]) => existsSync(cacheEntry(r).dir)).length : null);
    stops.push(() => new Promise((r) => server.close(r)));
    const scriptsHttpUrl = urlOf(port);

    const registry = await startRegistry();
    stops.push(() => registry.stop());

    const store = ['--root', path.join(dir, 'buildah'), '--runroot', path.join(dir, 'buildah-run'), '--storage-driver', 'vfs'];
    const buildah = async (...args: string[]): Promise<string> => (await run('buildah', [...store, ...args], { maxBuffer: 64 << 20 })).stdout.trim();
    stops.push(() => (existsSync(path.join(dir, 'buildah')) ? buildah('rm', '--all') : Promise.resolve()));

    await cachedImage(busyboxRecipe, path.join(dir, 'ctx-busybox'), buildah);
    const cached = new Map<FakeImage, CachedImage>();
    for (const [name, recipe] of recipes(scriptsHttpUrl)) cached.set(name, await cachedImage(recipe, path.join(dir, `ctx-${name}`), buildah));
    const refs = new Map<FakeImage, string>();
    await Promise.all(
      order.map(async (name) => {
        const ref = `${registry.host}/sti_test/${name}:latest`;
        await pushCached(cached.get(name)!, ref);
        refs.set(name, ref);
      }),
    );

    // s2i's TestSource: a repository with a Gemfile (ruby-hello-world), as a committed git tree.
    const source = path.join(dir, 'ruby-hello-world');
    mkdirSync(source);
    writeFileSync(path.join(source, 'Gemfile'), "source 'https://rubygems.org'\ngem 'sinatra'\n");
    writeFileSync(path.join(source, 'app.rb'), "require 'sinatra'\nget('/') { 'Hello' }\n");
    const git = (...a: string[]) => run('git', ['-C', source, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a]);
    await git('init', '-q', '-b', 'master');
    await git('add', '.');
    await git('commit', '-q', '-m', 'hello world');

    return {
      registry,
      dir,
      root: path.join(dir, 'oci-s2i'),
      scriptsFileUrl: `file://${bin}`,
      scriptsHttpUrl,
      image: (n) => {
        const r = refs.get(n);
        if (!r) throw new Error(`fake image ${n} was not made for this suite`);
        return r;
      },
      source,
      buildah,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Docker's default capabilities: the fake scripts write as root into a directory the fake user owns. */
const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP'];

export interface Unpacked {
  config: { config: { User?: string; Cmd?: string[]; Entrypoint?: string[]; Labels?: Record<string, string>; Env?: string[]; WorkingDir?: string; OnBuild?: string[] } };
  rootfs: string;
  /** The image's command exited with this code (runCommand). */
  exitCode?: number;
  exists: (p: string) => boolean;
  read: (p: string) => string;
}

let seq = 0;

/**
 * skopeo copies the image into an OCI layout, umoci unpacks it into a runtime bundle; with runCommand, runc runs
 * the image's own entrypoint and command in it (as s2i's suite starts a container and waits for it).
 */
export async function unpack(suite: Suite, ref: string, opts: { runCommand?: boolean } = {}): Promise<Unpacked> {
  const n = ++seq;
  const layout = path.join(suite.dir, `layout-${n}`);
  const bundle = path.join(suite.dir, `bundle-${n}`);
  await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:x`]);
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const blob = (d: string) => readFileSync(path.join(layout, 'blobs', 'sha256', d.replace('sha256:', '')), 'utf8');
  const manifest = JSON.parse(blob(index.manifests[0].digest));
  const config = JSON.parse(blob(manifest.config.digest));
  await run('umoci', ['unpack', '--image', `${layout}:x`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  const out: Unpacked = {
    config,
    rootfs,
    exists: (p) => existsSync(path.join(rootfs, p)),
    read: (p) => readFileSync(path.join(rootfs, p), 'utf8'),
  };
  if (opts.runCommand) {
    const specFile = path.join(bundle, 'config.json');
    const spec = JSON.parse(readFileSync(specFile, 'utf8'));
    spec.process.terminal = false;
    spec.process.capabilities = { bounding: CAPS, effective: CAPS, permitted: CAPS };
    writeFileSync(specFile, JSON.stringify(spec));
    const id = `oci-s2i-conformance-${process.pid}-${n}`;
    try {
      await run('runc', ['run', '--bundle', bundle, id], { timeout: 60_000 });
      out.exitCode = 0;
    } catch (e) {
      out.exitCode = typeof (e as { code?: unknown }).code === 'number' ? ((e as { code: number }).code) : -1;
    } finally {
      await run('runc', ['delete', '--force', id]).catch(() => {});
    }
  }
  return out;
}
