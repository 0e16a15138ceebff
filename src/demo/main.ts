// `npm run demo`: the whole S2I flow with no daemon, on a registry it starts itself on loopback.
// 1. start docker-registry (data in a temp dir)   2. push a busybox base image, then build the S2I builder from
//    examples/busybox-builder/Containerfile with `oci-s2i build-image` (no daemon)
// 3. oci-s2i build examples/hello → registry, Docker format   4. oci-s2i run the result as --user 1234
// 5. fetch the page and print it   6. stop everything and remove the temp dirs (also on failure / Ctrl-C); what
// it started dies with it even when it is killed with SIGKILL (sys/child-lifetime.ts).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryClient } from '../registry/client.js';
import { diesWithParent } from '../sys/child-lifetime.js';
import { pushBusyboxBuilder } from './busybox-image.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..', '..', '..');
const cli = path.join(projectRoot, 'bin', 'oci-s2i.js');

function log(msg: string): void {
  process.stdout.write(`\x1b[1m==> ${msg}\x1b[0m\n`);
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitFor(url: string, ms: number, alive: () => boolean): Promise<Response> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fetch(url);
    } catch (e) {
      if (!alive() || Date.now() > end) throw new Error(`${url} did not answer: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts `cmd` so that it dies with the demo, kill -9 of the demo included (its registry, builds and app). */
function spawnTied(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  const [wrapper, ...prefix] = diesWithParent();
  return spawn(wrapper!, [...prefix, cmd, ...args], opts);
}

function runCli(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawnTied(process.execPath, [cli, ...args], { stdio: 'inherit' });
    p.once('error', reject);
    p.once('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-demo-'));
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  };
  process.on('SIGINT', cleanup);
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    writeFileSync(
      path.join(tmp, 'registry.yml'),
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${tmp}/registry\nhttp:\n  addr: ${host}\n  secret: demo\n`,
    );
    log(`starting docker-registry on ${host}`);
    const registry = spawnTied('docker-registry', ['serve', path.join(tmp, 'registry.yml')], { stdio: 'ignore' });
    children.push(registry);
    await waitFor(`http://${host}/v2/`, 10_000, () => registry.exitCode === null);

    log(`pushing a busybox base image as ${host}/demo/busybox:latest`);
    const client = new RegistryClient();
    await pushBusyboxBuilder(client.repository(host, 'demo/busybox'), 'latest', {});
    await client.close();

    const root = path.join(tmp, 'cache');
    const builder = `${host}/demo/busybox-builder:latest`;
    log(`oci-s2i build-image --build-arg BASE=${host}/demo/busybox:latest examples/busybox-builder ${builder}`);
    const built = await runCli(['build-image', '--build-arg', `BASE=${host}/demo/busybox:latest`, path.join(projectRoot, 'examples', 'busybox-builder'), builder, '--root', root]);
    if (built !== 0) throw new Error(`build-image failed with exit code ${built}`);

    const app = `${host}/demo/hello:latest`;
    log(`oci-s2i build examples/hello ${host}/demo/busybox-builder ${app} --format docker`);
    const code = await runCli(['build', path.join(projectRoot, 'examples', 'hello'), `${host}/demo/busybox-builder:latest`, app, '--format', 'docker', '--root', root]);
    if (code !== 0) throw new Error(`build failed with exit code ${code}`);

    const appPort = await freePort();
    log(`oci-s2i run ${app} --user 1234 -e PORT=${appPort}`);
    const runner = spawnTied(process.execPath, [cli, 'run', app, '--user', '1234', '-e', `PORT=${appPort}`, '--root', root], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(runner);
    const res = await waitFor(`http://127.0.0.1:${appPort}/`, 20_000, () => runner.exitCode === null);
    const page = await res.text();
    log(`GET http://127.0.0.1:${appPort}/ → ${res.status}`);
    process.stdout.write(page);
    runner.kill('SIGINT');
    await new Promise((r) => runner.once('exit', r));
    log('done: the page above was served by the image oci-s2i built, with no daemon');
    return page.includes('Test S2I process!') ? 0 : 1;
  } catch (e) {
    process.stderr.write(`demo failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    cleanup();
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exit(await main());
