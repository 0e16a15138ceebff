// What the `copy carries attachments` tests share: two real registries on loopback, a busybox builder whose
// assemble copies the source, a signing key from `generate-sigstore-key`, a private HOME, and the helpers that read
// the CLI's results (the attachments `inspect --json` lists, sorted).
import type { Test as TapTest } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

export interface Attached {
  kind: string;
  via: string;
  digest: string;
}

export interface CarryFixture {
  tmp: string;
  root: string;
  env: NodeJS.ProcessEnv;
  client: RegistryClient;
  /** Set once the fixture's `before` has run. */
  a: TestRegistry;
  b: TestRegistry;
  builder: string;
  key: { priv: string; pub: string };
  file(name: string, text: string): string;
  passFile(): string;
  /** A new source directory whose index.html holds `text`. */
  source(): string;
  ok(t: TapTest, r: CliResult, what: string): void;
  lastJson(r: CliResult): any;
  /** `inspect --json` of a location (`docker://…`, `oci:…`): its attachments, sorted. */
  attached(t: TapTest, location: string): Promise<Attached[]>;
}

/** Registers the set-up and teardown on `t` (the file's root test); `name` names the temp dir and the passphrase. */
export function carryFixture(t: TapTest, name: string, indexText: string): CarryFixture {
  const tmp = mkdtempSync(path.join(os.tmpdir(), `oci-s2i-${name}-`));
  chmodSync(tmp, 0o755);
  const home = path.join(tmp, 'home');
  mkdirSync(home);
  const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', SOURCE_DATE_EPOCH: '' };
  const file = (n: string, text: string): string => {
    const p = path.join(tmp, n);
    writeFileSync(p, text);
    return p;
  };
  const ok = (t: TapTest, r: CliResult, what: string): void => void t.equal(r.code, 0, r.code === 0 ? what : r.stderr.slice(-2000));
  const lastJson = (r: CliResult): any => JSON.parse(r.stdout.trim().split('\n').pop()!);
  const fx: CarryFixture = {
    tmp,
    root: path.join(tmp, 'root'),
    env,
    client: new RegistryClient(),
    a: undefined as unknown as TestRegistry,
    b: undefined as unknown as TestRegistry,
    builder: '',
    key: { priv: '', pub: '' },
    file,
    passFile: () => file('pass', `${name}: the passphrase\n`),
    source() {
      const dir = mkdtempSync(path.join(tmp, 'src-'));
      chmodSync(dir, 0o755);
      writeFileSync(path.join(dir, 'index.html'), indexText);
      return dir;
    },
    ok,
    lastJson,
    async attached(t, location) {
      const r = await runCli(['inspect', '--json', '--tls-verify=false', location], { env });
      ok(t, r, `inspect ${location}`);
      const items = (lastJson(r).attached ?? []) as Attached[];
      return items.map((i) => ({ kind: i.kind, via: i.via, digest: i.digest })).sort((x, y) => `${x.kind}${x.digest}`.localeCompare(`${y.kind}${y.digest}`));
    },
  };
  t.before(async () => {
    [fx.a, fx.b] = await Promise.all([startRegistry(), startRegistry()]);
    const scripts = path.join(tmp, 'scripts');
    mkdirSync(scripts);
    writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\ncp -Rf /tmp/src/. ./\n', { mode: 0o755 });
    writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\nexec cat index.html\n', { mode: 0o755 });
    await pushBusyboxBuilder(fx.client.repository(fx.a.host, 'carry/builder'), 'latest', { scriptsDir: scripts });
    fx.builder = `${fx.a.host}/carry/builder:latest`;
    const prefix = path.join(tmp, 'key');
    const r = await runCli(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', fx.passFile()], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    fx.key = { priv: `${prefix}.private`, pub: `${prefix}.pub` };
  });
  t.teardown(async () => {
    await fx.client.close();
    await fx.a?.stop();
    await fx.b?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });
  return fx;
}
