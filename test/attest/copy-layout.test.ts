// `oci-s2i copy` carries what is attached to an image into and out of OCI layouts (issue 14), with sync's code
// (sync/companions.ts): real registries on loopback (Debian's docker-registry: no referrers API, so an OCI build's
// attestations are in the `sha256-<hex>` tag index), real layouts read back by index.json, umoci and skopeo 1.9:
//   - an OCI build, signed, with SBOM and provenance: registry → oci:DIR:TAG → oci:DIR2:TAG → another registry; each
//     layout holds the image, the `sha256-<hex>` referrers index and the `sha256-<hex>.sig` signature as index.json
//     entries named by those tags; `inspect` of each lists what the source listed, by the same digests; the copy back
//     in the second registry passes the signature policy (sigstoreSigned, use-sigstore-attachments);
//   - a Docker build: into a layout it is converted (a new digest): one warning, nothing carried; out of a layout sync
//     wrote (Docker manifests kept, full names) its cosign tags `.sig`/`.att`/`.sbom` go along to the registry;
//   - a converting copy of an image with nothing attached says nothing.
import t, { type Test as TapTest } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.js';
import { carryFixture } from './carry-fixture.js';

const fx = carryFixture(t, 'carry-layout', 'carried into a layout\n');
const { tmp, root, env, file, passFile, source, ok, lastJson, attached } = fx;
const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

/** index.json of a layout: ref name → entry. */
function layoutIndex(dir: string): Map<string, { mediaType: string; digest: string }> {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }> };
  return new Map(index.manifests.flatMap((m) => (m.annotations?.['org.opencontainers.image.ref.name'] ? [[m.annotations['org.opencontainers.image.ref.name'], m] as const] : [])));
}

/** The warning that attachments stayed behind (a `warning:` line, or a warn event under --json). */
const warnings = (r: CliResult): string[] =>
  r.stderr.split('\n').filter((l) => /attachments .*not copied: they name the source's digest/.test(l) && (l.startsWith('warning: ') || l.includes('"level":"warn"')));

async function build(t: TapTest, format: 'oci' | 'docker', out: string): Promise<string> {
  const r = await runCli(['build', source(), fx.builder, out, '--root', root, '--json', '--tls-verify=false', '--format', format, '--sbom', 'spdx', '--sign-by-sigstore-private-key', fx.key.priv, '--sign-passphrase-file', passFile()], { env });
  ok(t, r, `built ${format}, attested and signed`);
  return lastJson(r).digest as string;
}

t.test('an OCI build: registry → layout → layout → registry keeps its attachments; the copy back passes the policy', async (t) => {
  const out = `${fx.a.host}/carry/app-oci:v1`;
  const digest = await build(t, 'oci', out);
  const before = await attached(t, `docker://${out}`);
  t.same(before.map((i) => i.kind).sort(), ['attestation', 'sbom', 'signature'], 'provenance, SBOM and signature at the source');

  // registry → layout
  const l1 = path.join(tmp, 'layout-1');
  const c1 = await runCli(['copy', '--json', '--tls-verify=false', `docker://${out}`, `oci:${l1}:v1`], { env });
  ok(t, c1, 'copied into a layout');
  t.equal(lastJson(c1).digest, digest, 'the digest is kept');
  t.equal(lastJson(c1).attachments, before.length, '--json counts what was carried');
  const idx = layoutIndex(l1);
  t.equal(idx.get('v1')?.digest, digest, 'index.json: the image under its tag');
  t.equal(idx.get(`sha256-${hexOf(digest)}`)?.mediaType, 'application/vnd.oci.image.index.v1+json', 'index.json: the referrers index under sha256-<hex>');
  t.ok(idx.has(`sha256-${hexOf(digest)}.sig`), 'index.json: the signature under sha256-<hex>.sig');
  t.same([...idx.keys()].sort(), ['v1', `sha256-${hexOf(digest)}`, `sha256-${hexOf(digest)}.sig`].sort(), 'nothing else named');
  t.same(await attached(t, `oci:${l1}:v1`), before, 'inspect of the layout lists what the registry listed');

  // Independent readers: skopeo reads the image and the referrers index from the layout; umoci lists the names.
  const sk = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${l1}:v1`], { encoding: 'utf8' })) as { Digest: string };
  t.equal(sk.Digest, digest, 'skopeo inspect oci:DIR:v1 gives the same digest');
  const rawIndex = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${l1}:sha256-${hexOf(digest)}`], { encoding: 'utf8' })) as { manifests: Array<{ digest: string }> };
  t.same(
    rawIndex.manifests.map((m) => m.digest).sort(),
    before.filter((i) => i.via === 'referrers').map((i) => i.digest).sort(),
    'skopeo reads the referrers index: the attestation and the SBOM',
  );
  const umociTags = execFileSync('umoci', ['ls', '--layout', l1], { encoding: 'utf8' }).trim().split('\n').sort();
  t.same(umociTags, [...idx.keys()].sort(), 'umoci ls lists the same names');

  // Again into the same layout: everything is there (counted, not duplicated).
  const again = await runCli(['copy', '--json', '--tls-verify=false', `docker://${out}`, `oci:${l1}:v1`], { env });
  ok(t, again, 'copied again');
  t.equal(lastJson(again).attachments, before.length);
  t.same(layoutIndex(l1), idx, 'index.json unchanged');

  // layout → layout
  const l2 = path.join(tmp, 'layout-2');
  const c2 = await runCli(['copy', '--json', `oci:${l1}:v1`, `oci:${l2}:v1`], { env });
  ok(t, c2, 'copied layout to layout');
  t.equal(lastJson(c2).attachments, before.length);
  t.same(await attached(t, `oci:${l2}:v1`), before, 'the second layout lists the same');

  // layout → another registry, under the signed tag
  const back = `${fx.b.host}/elsewhere/app-oci:v1`;
  const c3 = await runCli(['copy', '--json', '--tls-verify=false', `oci:${l2}:v1`, `docker://${back}`], { env });
  ok(t, c3, 'copied out of the layout');
  t.equal(lastJson(c3).digest, digest);
  t.equal(lastJson(c3).attachments, before.length);
  t.same(await attached(t, `docker://${back}`), before, 'the registry lists the same attachments');

  // The signature still verifies: sigstoreSigned with the key, the signed identity remapped to the new place.
  const regd = path.join(tmp, 'registries.d');
  mkdirSync(regd, { recursive: true });
  writeFileSync(path.join(regd, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  const req = { type: 'sigstoreSigned', keyPath: fx.key.pub, signedIdentity: { type: 'remapIdentity', prefix: `${fx.b.host}/elsewhere`, signedPrefix: `${fx.a.host}/carry` } };
  const policy = file('policy-layout.json', JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [fx.b.host]: [req] } } }));
  const pull = (image: string): Promise<CliResult> => runCli(['pull', '--root', mkdtempSync(path.join(tmp, 'root-')), '--tls-verify=false', '--signature-policy', policy, '--registries.d', regd, image], { env });
  ok(t, await pull(back), 'the copy back passes the signature policy');
  // And fails it without the signature: an unsigned image under the same scope.
  ok(t, await runCli(['copy', '--tls-verify=false', `docker://${fx.builder}`, `docker://${fx.b.host}/elsewhere/unsigned:v1`], { env }), 'unsigned image copied');
  const refused = await pull(`${fx.b.host}/elsewhere/unsigned:v1`);
  t.equal(refused.code, 2, 'an unsigned image is refused by the same policy');
});

t.test('a Docker build: into a layout it is converted (one warning, nothing carried); out of a layout sync wrote, its cosign tags go along', async (t) => {
  const out = `${fx.a.host}/carry/app-docker:v1`;
  const digest = await build(t, 'docker', out);
  const before = await attached(t, `docker://${out}`);
  t.same(before.map((i) => i.kind).sort(), ['attestation', 'sbom', 'signature']);
  t.ok(before.every((i) => i.via === 'cosign-tag'), 'under cosign tags');

  const l = path.join(tmp, 'layout-docker');
  const cv = await runCli(['copy', '--json', '--tls-verify=false', `docker://${out}`, `oci:${l}:v1`], { env });
  ok(t, cv, 'copied (converted to OCI)');
  t.not(lastJson(cv).digest, digest, 'a new digest');
  t.equal(lastJson(cv).attachments, 0);
  t.equal(warnings(cv).length, 1, 'one warning line');
  t.same([...layoutIndex(l).keys()], ['v1'], 'only the image in the layout');
  t.same(await attached(t, `oci:${l}:v1`), [], 'inspect lists nothing');

  // sync keeps Docker manifests in a layout, named by full names, with their cosign tags beside them.
  const synced = path.join(tmp, 'layout-sync');
  ok(t, await runCli(['sync', '--tls-verify=false', `docker://${out}`, `oci:${synced}`], { env }), 'synced into a layout');
  const sidx = layoutIndex(synced);
  t.equal(sidx.get(out)?.digest, digest, 'the Docker manifest kept');
  for (const s of ['sig', 'att', 'sbom']) t.ok(sidx.has(`${fx.a.host}/carry/app-docker:sha256-${hexOf(digest)}.${s}`), `the .${s} tag beside it`);
  t.same(await attached(t, `oci:${synced}:${out}`), before, 'inspect of a full name in the layout lists them');

  const back = `${fx.b.host}/elsewhere/app-docker:v1`;
  const c = await runCli(['copy', '--json', '--tls-verify=false', `oci:${synced}:${out}`, `docker://${back}`], { env });
  ok(t, c, 'copied out of the synced layout');
  t.equal(lastJson(c).digest, digest);
  t.equal(lastJson(c).attachments, before.length);
  t.same(await attached(t, `docker://${back}`), before, 'the cosign tags are at the registry');
  t.equal(warnings(c).length, 0, 'no warning');
});

t.test('a converting copy of an image with nothing attached says nothing about attachments', async (t) => {
  const l = path.join(tmp, 'layout-builder');
  const r = await runCli(['copy', '--json', '--tls-verify=false', `docker://${fx.builder}`, `oci:${l}:b`], { env });
  ok(t, r, 'copied the builder into a layout');
  t.equal(lastJson(r).attachments, 0);
  t.equal(warnings(r).length, 0, 'no warning');
});
