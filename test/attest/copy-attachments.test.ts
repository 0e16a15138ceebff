// `oci-s2i copy` carries what is attached to an image (signatures, attestations, SBOMs: referrers and cosign tags)
// when the copy keeps the manifest digest, between two real registries on loopback (Debian's docker-registry: no
// referrers API, so the OCI build's attestations are in the `sha256-<hex>` tag index):
//   - built with the engine, signed with a key from `generate-sigstore-key`, --sbom spdx and the default provenance,
//     in --format docker (cosign tags) and --format oci (referrers tag schema); copied to another repository of a
//     second registry: `inspect` lists the same attachments, by the same digests;
//   - a converting copy (a new digest) carries nothing and says so in one line;
//   - the signature names the original reference: under matchRepoDigestOrExact the copy in another repository is
//     refused (what containers/image does); a remapIdentity policy accepts it, and so does re-signing the copy.
import t, { type Test as TapTest } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-carry-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
const home = path.join(tmp, 'home');
mkdirSync(home);
const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', SOURCE_DATE_EPOCH: '' };
const PASS = 'carry the signatures';

let a: TestRegistry;
let b: TestRegistry;
let builder: string;
let key: { priv: string; pub: string };
const client = new RegistryClient();

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}
const passFile = (): string => file('pass', `${PASS}\n`);

t.before(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  const scripts = path.join(tmp, 'scripts');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\ncp -Rf /tmp/src/. ./\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\nexec cat index.html\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(a.host, 'carry/builder'), 'latest', { scriptsDir: scripts });
  builder = `${a.host}/carry/builder:latest`;
  const prefix = path.join(tmp, 'key');
  const r = await runCli(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', passFile()], { env });
  if (r.code !== 0) throw new Error(r.stderr);
  key = { priv: `${prefix}.private`, pub: `${prefix}.pub` };
});
t.teardown(async () => {
  await client.close();
  await a?.stop();
  await b?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'carried\n');
  return dir;
}

const ok = (t: TapTest, r: CliResult, what: string): void => void t.equal(r.code, 0, r.code === 0 ? what : r.stderr.slice(-2000));
const lastJson = (r: CliResult): any => JSON.parse(r.stdout.trim().split('\n').pop()!);

interface Attached {
  kind: string;
  via: string;
  digest: string;
  tag?: string;
}
async function attached(t: TapTest, ref: string): Promise<Attached[]> {
  const r = await runCli(['inspect', '--json', '--tls-verify=false', `docker://${ref}`], { env });
  ok(t, r, `inspect ${ref}`);
  const items = (lastJson(r).attached ?? []) as Attached[];
  return items.map((i) => ({ kind: i.kind, via: i.via, digest: i.digest })).sort((x, y) => `${x.kind}${x.digest}`.localeCompare(`${y.kind}${y.digest}`));
}

function registriesD(): string {
  const dir = path.join(tmp, 'registries.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  return dir;
}
function policy(name: string, hosts: string[], signedIdentity?: Record<string, string>): string {
  const req = { type: 'sigstoreSigned', keyPath: key.pub, ...(signedIdentity ? { signedIdentity } : {}) };
  return file(name, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: Object.fromEntries(hosts.map((h) => [h, [req]])) } }));
}

for (const format of ['docker', 'oci'] as const) {
  t.test(`--format ${format}: the copy to another registry has the same attachments; a converting copy has none`, async (t) => {
    const out = `${a.host}/carry/app-${format}:v1`;
    const built = await runCli(['build', source(), builder, out, '--root', root, '--json', '--tls-verify=false', '--format', format, '--sbom', 'spdx', '--sign-by-sigstore-private-key', key.priv, '--sign-passphrase-file', passFile()], { env });
    ok(t, built, 'built, attested and signed');
    const digest = lastJson(built).digest as string;
    const before = await attached(t, out);
    t.same(before.map((i) => i.kind).sort(), ['attestation', 'sbom', 'signature'], 'provenance, SBOM and signature attached at the source');
    t.ok(before.some((i) => i.via === (format === 'oci' ? 'referrers' : 'cosign-tag') && i.kind === 'sbom'), `the SBOM ${format === 'oci' ? 'by subject' : 'under a cosign tag'}`);

    const copy = `${b.host}/elsewhere/app-${format}:copied`;
    const c = await runCli(['copy', '--json', '--tls-verify=false', `docker://${out}`, `docker://${copy}`], { env });
    ok(t, c, 'copied');
    const res = lastJson(c);
    t.equal(res.digest, digest, 'the digest is kept');
    t.equal(res.attachments, before.length, '--json counts the attachments carried');
    t.same(await attached(t, copy), before, 'inspect lists the same attachments at the copy');

    // A second copy: everything is there already (counted, not written again).
    const again = await runCli(['copy', '--json', '--tls-verify=false', `docker://${out}`, `docker://${copy}`], { env });
    ok(t, again, 'copied again');
    t.equal(lastJson(again).attachments, before.length);
    t.same(await attached(t, copy), before, 'nothing duplicated');

    // Converting: a new digest, nothing carried, one line says why.
    const other = format === 'docker' ? 'oci' : 'docker';
    const conv = `${b.host}/elsewhere/app-${format}:as-${other}`;
    const cv = await runCli(['copy', '--json', '--tls-verify=false', '--format', other, '--check', 'none', `docker://${out}`, `docker://${conv}`], { env });
    ok(t, cv, 'converted');
    t.not(lastJson(cv).digest, digest);
    t.equal(lastJson(cv).attachments, 0);
    t.equal(cv.stderr.split('\n').filter((l) => /attachments .*not copied: they name the source's digest/.test(l)).length, 1, 'one info line');
    t.same(await attached(t, conv), [], 'the converted copy has no attachments');
  });
}

t.test('the carried signature names the original: matchRepoDigestOrExact refuses the copy; remapIdentity or re-signing accepts it', async (t) => {
  const regd = registriesD();
  const out = `${a.host}/carry/app-docker:v1`;
  const copy = `${b.host}/elsewhere/app-docker:copied`;
  const pull = (image: string, p: string): Promise<CliResult> => runCli(['pull', '--root', mkdtempSync(path.join(tmp, 'root-')), '--tls-verify=false', '--signature-policy', p, '--registries.d', regd, image], { env });

  const exact = policy('policy-exact.json', [a.host, b.host]);
  ok(t, await pull(out, exact), 'the original verifies');
  const refused = await pull(copy, exact);
  t.equal(refused.code, 2, refused.stderr);
  t.match(refused.stderr, /refused by the signature policy/);
  t.equal(refused.stderr.trim().split('\n').filter((l) => /refused/.test(l)).length, 1, 'one line');

  const remap = policy('policy-remap.json', [b.host], { type: 'remapIdentity', prefix: `${b.host}/elsewhere`, signedPrefix: `${a.host}/carry` });
  // The copy's tag differs from the signed one (copied vs v1): remapping the repository is not enough for an exact
  // tag match, so the copy is named as signed too.
  const sameTag = `${b.host}/elsewhere/app-docker:v1`;
  ok(t, await runCli(['copy', '--tls-verify=false', `docker://${out}`, `docker://${sameTag}`], { env }), 'copied under the signed tag');
  ok(t, await pull(sameTag, remap), 'remapIdentity accepts the copy');
  const stillRefused = await pull(copy, remap);
  t.equal(stillRefused.code, 2, 'a different tag is still refused under the remapped exact match');

  // Re-signing while copying: a signature naming the new reference is added next to the carried one.
  const resigned = `${b.host}/elsewhere/app-docker:resigned`;
  ok(t, await runCli(['copy', '--tls-verify=false', '--sign-by-sigstore-private-key', key.priv, '--sign-passphrase-file', passFile(), `docker://${out}`, `docker://${resigned}`], { env }), 'copied and signed');
  ok(t, await pull(resigned, exact), 'the re-signed copy verifies under matchRepoDigestOrExact');
});
