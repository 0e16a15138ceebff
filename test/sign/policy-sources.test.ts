// The signature policy applied to what `copy` and `sync` read and to `build-image`'s FROM images (Debian's registry
// on loopback, keys from `generate-sigstore-key`, images signed by `copy --sign-by-sigstore-private-key`):
//   - a signed source is copied / synced / built FROM under a sigstoreSigned policy;
//   - an unsigned one is refused: one line naming the image and the policy, exit 2, nothing written at the
//     destination (no tag in the registry, no layout directory, no pushed build);
//   - a `reject` policy refuses files (oci: layouts) too; a policy file that cannot be used is a usage error (64)
//     before anything is read.
import t, { type Test as TapTest } from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-policy-src-'));
chmodSync(tmp, 0o755);
const home = path.join(tmp, 'home');
mkdirSync(home);
const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' };
const PASS = 'policy for sources';

let reg: TestRegistry;
let signed: string;
let unsigned: string;
let layout: string;
let policy: string;
let rejectAll: string;
let regd: string;
const client = new RegistryClient();

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

t.before(async () => {
  reg = await startRegistry();
  const prefix = path.join(tmp, 'key');
  const passFile = file('pass', `${PASS}\n`);
  const k = await runCli(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', passFile], { env });
  if (k.code !== 0) throw new Error(k.stderr);
  await pushBusyboxBuilder(client.repository(reg.host, 'src/base'), 'latest', {});
  unsigned = `${reg.host}/src/base:latest`;
  signed = `${reg.host}/src/signed:v1`;
  const s = await runCli(['copy', '--tls-verify=false', '--sign-by-sigstore-private-key', `${prefix}.private`, '--sign-passphrase-file', passFile, `docker://${unsigned}`, `docker://${signed}`], { env });
  if (s.code !== 0) throw new Error(s.stderr);
  layout = path.join(tmp, 'layout');
  const l = await runCli(['copy', '--tls-verify=false', `docker://${unsigned}`, `oci:${layout}:base`], { env });
  if (l.code !== 0) throw new Error(l.stderr);
  regd = path.join(tmp, 'registries.d');
  mkdirSync(regd);
  writeFileSync(path.join(regd, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  policy = file('policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { docker: { [reg.host]: [{ type: 'sigstoreSigned', keyPath: `${prefix}.pub` }] } } }));
  rejectAll = file('reject.json', JSON.stringify({ default: [{ type: 'reject' }] }));
});
t.teardown(async () => {
  await client.close();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const flags = (p: string): string[] => ['--tls-verify=false', '--signature-policy', p, '--registries.d', regd];

/** Exit 2 with one error line naming the image and the policy. */
function refused(t: TapTest, r: CliResult, image: string, p: string): void {
  t.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('oci-s2i'));
  t.equal(lines.length, 1, 'one error line');
  t.ok(lines[0]?.includes(image) && lines[0].includes(p) && lines[0].includes('refused by the signature policy'), lines[0] ?? 'no line');
}

async function tags(repository: string): Promise<number> {
  const res = await fetch(`http://${reg.host}/v2/${repository}/tags/list`);
  if (res.status === 404) return 0;
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags?.length ?? 0;
}

t.test('copy: a signed source is copied; an unsigned one is refused and nothing is written', async (t) => {
  const ok = await runCli(['copy', ...flags(policy), `docker://${signed}`, `docker://${reg.host}/dst/copy-signed:v1`], { env });
  t.equal(ok.code, 0, ok.stderr);
  t.equal(await tags('dst/copy-signed'), 2, 'the image and its signature tag (carried along)');

  const r = await runCli(['copy', ...flags(policy), `docker://${unsigned}`, `docker://${reg.host}/dst/copy-unsigned:v1`], { env });
  refused(t, r, 'src/base:latest', 'policy.json');
  t.match(r.stderr, /no signature exists; nothing was copied/);
  t.equal(await tags('dst/copy-unsigned'), 0, 'no tag at the destination');

  const out = path.join(tmp, 'copy-layout');
  const l = await runCli(['copy', ...flags(policy), `docker://${unsigned}`, `oci:${out}:x`], { env });
  t.equal(l.code, 2, l.stderr);
  t.notOk(existsSync(out), 'no layout written');

  const fromLayout = await runCli(['copy', ...flags(rejectAll), `oci:${layout}:base`, `docker://${reg.host}/dst/from-layout:v1`], { env });
  refused(t, fromLayout, layout, 'reject.json');
  t.equal(await tags('dst/from-layout'), 0);

  const bad = await runCli(['copy', ...flags(file('bad.json', '{"default": [')), `docker://${signed}`, `docker://${reg.host}/dst/bad:v1`], { env });
  t.equal(bad.code, 64, bad.stderr);
  t.equal(await tags('dst/bad'), 0);
});

t.test('sync: a refused image fails with exit 2 and writes nothing; the signed one is synced', async (t) => {
  const dest = path.join(tmp, 'sync-layout');
  const r = await runCli(['sync', ...flags(policy), `docker://${unsigned}`, `oci:${dest}`], { env });
  t.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('oci-s2i'));
  t.equal(lines.length, 1, 'one error line');
  t.match(lines[0] ?? '', /src\/base:latest is refused by the signature policy .*policy\.json: .*nothing of it was copied/);
  t.notOk(existsSync(path.join(dest, 'index.json')) && readFileSync(path.join(dest, 'index.json'), 'utf8').includes('src/base'), 'nothing of it in the layout');

  const ok = await runCli(['sync', ...flags(policy), `docker://${signed}`, `docker://${reg.host}/mirror`], { env });
  t.equal(ok.code, 0, ok.stderr);
  t.equal(await tags('mirror/src/signed'), 2, 'the image and its signature');

  const reg2 = await runCli(['sync', ...flags(policy), `docker://${unsigned}`, `docker://${reg.host}/mirror`], { env });
  t.equal(reg2.code, 2, reg2.stderr);
  t.equal(await tags('mirror/src/base'), 0, 'nothing written to the registry');
});

t.test('build-image: FROM a refused image builds nothing; FROM a signed one builds', async (t) => {
  const ctxDir = (from: string): string => {
    const d = mkdtempSync(path.join(tmp, 'ctx-'));
    writeFileSync(path.join(d, 'Containerfile'), `FROM ${from}\nLABEL org.example.policy=checked\n`);
    return d;
  };
  const build = (from: string, tag: string, p: string): Promise<CliResult> =>
    runCli(['build-image', '--root', mkdtempSync(path.join(tmp, 'root-')), ...flags(p), ctxDir(from), tag], { env });

  const r = await build(unsigned, `${reg.host}/built/refused:v1`, policy);
  refused(t, r, 'src/base:latest', 'policy.json');
  t.equal(await tags('built/refused'), 0, 'nothing pushed');

  const l = await build(`oci:${layout}:base`, `${reg.host}/built/from-layout:v1`, rejectAll);
  refused(t, l, layout, 'reject.json');
  t.equal(await tags('built/from-layout'), 0);

  const ok = await build(signed, `${reg.host}/built/accepted:v1`, policy);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(await tags('built/accepted'), 1, 'built and pushed under an accepting policy');
});
