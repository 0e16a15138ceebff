// Our sigstore signatures, keys and attestations against the independent tools that define them: Debian trixie's
// skopeo (containers/image with sigstore enabled) and cosign, fetched and verified by scripts/verifiers.sh into
// build/verifiers/ (bookworm's skopeo 1.9.3 has sigstore disabled by a Debian patch). One registry on loopback;
// skopeo and cosign get a proxy on a closed loopback port for everything but 127.0.0.1, so neither reaches
// anything else (cosign: --offline, --insecure-ignore-tlog, TUF_ROOT and HOME in the test's directory).
//   - builds signed by oci-s2i (docker and oci formats): skopeo's sigstoreSigned policy with
//     use-sigstore-attachments accepts them; an unsigned build, a re-tagged one and one carrying another image's
//     signature are rejected; cosign verify accepts the signed builds, not the unsigned one; cosign
//     verify-attestation accepts the signed SLSA provenance of a docker-format build (`.att`), and cosign
//     verify-blob-attestation that of an OCI-format build (an OCI 1.1 referrer, which verify-attestation does not
//     read) against the image manifest's bytes;
//   - skopeo signs (--sign-by-sigstore-private-key) with a key from generate-sigstore-key and with one from
//     cosign generate-key-pair: oci-s2i's policy check accepts those images and refuses a tampered signature (the
//     first) and an image changed under the tag (the second); oci-s2i signs with cosign's key and cosign verifies that;
//   - an image signed by `cosign sign` (its key, no transparency log): oci-s2i's policy check decides as skopeo does
//     (cosign's identity names the repository only: refused under matchRepoDigestOrExact, by tag and by digest,
//     accepted under matchRepository); cosign signs with a key from generate-sigstore-key too.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { signatureTag } from '../../src/sign/attachment.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';

const verifiers = path.join(projectRoot, 'build', 'verifiers', 'bin');
const scriptsDir = path.join(projectRoot, 'examples', 'busybox-builder', 's2i', 'bin');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sigstore-tools-'));
chmodSync(tmp, 0o755);
const home = path.join(tmp, 'home');
mkdirSync(home);
const PASS = 'signed by the tools';
let registry: TestRegistry;
let toolEnv: NodeJS.ProcessEnv;
const client = new RegistryClient();

t.before(async () => {
  // Fetched by scripts/setup.sh test; fetched here when missing; a failure is this test's one-line failure.
  if (!existsSync(path.join(verifiers, 'skopeo')) || !existsSync(path.join(verifiers, 'cosign'))) {
    const r = spawnSync('bash', [path.join(projectRoot, 'scripts', 'verifiers.sh')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`trixie's skopeo and cosign are not available: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  registry = await startRegistry();
  // Nothing listens on this port: whatever a tool tries beyond loopback fails at once, on loopback.
  const deadProxy = `http://127.0.0.1:${await freePort()}`;
  const regConf = path.join(tmp, 'registries.conf');
  writeFileSync(regConf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
  toolEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TMPDIR: tmp,
    TUF_ROOT: path.join(tmp, 'tuf'),
    CONTAINERS_REGISTRIES_CONF: regConf,
    REGISTRY_AUTH_FILE: path.join(tmp, 'auth.json'),
    HTTP_PROXY: deadProxy,
    HTTPS_PROXY: deadProxy,
    NO_PROXY: '127.0.0.1',
  };
  writeFileSync(path.join(tmp, 'auth.json'), '{"auths":{}}');
});
t.teardown(async () => {
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function tool(name: 'skopeo' | 'cosign', args: string[], extraEnv: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(path.join(verifiers, name), args, { encoding: 'utf8', env: { ...toolEnv, ...extraEnv }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const passFile = (): string => file('pass', `${PASS}\n`);

function registriesD(): string {
  const dir = path.join(tmp, 'registries.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'default.yaml'), 'default-docker:\n  use-sigstore-attachments: true\n');
  return dir;
}

/** A registries.d with nothing in it: copies that only move images read no configuration of the host. */
function noRegistriesD(): string {
  const dir = path.join(tmp, 'registries.d-empty');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function sigstorePolicy(name: string, pub: string, extra: Record<string, unknown> = {}): string {
  return file(name, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [registry.host]: [{ type: 'sigstoreSigned', keyPath: pub, ...extra }] } } }));
}

/** skopeo copies `image` to a directory under `policy` (the signatures are read, not copied). */
function skopeoAccepts(image: string, policy: string): CliResult {
  const dest = mkdtempSync(path.join(tmp, 'skopeo-dir-'));
  return tool('skopeo', ['--policy', policy, '--registries.d', registriesD(), 'copy', '--src-tls-verify=false', '--remove-signatures', `docker://${image}`, `dir:${dest}`]);
}

const cosignOffline = ['--insecure-ignore-tlog=true', '--offline=true', '--allow-insecure-registry', '--allow-http-registry'];

async function ourKey(prefix: string): Promise<{ priv: string; pub: string }> {
  const out = path.join(tmp, prefix);
  const r = await runCli(['generate-sigstore-key', '--output-prefix', out, '--passphrase-file', passFile()]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { priv: `${out}.private`, pub: `${out}.pub` };
}

async function builder(name: string): Promise<string> {
  await pushBusyboxBuilder(client.repository(registry.host, name), 'latest', { scriptsDir });
  return `${registry.host}/${name}:latest`;
}

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'signed\n');
  return dir;
}

/** oci-s2i's policy check: `pull` (the policy is applied at each use, a layer already in the store or not). */
const pull = (image: string, policy: string): Promise<CliResult> =>
  runCli(['pull', '--root', path.join(tmp, 'root'), '--signature-policy', policy, '--registries.d', registriesD(), image], { env: { HOME: home } });

const accept = (): string => file('accept.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));

async function digestOf(repository: string, tag: string): Promise<string> {
  return (await client.repository(registry.host, repository).resolve(tag)).descriptor.digest;
}

/** Puts the signature manifest of `from` under the signature tag of `to` (both in `repository`). */
async function copySignature(repository: string, from: string, to: string): Promise<void> {
  const repo = client.repository(registry.host, repository);
  const sig = await repo.resolve(signatureTag(from));
  await repo.pushManifest(signatureTag(to), sig.bytes, sig.descriptor.mediaType);
}

t.test('builds signed by oci-s2i: skopeo and cosign accept them, reject unsigned, re-tagged and borrowed signatures', async (t) => {
  const { priv, pub } = await ourKey('ours');
  const policy = sigstorePolicy('policy-ours.json', pub);
  const b = await builder('t/builder');
  for (const format of ['docker', 'oci'] as const) {
    const repo = `t/app-${format}`;
    const out = `${registry.host}/${repo}:v1`;
    const r = await runCli(['build', source(), b, out, '--root', mkdtempSync(path.join(tmp, 'root-')), '--format', format, '--sign-by-sigstore-private-key', priv, '--sign-passphrase-file', passFile()], { env: { HOME: home } });
    t.equal(r.code, 0, r.stderr);
    const digest = r.stdout.trim();

    const ok = skopeoAccepts(out, policy);
    t.equal(ok.code, 0, `skopeo accepts the signed ${format} build: ${ok.stderr}`);
    const cv = tool('cosign', ['verify', '--key', pub, ...cosignOffline, `${registry.host}/${repo}@${digest}`]);
    t.equal(cv.code, 0, `cosign verify accepts the signed ${format} build: ${cv.stderr}`);
    t.match(cv.stdout, `"docker-manifest-digest":"${digest}"`);

    // Re-tagged: the same manifest under v2, its signature names v1 (matchRepoDigestOrExact).
    const re = tool('skopeo', ['--policy', accept(), '--registries.d', noRegistriesD(), 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${out}`, `docker://${registry.host}/${repo}:v2`]);
    t.equal(re.code, 0, re.stderr);
    t.equal(await digestOf(repo, 'v2'), digest, 'the same manifest');
    const retagged = skopeoAccepts(`${registry.host}/${repo}:v2`, policy);
    t.not(retagged.code, 0, `skopeo rejects the re-tagged ${format} build: ${retagged.stderr}`);
    t.match(retagged.stderr, /Source image rejected: Signature for identity .*\/t\/app-\w+:v1.* is not accepted/);

    // Unsigned: another build in the same repository, no signature.
    const u = await runCli(['build', source(), b, `${registry.host}/${repo}:unsigned`, '--root', mkdtempSync(path.join(tmp, 'root-')), '--format', format], { env: { HOME: home } });
    t.equal(u.code, 0, u.stderr);
    const unsignedDigest = u.stdout.trim();
    t.not(unsignedDigest, digest);
    const unsigned = skopeoAccepts(`${registry.host}/${repo}:unsigned`, policy);
    t.not(unsigned.code, 0, `skopeo rejects the unsigned ${format} build: ${unsigned.stderr}`);
    t.match(unsigned.stderr, /[Aa] signature was required, but no signature exists/);
    const cu = tool('cosign', ['verify', '--key', pub, ...cosignOffline, `${registry.host}/${repo}@${unsignedDigest}`]);
    t.not(cu.code, 0, `cosign rejects the unsigned build: ${cu.stderr}`);
    t.match(cu.stderr, /no signatures found/);

    // The signed build's signatures put under the unsigned one's signature tag: they name another digest.
    await copySignature(repo, digest, unsignedDigest);
    const borrowed = skopeoAccepts(`${registry.host}/${repo}:unsigned`, policy);
    t.not(borrowed.code, 0, `skopeo rejects a borrowed signature (${format}): ${borrowed.stderr}`);
    t.match(borrowed.stderr, /Signature for digest sha256:[0-9a-f]{64} does not match/);
    const cb = tool('cosign', ['verify', '--key', pub, ...cosignOffline, `${registry.host}/${repo}@${unsignedDigest}`]);
    t.not(cb.code, 0, `cosign rejects a borrowed signature: ${cb.stderr}`);
    t.match(cb.stderr, /invalid or missing digest in claim/);
    const ours = await pull(`${registry.host}/${repo}:unsigned`, policy);
    t.equal(ours.code, 2, `our policy check agrees: ${ours.stderr}`);

    if (format === 'oci') {
      // cosign verify-attestation reads only `.att` tags (or, with --new-bundle-format, Sigstore bundles as
      // referrers); an OCI build's provenance is an OCI 1.1 referrer (here listed in the sha256-<hex> tag index).
      // cosign verify-blob-attestation checks that envelope against the image manifest's bytes (its subject).
      const r = client.repository(registry.host, repo);
      const index = JSON.parse((await r.resolve(digest.replace(':', '-'))).bytes.toString()) as { manifests: Array<{ digest: string; artifactType?: string }> };
      const entry = index.manifests.find((m) => m.artifactType === 'application/vnd.dsse.envelope.v1+json');
      t.ok(entry, 'the provenance is listed as a referrer');
      const artifact = JSON.parse((await r.resolve(entry!.digest)).bytes.toString()) as { layers: Array<{ mediaType: string; digest: string; size: number }> };
      const envelope = file('oci-provenance.dsse.json', (await r.fetchBlobBytes(artifact.layers[0]!, 1 << 20)).toString());
      const manifest = path.join(tmp, 'oci-manifest.json');
      writeFileSync(manifest, (await r.resolve(digest)).bytes);
      const vb = tool('cosign', ['verify-blob-attestation', '--key', pub, '--signature', envelope, '--type', 'slsaprovenance1', '--insecure-ignore-tlog=true', '--offline=true', manifest]);
      t.equal(vb.code, 0, `cosign verify-blob-attestation accepts the OCI build's provenance for its manifest: ${vb.stderr}`);
      const otherBlob = file('other-blob', 'not the manifest\n');
      const vo = tool('cosign', ['verify-blob-attestation', '--key', pub, '--signature', envelope, '--type', 'slsaprovenance1', '--insecure-ignore-tlog=true', '--offline=true', otherBlob]);
      t.not(vo.code, 0, `and rejects it for other bytes: ${vo.stderr}`);
    }
    if (format === 'docker') {
      // The provenance went under cosign's .att tag, signed with the same key.
      const att = tool('cosign', ['verify-attestation', '--key', pub, '--type', 'slsaprovenance1', ...cosignOffline, `${registry.host}/${repo}@${digest}`]);
      t.equal(att.code, 0, `cosign verify-attestation accepts the provenance: ${att.stderr}`);
      const statement = JSON.parse(Buffer.from((JSON.parse(att.stdout.trim().split('\n')[0]!) as { payload: string }).payload, 'base64').toString()) as { predicateType: string; subject: Array<{ digest: { sha256: string } }> };
      t.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
      t.equal(statement.subject[0]?.digest.sha256, digest.slice('sha256:'.length));
      const other = await ourKey('other');
      const wrongKey = tool('cosign', ['verify-attestation', '--key', other.pub, '--type', 'slsaprovenance1', ...cosignOffline, `${registry.host}/${repo}@${digest}`]);
      t.not(wrongKey.code, 0, `cosign verify-attestation rejects another key: ${wrongKey.stderr}`);
    }
  }
});

t.test('images signed by skopeo (our key and cosign\'s): our policy check accepts them, refuses tampered ones', async (t) => {
  const ours = await ourKey('for-skopeo');
  const cosignPrefix = path.join(tmp, 'cosign');
  const g = tool('cosign', ['generate-key-pair', '--output-key-prefix', cosignPrefix], { COSIGN_PASSWORD: PASS });
  t.equal(g.code, 0, g.stderr);
  const keys = [
    { name: 'generate-sigstore-key', priv: ours.priv, pub: ours.pub },
    { name: 'cosign generate-key-pair', priv: `${cosignPrefix}.key`, pub: `${cosignPrefix}.pub` },
  ];
  const base = await builder('t/base');
  for (const [i, k] of keys.entries()) {
    const repo = `t/skopeo-signed-${i}`;
    const signed = `${registry.host}/${repo}:v1`;
    const s = tool('skopeo', ['--policy', accept(), '--registries.d', registriesD(), 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', k.priv, '--sign-passphrase-file', passFile(), `docker://${base}`, `docker://${signed}`]);
    t.equal(s.code, 0, `skopeo signs with the key of ${k.name}: ${s.stderr}`);
    const policy = sigstorePolicy(`policy-skopeo-${i}.json`, k.pub);
    const ok = await pull(signed, policy);
    t.equal(ok.code, 0, `our policy check accepts skopeo's signature (${k.name} key): ${ok.stderr}`);
    t.equal(skopeoAccepts(signed, policy).code, 0, 'skopeo accepts its own signature too (the control)');

    const digest = await digestOf(repo, 'v1');
    if (i === 0) {
      // Tampered: the signature layer's payload altered (same signature annotation).
      const r = client.repository(registry.host, repo);
      const sigManifest = JSON.parse((await r.resolve(signatureTag(digest))).bytes.toString()) as { layers: Array<{ mediaType: string; digest: string; size: number; annotations: Record<string, string> }> };
      const layer = sigManifest.layers[0]!;
      const payload = (await r.fetchBlobBytes(layer, 1 << 16)).toString();
      const altered = Buffer.from(payload.replace(`${repo}:v1`, `${repo}:v9`));
      t.not(altered.toString(), payload);
      const ad = { mediaType: layer.mediaType, digest: sha256Digest(altered), size: altered.length };
      await r.pushBlob(ad, () => Readable.from([altered]));
      await r.pushManifest(signatureTag(digest), Buffer.from(JSON.stringify({ ...sigManifest, layers: [{ ...ad, annotations: layer.annotations }] })), 'application/vnd.oci.image.manifest.v1+json');
      const bad = await pull(signed, policy);
      t.equal(bad.code, 2, bad.stderr);
      t.match(bad.stderr, /cryptographic signature verification failed/);
      const st = skopeoAccepts(signed, policy);
      t.not(st.code, 0, `skopeo refuses the tampered signature too: ${st.stderr}`);
      t.match(st.stderr, /cryptographic signature verification failed/);
    } else {
      // The image changed under the tag: another manifest at v1, the signature is of the old one.
      const moved = tool('skopeo', ['--policy', accept(), '--registries.d', noRegistriesD(), 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--format', 'oci', `docker://${base}`, `docker://${signed}`]);
      t.equal(moved.code, 0, moved.stderr);
      t.not(await digestOf(repo, 'v1'), digest, 'another manifest (OCI) under the tag');
      const changed = await pull(signed, policy);
      t.equal(changed.code, 2, changed.stderr);
      t.match(changed.stderr, /no signature exists/);
      const sc = skopeoAccepts(signed, policy);
      t.not(sc.code, 0, `skopeo refuses it too: ${sc.stderr}`);
      t.match(sc.stderr, /no signature exists/);
    }
  }
  // oci-s2i signs with cosign's key; cosign verifies it.
  const out = `${registry.host}/t/signed-with-cosign-key:v1`;
  const c = await runCli(['copy', '--tls-verify=false', '--sign-by-sigstore-private-key', `${cosignPrefix}.key`, '--sign-passphrase-file', passFile(), `docker://${base}`, `docker://${out}`], { env: { HOME: home } });
  t.equal(c.code, 0, c.stderr);
  const v = tool('cosign', ['verify', '--key', `${cosignPrefix}.pub`, ...cosignOffline, `${registry.host}/t/signed-with-cosign-key@${c.stdout.trim()}`]);
  t.equal(v.code, 0, `cosign verifies oci-s2i's signature made with cosign's key: ${v.stderr}`);
});

t.test('images signed by cosign (no transparency log): our policy check decides as skopeo does', async (t) => {
  const prefix = path.join(tmp, 'cosign-signer');
  t.equal(tool('cosign', ['generate-key-pair', '--output-key-prefix', prefix], { COSIGN_PASSWORD: PASS }).code, 0);
  const base = await builder('t/cosign-base');
  const repo = 't/cosign-signed';
  const c = tool('skopeo', ['--policy', accept(), '--registries.d', noRegistriesD(), 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${base}`, `docker://${registry.host}/${repo}:v1`]);
  t.equal(c.code, 0, c.stderr);
  const digest = await digestOf(repo, 'v1');
  const s = tool('cosign', ['sign', '--key', `${prefix}.key`, '--tlog-upload=false', '--yes', '--allow-insecure-registry', '--allow-http-registry', `${registry.host}/${repo}@${digest}`], { COSIGN_PASSWORD: PASS });
  t.equal(s.code, 0, `cosign signs: ${s.stderr}`);
  // cosign's payload names the repository only (no tag): the default matchRepoDigestOrExact refuses it, by tag and
  // by digest, in skopeo and in oci-s2i alike; matchRepository accepts it in both.
  const exact = sigstorePolicy('policy-cosign.json', `${prefix}.pub`);
  const byRepo = sigstorePolicy('policy-cosign-repo.json', `${prefix}.pub`, { signedIdentity: { type: 'matchRepository' } });
  for (const ref of [`${registry.host}/${repo}@${digest}`, `${registry.host}/${repo}:v1`]) {
    const theirs = skopeoAccepts(ref, exact);
    t.not(theirs.code, 0, `skopeo, matchRepoDigestOrExact: ${theirs.stderr}`);
    t.match(theirs.stderr, `Signature for identity \\"${registry.host}/${repo}\\" is not accepted`);
    const ours = await pull(ref, exact);
    t.equal(ours.code, 2, `oci-s2i, matchRepoDigestOrExact: ${ours.stderr}`);
    t.match(ours.stderr, `signature for identity "${registry.host}/${repo}" is not accepted`);
    const theirsRepo = skopeoAccepts(ref, byRepo);
    t.equal(theirsRepo.code, 0, `skopeo, matchRepository: ${theirsRepo.stderr}`);
    const oursRepo = await pull(ref, byRepo);
    t.equal(oursRepo.code, 0, `oci-s2i, matchRepository: ${oursRepo.stderr}`);
  }
  const v = tool('cosign', ['verify', '--key', `${prefix}.pub`, ...cosignOffline, `${registry.host}/${repo}@${digest}`]);
  t.equal(v.code, 0, `the control: cosign verifies its own signature: ${v.stderr}`);
  // cosign signs with a key from generate-sigstore-key too (it decrypts ours), appended to the same signature tag.
  const ours = await ourKey('for-cosign');
  const s2 = tool('cosign', ['sign', '--key', ours.priv, '--tlog-upload=false', '--yes', '--allow-insecure-registry', '--allow-http-registry', `${registry.host}/${repo}@${digest}`], { COSIGN_PASSWORD: PASS });
  t.equal(s2.code, 0, `cosign signs with our key: ${s2.stderr}`);
  const oursRepo = await pull(`${registry.host}/${repo}:v1`, sigstorePolicy('policy-cosign-ours.json', ours.pub, { signedIdentity: { type: 'matchRepository' } }));
  t.equal(oursRepo.code, 0, `oci-s2i verifies cosign's signature made with our key: ${oursRepo.stderr}`);
});
