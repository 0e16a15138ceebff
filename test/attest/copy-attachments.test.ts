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
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.js';
import { carryFixture, type Attached } from './carry-fixture.js';

const fx = carryFixture(t, 'carry', 'carried\n');
const { tmp, env, root, file, passFile, source, ok, lastJson } = fx;
const attached = (t: TapTest, ref: string): Promise<Attached[]> => fx.attached(t, `docker://${ref}`);

function registriesD(): string {
  const dir = path.join(tmp, 'registries.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  return dir;
}
function policy(name: string, hosts: string[], signedIdentity?: Record<string, string>): string {
  const req = { type: 'sigstoreSigned', keyPath: fx.key.pub, ...(signedIdentity ? { signedIdentity } : {}) };
  return file(name, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: Object.fromEntries(hosts.map((h) => [h, [req]])) } }));
}

for (const format of ['docker', 'oci'] as const) {
  t.test(`--format ${format}: the copy to another registry has the same attachments; a converting copy has none`, async (t) => {
    const out = `${fx.a.host}/carry/app-${format}:v1`;
    const built = await runCli(['build', source(), fx.builder, out, '--root', root, '--json', '--tls-verify=false', '--format', format, '--sbom', 'spdx', '--sign-by-sigstore-private-key', fx.key.priv, '--sign-passphrase-file', passFile()], { env });
    ok(t, built, 'built, attested and signed');
    const digest = lastJson(built).digest as string;
    const before = await attached(t, out);
    t.same(before.map((i) => i.kind).sort(), ['attestation', 'sbom', 'signature'], 'provenance, SBOM and signature attached at the source');
    t.ok(before.some((i) => i.via === (format === 'oci' ? 'referrers' : 'cosign-tag') && i.kind === 'sbom'), `the SBOM ${format === 'oci' ? 'by subject' : 'under a cosign tag'}`);

    const copy = `${fx.b.host}/elsewhere/app-${format}:copied`;
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
    const conv = `${fx.b.host}/elsewhere/app-${format}:as-${other}`;
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
  const out = `${fx.a.host}/carry/app-docker:v1`;
  const copy = `${fx.b.host}/elsewhere/app-docker:copied`;
  const pull = (image: string, p: string): Promise<CliResult> => runCli(['pull', '--root', mkdtempSync(path.join(tmp, 'root-')), '--tls-verify=false', '--signature-policy', p, '--registries.d', regd, image], { env });

  const exact = policy('policy-exact.json', [fx.a.host, fx.b.host]);
  ok(t, await pull(out, exact), 'the original verifies');
  const refused = await pull(copy, exact);
  t.equal(refused.code, 2, refused.stderr);
  t.match(refused.stderr, /refused by the signature policy/);
  t.equal(refused.stderr.trim().split('\n').filter((l) => /refused/.test(l)).length, 1, 'one line');

  const remap = policy('policy-remap.json', [fx.b.host], { type: 'remapIdentity', prefix: `${fx.b.host}/elsewhere`, signedPrefix: `${fx.a.host}/carry` });
  // The copy's tag differs from the signed one (copied vs v1): remapping the repository is not enough for an exact
  // tag match, so the copy is named as signed too.
  const sameTag = `${fx.b.host}/elsewhere/app-docker:v1`;
  ok(t, await runCli(['copy', '--tls-verify=false', `docker://${out}`, `docker://${sameTag}`], { env }), 'copied under the signed tag');
  ok(t, await pull(sameTag, remap), 'remapIdentity accepts the copy');
  const stillRefused = await pull(copy, remap);
  t.equal(stillRefused.code, 2, 'a different tag is still refused under the remapped exact match');

  // Re-signing while copying: a signature naming the new reference is added next to the carried one.
  const resigned = `${fx.b.host}/elsewhere/app-docker:resigned`;
  ok(t, await runCli(['copy', '--tls-verify=false', '--sign-by-sigstore-private-key', fx.key.priv, '--sign-passphrase-file', passFile(), `docker://${out}`, `docker://${resigned}`], { env }), 'copied and signed');
  ok(t, await pull(resigned, exact), 'the re-signed copy verifies under matchRepoDigestOrExact');
});
