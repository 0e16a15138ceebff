// Signatures and the signature policy against independent tools, on a real registry on loopback. The system's
// skopeo (bookworm's 1.9.3) has sigstore disabled ("Debian-local change: sigstore disabled": it neither signs nor
// verifies; test/sign/skopeo-sigstore.test.ts uses trixie's skopeo and cosign for that), so here the
// independent side is test/sign/sigstore_ref.py (libsodium, scrypt, pyca/cryptography, written from
// go-securesystemslib and containers/image) with skopeo moving the signature manifests:
// - a key and a signature made by that implementation, attached by skopeo: oci-s2i's policy check accepts the
//   image and refuses an unsigned, re-tagged, other-key or tampered one; oci-s2i signs with that key too;
// - oci-s2i signs a build (docker and oci formats): its key decrypts there, its signature verifies there, for the
//   identity pushed and not for a re-tagged one; an unsigned build has none;
// - a builder the policy refuses never runs assemble (its marker never appears; with an accepting policy it does);
// - bad inputs: wrong passphrase, a corrupt key, a policy with malformed JSON, an unknown requirement, signedBy,
//   a missing keyPath: one line each, exit 64, the passphrase never printed.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Readable } from 'node:stream';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCli, projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { signatureTag } from '../../src/sign/attachment.js';
import { sha256Digest } from '../../src/oci/digest.js';

const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sign-test-'));
chmodSync(tmp, 0o755);
const PASS = 'correct horse battery';
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

function skopeo(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** A registries.d directory with use-sigstore-attachments for every registry. */
function registriesD(): string {
  const dir = path.join(tmp, 'registries.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  return dir;
}

function sigstorePolicy(name: string, pub: string, extra: Record<string, unknown> = {}): string {
  return file(name, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [registry.host]: [{ type: 'sigstoreSigned', keyPath: pub, ...extra }] } } }));
}

const passFile = (): string => file('pass', `${PASS}\n`);

async function keyPair(prefix: string): Promise<{ priv: string; pub: string }> {
  const out = path.join(tmp, prefix);
  const r = await runCli(['generate-sigstore-key', '--output-prefix', out, '--passphrase-file', passFile()]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { priv: `${out}.private`, pub: `${out}.pub` };
}

async function builder(name: string, scripts = scriptsDir): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { scriptsDir: scripts });
  return `${registry.host}/${name}:latest`;
}

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'signed\n');
  return dir;
}

t.test('generate-sigstore-key: 0600 private key in the sigstore PEM, a PUBLIC KEY, never overwritten', async (t) => {
  const { priv, pub } = await keyPair('gen');
  t.match(readFileSync(priv, 'utf8'), /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
  t.match(readFileSync(pub, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  t.equal(execFileSync('stat', ['-c', '%a', priv], { encoding: 'utf8' }).trim(), '600');
  t.notOk(readFileSync(priv, 'utf8').includes(PASS));
  const again = await runCli(['generate-sigstore-key', '--output-prefix', path.join(tmp, 'gen'), '--passphrase-file', passFile()]);
  t.equal(again.code, 1, again.stderr);
  t.match(again.stderr, /already exists: refusing to overwrite/);
  const noPass = await runCli(['generate-sigstore-key', '--output-prefix', path.join(tmp, 'nopass')]);
  t.equal(noPass.code, 64, noPass.stderr);
  t.match(noPass.stderr, /--passphrase-file/);
  t.notOk(existsSync(path.join(tmp, 'nopass.private')), 'nothing written');
});

/** The independent implementation (test/sign/sigstore_ref.py: libsodium, hashlib scrypt, pyca/cryptography). */
function ref(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/python3', [path.join(projectRoot, 'test', 'sign', 'sigstore_ref.py'), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const skopeoTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** The signature manifest of `digest` in `repository`, fetched by skopeo into a layout, verified by the reference implementation. */
function verifiedBy(pub: string, repository: string, digest: string, identity: string): { code: number; stderr: string } {
  const layout = mkdtempSync(path.join(tmp, 'sig-layout-'));
  const c = skopeo(['copy', '--insecure-policy', ...skopeoTls, `docker://${registry.host}/${repository}:${signatureTag(digest)}`, `oci:${layout}:sig`]);
  if (c.code !== 0) return { code: c.code, stderr: c.stderr };
  return ref(['verify', layout, pub, digest, identity]);
}

t.test('a key and signature made independently, attached by skopeo: our policy check accepts them, refuses unsigned, re-tagged, other-key and tampered images', async (t) => {
  const priv = path.join(tmp, 'ref.private');
  const pub = path.join(tmp, 'ref.pub');
  t.equal(ref(['make-key', priv, pub, passFile()]).code, 0);
  const other = await keyPair('other-key');
  const regd = registriesD();
  const plain = await builder('t/plain');
  const signed = `${registry.host}/t/signed:v1`;
  t.equal(skopeo(['copy', '--insecure-policy', ...skopeoTls, `docker://${plain}`, `docker://${signed}`]).code, 0);
  const digest = (await client.repository(registry.host, 't/signed').resolve('v1')).descriptor.digest;
  const layout = mkdtempSync(path.join(tmp, 'ref-sig-'));
  t.equal(ref(['sign', priv, passFile(), signed, digest, layout]).code, 0);
  const up = skopeo(['copy', '--insecure-policy', ...skopeoTls, `oci:${layout}:sig`, `docker://${registry.host}/t/signed:${signatureTag(digest)}`]);
  t.equal(up.code, 0, up.stderr);
  const policy = sigstorePolicy('policy-ref.json', pub);
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const pull = (image: string, p = policy): ReturnType<typeof runCli> => runCli(['pull', '--root', root, '--signature-policy', p, '--registries.d', regd, image]);

  const ok = await pull(signed);
  t.equal(ok.code, 0, ok.stderr);

  const unsigned = await pull(plain);
  t.equal(unsigned.code, 2, unsigned.stderr);
  t.match(unsigned.stderr, /refused by the signature policy .*no signature exists/);
  t.equal(unsigned.stderr.trim().split('\n').length, 1, 'one line');

  // The same manifest under another tag: its signature names :v1, the identity asked for is :v2.
  t.equal(skopeo(['copy', '--insecure-policy', ...skopeoTls, `docker://${signed}`, `docker://${registry.host}/t/signed:v2`]).code, 0);
  const retagged = await pull(`${registry.host}/t/signed:v2`);
  t.equal(retagged.code, 2, retagged.stderr);
  t.match(retagged.stderr, /identity ".*t\/signed:v1" is not accepted/);
  // By digest, matchRepoDigestOrExact accepts any tag of the repository.
  const byDigest = await pull(`${registry.host}/t/signed@${digest}`);
  t.equal(byDigest.code, 0, byDigest.stderr);

  const otherKey = await pull(signed, sigstorePolicy('policy-other.json', other.pub));
  t.equal(otherKey.code, 2, otherKey.stderr);
  t.match(otherKey.stderr, /cryptographic signature verification failed/);

  // Without use-sigstore-attachments the signatures are not looked for (as containers/image).
  const emptyD = mkdtempSync(path.join(tmp, 'empty-regd-'));
  const noAttach = await runCli(['pull', '--root', root, '--signature-policy', policy, '--registries.d', emptyD, signed]);
  t.equal(noAttach.code, 2, noAttach.stderr);
  t.match(noAttach.stderr, /use-sigstore-attachments/);

  // oci-s2i signs with the independently written key too, and the reference implementation verifies that.
  const copied = `${registry.host}/t/signed-by-us:v1`;
  const c = await runCli(['copy', '--tls-verify=false', '--root', root, '--sign-by-sigstore-private-key', priv, '--sign-passphrase-file', passFile(), `docker://${signed}`, `docker://${copied}`]);
  t.equal(c.code, 0, c.stderr);
  const v = verifiedBy(pub, 't/signed-by-us', c.stdout.trim(), copied);
  t.equal(v.code, 0, v.stderr);

  // A registry that serves a payload other than the one signed: same signature annotation, altered claim.
  const repo = client.repository(registry.host, 't/signed');
  const sigManifest = JSON.parse((await repo.resolve(signatureTag(digest))).bytes.toString()) as { layers: Array<{ mediaType: string; digest: string; size: number; annotations: Record<string, string> }> };
  const layer = sigManifest.layers[0]!;
  const payload = (await repo.fetchBlobBytes(layer, 1 << 16)).toString();
  const tampered = Buffer.from(payload.replace('t/signed:v1', 't/signed:v3'));
  t.not(tampered.toString(), payload);
  const tdesc = { mediaType: layer.mediaType, digest: sha256Digest(tampered), size: tampered.length };
  await repo.pushBlob(tdesc, () => Readable.from([tampered]));
  const tm = { ...sigManifest, layers: [{ ...tdesc, annotations: layer.annotations }] };
  await repo.pushManifest(signatureTag(digest), Buffer.from(JSON.stringify(tm)), 'application/vnd.oci.image.manifest.v1+json');
  const bad = await pull(signed);
  t.equal(bad.code, 2, bad.stderr);
  t.match(bad.stderr, /cryptographic signature verification failed/);
});

t.test('oci-s2i signs builds (docker and oci): skopeo fetches the signature, the reference implementation verifies it; unsigned and re-tagged fail', async (t) => {
  const { priv, pub } = await keyPair('build-key');
  const dec = ref(['decrypt-key', priv, passFile(), pub]);
  t.equal(dec.code, 0, `the key oci-s2i wrote decrypts with libsodium + scrypt: ${dec.stderr}`);
  const regd = registriesD();
  const policy = sigstorePolicy('policy-build.json', pub);
  const b = await builder('t/builder');
  for (const format of ['docker', 'oci']) {
    const root = mkdtempSync(path.join(tmp, 'root-'));
    const out = `${registry.host}/t/app-${format}:v1`;
    const r = await runCli(['build', source(), b, out, '--root', root, '--format', format, '--sign-by-sigstore-private-key', priv, '--sign-passphrase-file', passFile()]);
    t.equal(r.code, 0, r.stderr);
    t.notOk(r.stderr.includes(PASS), 'the passphrase is never printed');
    const digest = r.stdout.trim();
    const v = verifiedBy(pub, `t/app-${format}`, digest, out);
    t.equal(v.code, 0, `the ${format} build's signature verifies: ${v.stderr}`);
    // The signature manifest as containers/image writes it: OCI manifest, simple-signing layer with the annotation.
    const sig = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/t/app-${format}:${signatureTag(digest)}`]).stdout) as { mediaType: string; config: { mediaType: string }; layers: Array<{ mediaType: string; annotations: Record<string, string> }> };
    t.equal(sig.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    t.equal(sig.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    t.equal(sig.layers.length, 1);
    t.equal(sig.layers[0]!.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    t.match(sig.layers[0]!.annotations['dev.cosignproject.cosign/signature'], /^[A-Za-z0-9+/]+=*$/);
    // Re-tagged: the same digest under v2; the signature names v1.
    const re = verifiedBy(pub, `t/app-${format}`, digest, `${registry.host}/t/app-${format}:v2`);
    t.not(re.code, 0, 'no signature names the re-tagged identity');
    // Our own policy check agrees.
    const ok = await runCli(['pull', '--root', root, '--signature-policy', policy, '--registries.d', regd, out]);
    t.equal(ok.code, 0, ok.stderr);
  }
  // Signing again appends to the existing signature manifest: both signatures are kept and verify.
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const second = await keyPair('second-key');
  const out = `${registry.host}/t/app-docker:v1`;
  const again = await runCli(['copy', '--tls-verify=false', '--sign-by-sigstore-private-key', second.priv, '--sign-passphrase-file', passFile(), '--root', root, `docker://${out}`, `docker://${out}`]);
  t.equal(again.code, 0, again.stderr);
  const digest = again.stdout.trim();
  const sig = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/t/app-docker:${signatureTag(digest)}`]).stdout) as { layers: unknown[] };
  t.equal(sig.layers.length, 2, 'appended, not replaced');
  t.equal(verifiedBy(pub, 't/app-docker', digest, out).code, 0, 'the first signature still verifies');
  t.equal(verifiedBy(second.pub, 't/app-docker', digest, out).code, 0, 'the second one too');
  const unsignedOut = `${registry.host}/t/app-unsigned:v1`;
  const u = await runCli(['build', source(), b, unsignedOut, '--root', root]);
  t.equal(u.code, 0, u.stderr);
  t.not(verifiedBy(pub, 't/app-unsigned', u.stdout.trim(), unsignedOut).code, 0, 'an unsigned build has no signature');
  const rej = await runCli(['pull', '--root', root, '--signature-policy', policy, '--registries.d', regd, unsignedOut]);
  t.equal(rej.code, 2, rej.stderr);
});

t.test('a builder the policy refuses never runs assemble; run and usage are refused too', async (t) => {
  const { pub } = await keyPair('refuse-key');
  const regd = registriesD();
  const scripts = mkdtempSync(path.join(tmp, 'scripts-'));
  for (const n of ['run', 'usage', 'save-artifacts']) writeFileSync(path.join(scripts, n), readFileSync(path.join(scriptsDir, n)), { mode: 0o755 });
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\necho ran > /marker/ran\n', { mode: 0o755 });
  const b = await builder('t/marker-builder', scripts);
  const markerDir = mkdtempSync(path.join(tmp, 'marker-'));
  chmodSync(markerDir, 0o777);
  const build = (policy: string): ReturnType<typeof runCli> =>
    runCli(['build', source(), b, `${registry.host}/t/marker-app:v1`, '--root', mkdtempSync(path.join(tmp, 'root-')), '--volume', `${markerDir}:/marker`, '--signature-policy', policy, '--registries.d', regd]);
  const refused = await build(sigstorePolicy('policy-refuse.json', pub));
  t.equal(refused.code, 2, refused.stderr);
  t.match(refused.stderr, /t\/marker-builder:latest is refused by the signature policy .*policy-refuse\.json: a signature was required, but no signature exists/);
  t.notOk(existsSync(path.join(markerDir, 'ran')), 'assemble never ran');
  const rejectAll = file('policy-reject.json', JSON.stringify({ default: [{ type: 'reject' }] }));
  const rejected = await build(rejectAll);
  t.equal(rejected.code, 2, rejected.stderr);
  t.match(rejected.stderr, /rejects every image/);
  t.notOk(existsSync(path.join(markerDir, 'ran')), 'assemble never ran');
  // The control: the same build under an accepting policy writes the marker, so its absence above means something.
  const accepted = await build(file('policy-accept.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] })));
  t.equal(accepted.code, 0, accepted.stderr);
  t.ok(existsSync(path.join(markerDir, 'ran')), 'assemble ran under an accepting policy');
  for (const cmd of ['usage', 'run', 'rebuild']) {
    const image = cmd === 'rebuild' ? `${registry.host}/t/marker-app:v1` : b;
    const r = await runCli([cmd, '--root', mkdtempSync(path.join(tmp, 'root-')), '--signature-policy', rejectAll, image]);
    t.equal(r.code, 2, `${cmd}: ${r.stderr}`);
    t.match(r.stderr, /refused by the signature policy/);
  }
  // --incremental: a previous image the policy refuses is not used (its save-artifacts never runs): a clean build.
  const onlyBuilder = file('policy-only-builder.json', JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [`${registry.host}/t/marker-builder`]: [{ type: 'insecureAcceptAnything' }] } } }));
  const inc = await runCli(['build', source(), b, `${registry.host}/t/marker-app:v1`, '--incremental', '--root', mkdtempSync(path.join(tmp, 'root-')), '--volume', `${markerDir}:/marker`, '--signature-policy', onlyBuilder, '--sbom', 'none', '--provenance=false']);
  t.equal(inc.code, 0, inc.stderr);
  t.match(inc.stderr, /previous image not used: .*t\/marker-app:v1 is refused by the signature policy.*clean build/);
});

t.test('bad inputs: one line, exit 64, the passphrase never printed', async (t) => {
  const { priv, pub } = await keyPair('bad-key');
  const b = await builder('t/bad-builder');
  const out = `${registry.host}/t/bad-app:v1`;
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const wrongPass = file('wrong-pass', 'not the passphrase\n');
  const r1 = await runCli(['build', source(), b, out, '--root', root, '--sign-by-sigstore-private-key', priv, '--sign-passphrase-file', wrongPass]);
  t.equal(r1.code, 64, r1.stderr);
  t.match(r1.stderr, /wrong passphrase/);
  t.notOk(r1.stderr.includes('not the passphrase'));
  const corrupt = file('corrupt.private', readFileSync(priv, 'utf8').replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA'));
  const r2 = await runCli(['build', source(), b, out, '--root', root, '--sign-by-sigstore-private-key', corrupt, '--sign-passphrase-file', passFile()]);
  t.equal(r2.code, 64, r2.stderr);
  t.match(r2.stderr, /corrupt\.private/);
  const r3 = await runCli(['build', source(), b, out, '--root', root, '--sign-by-sigstore-private-key', pub, '--sign-passphrase-file', passFile()]);
  t.equal(r3.code, 64, r3.stderr);
  t.match(r3.stderr, /not an encrypted sigstore private key/);
  const r4 = await runCli(['build', source(), b, 'oci:' + path.join(tmp, 'layout') + ':x', '--root', root, '--sign-by-sigstore-private-key', priv, '--sign-passphrase-file', passFile()]);
  t.equal(r4.code, 64, r4.stderr);
  const policies: Array<[string, string, RegExp]> = [
    ['malformed', '{"default": [', /not valid JSON/],
    ['unknown-type', JSON.stringify({ default: [{ type: 'signedByMagic' }] }), /unknown requirement type "signedByMagic"/],
    ['empty-default', JSON.stringify({ default: [] }), /empty list of requirements/],
    ['unknown-key', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], extra: 1 }), /unknown key "extra"/],
    ['signedby', JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/pki/x.gpg' }] }), /GPG signatures are not supported/],
    ['missing-keypath', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: path.join(tmp, 'nope.pub') }] }), /keyPath .*nope\.pub does not exist/],
    ['two-keys', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: pub, keyData: 'QQ==' }] }), /exactly one of keyPath/],
  ];
  for (const [name, text, re] of policies) {
    const p = file(`policy-${name}.json`, text);
    const r = await runCli(['build', source(), b, out, '--root', root, '--signature-policy', p, '--registries.d', registriesD()]);
    t.equal(r.code, 64, `${name}: ${r.stderr}`);
    t.match(r.stderr, re, name);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
  }
  const missing = await runCli(['pull', '--root', root, '--signature-policy', path.join(tmp, 'no-policy.json'), b]);
  t.equal(missing.code, 64, missing.stderr);
  t.match(missing.stderr, /no-policy\.json does not exist/);
});
