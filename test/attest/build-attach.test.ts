// `oci-s2i build` attaches its provenance and SBOM next to the image, checked with independent readers (skopeo, plain
// HTTP to the registry) and the in-toto/SLSA rules (slsa-rules.ts):
//   - an OCI image in Debian's registry (distribution 2.8, no referrers API): artifacts with `subject` and the
//     `sha256-<hex>` tag index listing them; the image's manifest annotations; a --reproducible build twice gives
//     the same image, the same attestations and one index entry each;
//   - a Docker image: cosign's `.att` (DSSE layers annotated predicateType and cosign's empty signature annotation) and `.sbom` (text/spdx+json) tags, and
//     the annotation keys as labels;
//   - an OCI image in a registry with the referrers API (test/helpers/referrers-registry.ts): found by subject,
//     no tag written;
//   - secrets: --creds, --build-env values and an --inject file's content are in no byte the registry stores, and
//     -e values (kept in the image config by design) in no attestation;
//   - bad flag values: one line, exit 64.
import t, { type Test as TapTest } from 'tap';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startReferrersRegistry, type ReferrersRegistry } from '../helpers/referrers-registry.js';
import { envelopeProblems, slsaProvenanceProblems } from './slsa-rules.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-attest-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
const home = path.join(tmp, 'home');
mkdirSync(home);
const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', SOURCE_DATE_EPOCH: '' };
const USER = 'attester';
const PASSWORD = 'Cr3ds-never-in-blobs';

let reg: TestRegistry;
let locked: TestRegistry;
let refReg: ReferrersRegistry;
let builder: string;
const client = new RegistryClient();

t.before(async () => {
  [reg, locked, refReg] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { user: USER, password: PASSWORD } }), startReferrersRegistry()]);
  const scripts = path.join(tmp, 'scripts');
  mkdirSync(scripts);
  // assemble reads the injected file and the build-env variable (so they are used), and copies the source.
  writeFileSync(path.join(scripts, 'assemble'), '#!/bin/sh\nset -e\ncat /tmp/inj/token >/dev/null 2>&1 || true\necho "token length ${#TOKEN}"\ncp -Rf /tmp/src/. ./\n', { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), '#!/bin/sh\nexec cat index.html\n', { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(reg.host, 'attest/builder'), 'latest', { scriptsDir: scripts });
  builder = `${reg.host}/attest/builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await reg?.stop();
  await locked?.stop();
  await refReg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'hello\n');
  return dir;
}

const build = (target: string, extra: string[] = [], b = builder, src = source()): Promise<CliResult> =>
  runCli(['build', src, b, target, '--root', root, '--json', '--tls-verify=false', ...extra], { env });

/** Exit 0, else the last lines of stderr as the message. */
const ok = (t: TapTest, r: CliResult): void => void t.equal(r.code, 0, r.code === 0 ? 'built' : r.stderr.slice(-2000));

interface Built {
  digest: string;
  attached?: { mode: string; written: Array<{ digest: string; artifactType?: string; tag?: string }> };
}
const result = (r: CliResult): Built => JSON.parse(r.stdout.trim().split('\n').pop()!) as Built;

const skopeoRaw = (ref: string, creds?: string): any =>
  JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`], { encoding: 'utf8' }));

async function blob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The statement in a DSSE envelope, checked against the envelope and SLSA rules. */
function statementOf(t: TapTest, envelope: Buffer): any {
  const e = JSON.parse(envelope.toString('utf8'));
  t.same(envelopeProblems(e), [], 'a DSSE envelope');
  const s = JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8'));
  t.same(slsaProvenanceProblems(s), [], 'in-toto Statement v1 with SLSA provenance v1');
  return s;
}

const hexOf = (d: string) => d.slice('sha256:'.length);

t.test('OCI image, registry without the referrers API: artifacts with subject and the sha256-<hex> index', async (t) => {
  const src = source();
  const run = () => build(`${reg.host}/attest/app:oci`, ['--format', 'oci', '--reproducible'], builder, src);
  const r = await run();
  ok(t, r);
  const out = result(r);
  t.equal(out.attached?.mode, 'referrers-tag');
  const image = skopeoRaw(`${reg.host}/attest/app:oci`);
  const builderDigest = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${builder}`], { encoding: 'utf8' }).trim();
  t.match(image.annotations, {
    'org.opencontainers.image.created': '1970-01-01T00:00:00Z',
    'org.opencontainers.image.base.name': builder,
    'org.opencontainers.image.base.digest': builderDigest,
  });
  t.match(image.annotations['org.opencontainers.image.source'], /^file:\/\//);
  const index = skopeoRaw(`${reg.host}/attest/app:sha256-${hexOf(out.digest)}`);
  t.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  const types = index.manifests.map((m: any) => m.artifactType).sort();
  t.same(types, ['application/spdx+json', 'application/vnd.dsse.envelope.v1+json']);
  for (const entry of index.manifests) {
    const m = skopeoRaw(`${reg.host}/attest/app@${entry.digest}`);
    t.equal(m.subject.digest, out.digest, 'the artifact names the image as its subject');
    t.equal(m.artifactType, entry.artifactType);
    t.equal(m.config.mediaType, 'application/vnd.oci.empty.v1+json');
    const layer = await blob(reg.host, 'attest/app', m.layers[0].digest);
    if (entry.artifactType === 'application/vnd.dsse.envelope.v1+json') {
      t.equal(m.annotations['in-toto.io/predicate-type'], 'https://slsa.dev/provenance/v1');
      const s = statementOf(t, layer);
      t.same(s.subject[0].digest, { sha256: hexOf(out.digest) });
      const deps = s.predicate.buildDefinition.resolvedDependencies;
      t.same(deps.find((d: any) => d.name === 'builder').digest, { sha256: hexOf(builderDigest) });
      t.equal(s.predicate.runDetails.metadata.startedOn, '1970-01-01T00:00:00Z', 'deterministic with --reproducible');
      t.notOk(s.predicate.runDetails.metadata.invocationId);
    } else {
      const sbom = JSON.parse(layer.toString('utf8'));
      t.equal(sbom.spdxVersion, 'SPDX-2.3');
    }
  }
  // Again: the same image, the same attestations, still two entries in the index.
  const again = await run();
  ok(t, again);
  const out2 = result(again);
  t.equal(out2.digest, out.digest, 'the image is reproducible');
  t.same(out2.attached?.written.filter((w) => !w.tag).map((w) => w.digest).sort(), out.attached?.written.filter((w) => !w.tag).map((w) => w.digest).sort(), 'so are its attestations');
  t.equal(skopeoRaw(`${reg.host}/attest/app:sha256-${hexOf(out.digest)}`).manifests.length, 2, 'listed once each');
});

t.test('Docker image: cosign .att and .sbom tags, the annotation keys as labels', async (t) => {
  const r = await build(`${reg.host}/attest/app:docker`, ['--format', 'docker', '--sbom', 'cyclonedx', '--annotation', 'org.example.team=blue']);
  ok(t, r);
  const out = result(r);
  t.equal(out.attached?.mode, 'cosign-tags');
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/attest/app:docker`], { encoding: 'utf8' }));
  const labels = config.config.Labels;
  for (const k of ['source', 'created', 'base.name', 'base.digest']) t.ok(labels[`org.opencontainers.image.${k}`], `label org.opencontainers.image.${k}`);
  t.equal(labels['org.example.team'], 'blue', '--annotation is a label in Docker format');
  const att = skopeoRaw(`${reg.host}/attest/app:sha256-${hexOf(out.digest)}.att`);
  t.equal(att.layers.length, 1);
  t.equal(att.layers[0].mediaType, 'application/vnd.dsse.envelope.v1+json');
  t.equal(att.layers[0].annotations.predicateType, 'https://slsa.dev/provenance/v1');
  // cosign verify-attestation refuses a layer without it (test/sign/skopeo-sigstore.test.ts runs cosign on it).
  t.same(Object.keys(att.layers[0].annotations), ['dev.cosignproject.cosign/signature', 'predicateType'], 'cosign\'s empty signature annotation, keys sorted');
  t.equal(att.layers[0].annotations['dev.cosignproject.cosign/signature'], '');
  const s = statementOf(t, await blob(reg.host, 'attest/app', att.layers[0].digest));
  t.equal(s.predicate.buildDefinition.externalParameters.format, 'docker');
  t.ok(s.predicate.runDetails.metadata.invocationId, 'a full provenance has an invocation id');
  const sb = skopeoRaw(`${reg.host}/attest/app:sha256-${hexOf(out.digest)}.sbom`);
  t.equal(sb.layers[0].mediaType, 'application/vnd.cyclonedx+json');
  t.equal(JSON.parse((await blob(reg.host, 'attest/app', sb.layers[0].digest)).toString('utf8')).bomFormat, 'CycloneDX');
});

t.test('OCI image, registry with the referrers API: listed by subject, no tag index', async (t) => {
  const r = await build(`${refReg.host}/attest/app:oci`, ['--format', 'oci', '--sbom', 'none']);
  ok(t, r);
  const out = result(r);
  t.equal(out.attached?.mode, 'referrers-api');
  const res = await fetch(`${refReg.url}/v2/attest/app/referrers/${out.digest}?artifactType=${encodeURIComponent('application/vnd.dsse.envelope.v1+json')}`);
  const index = (await res.json()) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  t.equal(index.manifests.length, 1);
  t.equal(index.manifests[0]!.annotations?.['in-toto.io/predicate-type'], 'https://slsa.dev/provenance/v1');
  t.notOk(refReg.requests.some((q) => q.startsWith('PUT /v2/attest/app/manifests/sha256-')), 'no tag schema index written');
  // The client's own listing reads it the same way.
  const listed = await client.repository(refReg.host, 'attest/app', { insecure: true }).referrers(out.digest);
  t.same(listed.map((d) => d.digest), [index.manifests[0]!.digest]);
});

t.test('inspect lists what is attached (referrers and cosign tags), --json too', async (t) => {
  const oci = await runCli(['inspect', '--json', '--tls-verify=false', `${reg.host}/attest/app:oci`], { env });
  t.equal(oci.code, 0, oci.stderr);
  const items = (JSON.parse(oci.stdout) as { attached: Array<{ kind: string; via: string; predicateType?: string; artifactType?: string }> }).attached;
  t.same(items.map((i) => `${i.kind} ${i.via} ${i.predicateType ?? i.artifactType}`).sort(), ['attestation referrers https://slsa.dev/provenance/v1', 'sbom referrers application/spdx+json']);
  const docker = await runCli(['inspect', '--tls-verify=false', `${reg.host}/attest/app:docker`], { env });
  t.equal(docker.code, 0, docker.stderr);
  t.match(docker.stdout, /Attached:\s*\n\s+attestation\s+https:\/\/slsa\.dev\/provenance\/v1\s+\(tag sha256-[0-9a-f]{64}\.att\)/);
  t.match(docker.stdout, /sbom\s+application\/vnd\.cyclonedx\+json\s+\(tag sha256-[0-9a-f]{64}\.sbom\)/);
  const none = await runCli(['inspect', '--tls-verify=false', builder], { env });
  t.match(none.stdout, /Attached:\s+\(nothing/);
});

t.test('OCI layout destination: the artifacts and the sha256-<hex> index in the layout, read by umoci/skopeo', async (t) => {
  const dir = path.join(tmp, 'layout');
  const r = await build(`oci:${dir}:app`, ['--sbom', 'none']);
  ok(t, r);
  const out = result(r);
  t.equal(out.attached?.mode, 'referrers-tag');
  const index = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${dir}:sha256-${hexOf(out.digest)}`], { encoding: 'utf8' }));
  t.equal(index.manifests.length, 1);
  const m = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(index.manifests[0].digest)), 'utf8'));
  t.equal(m.subject.digest, out.digest);
  statementOf(t, readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(m.layers[0].digest))));
  const tags = execFileSync('umoci', ['ls', '--layout', dir], { encoding: 'utf8' }).trim().split('\n').sort();
  t.same(tags, ['app', `sha256-${hexOf(out.digest)}`]);
  const archive = await build(`oci-archive:${path.join(tmp, 'app.tar')}:app`, []);
  ok(t, archive);
  t.equal(result(archive).attached?.mode, 'none', 'an archive holds one image: nothing attached');
  t.match(archive.stderr, /not attached \(oci-archive holds one image/);
});

t.test('--sign-by-sigstore-private-key signs the provenance envelope (verified with node:crypto over the DSSE PAE)', async (t) => {
  const keys = mkdtempSync(path.join(tmp, 'keys-'));
  writeFileSync(path.join(keys, 'pass'), 'key-passphrase\n');
  const gen = await runCli(['generate-sigstore-key', '--output-prefix', path.join(keys, 'k'), '--passphrase-file', path.join(keys, 'pass')], { env });
  t.equal(gen.code, 0, gen.stderr);
  const r = await build(`${reg.host}/attest/signed:1`, ['--format', 'docker', '--sbom', 'none', '--sign-by-sigstore-private-key', path.join(keys, 'k.private'), '--sign-passphrase-file', path.join(keys, 'pass')]);
  ok(t, r);
  const out = result(r);
  const att = skopeoRaw(`${reg.host}/attest/signed:sha256-${hexOf(out.digest)}.att`);
  const envelope = JSON.parse((await blob(reg.host, 'attest/signed', att.layers[0].digest)).toString('utf8'));
  t.equal(envelope.signatures.length, 1, 'one signature');
  const payload = Buffer.from(envelope.payload, 'base64');
  const type = Buffer.from(envelope.payloadType);
  // DSSE v1 pre-authentication encoding (secure-systems-lab/dsse protocol.md), written here from the spec.
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  const pub = createPublicKey(readFileSync(path.join(keys, 'k.pub')));
  t.ok(verify('sha256', pae, pub, Buffer.from(envelope.signatures[0].sig, 'base64')), 'the signature verifies with the public key');
  t.notOk(verify('sha256', Buffer.concat([pae, Buffer.from(' ')]), pub, Buffer.from(envelope.signatures[0].sig, 'base64')), 'and not over other bytes');
  t.same(slsaProvenanceProblems(JSON.parse(payload.toString('utf8'))), []);
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

t.test('secrets: in no stored byte (creds, --build-env, --inject), and -e values in no attestation', async (t) => {
  const injDir = mkdtempSync(path.join(tmp, 'inj-'));
  chmodSync(injDir, 0o755);
  const INJECTED = 'inj3cted-file-content-Zq';
  const BUILD_ENV = 'build-env-value-Kp9';
  const KEPT_ENV = 'kept-env-value-Wx4';
  writeFileSync(path.join(injDir, 'token'), INJECTED, { mode: 0o644 });
  // The builder is copied into the locked registry first (the build pulls it with the same --creds).
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `docker://${builder}`, `docker://${locked.host}/attest/builder:latest`], { stdio: 'ignore' });
  for (const format of ['oci', 'docker']) {
    const r = await build(
      `${locked.host}/attest/secret:${format}`,
      ['--format', format, '--creds', `${USER}:${PASSWORD}`, '-e', `SECRET=${KEPT_ENV}`, '--build-env', `TOKEN=${BUILD_ENV}`, '-i', `${injDir}:/tmp/inj`],
      `${locked.host}/attest/builder:latest`,
    );
    ok(t, r);
    t.match(r.stderr, /token length 19/, 'assemble saw the --build-env value');
    const out = result(r);
    t.ok(out.attached, `${format}: attestations attached`);
    for (const secret of [PASSWORD, BUILD_ENV, INJECTED]) t.notOk((r.stdout + r.stderr).includes(secret), `${format}: ${secret.slice(0, 6)}… in no output`);
  }
  const files = filesUnder(locked.dataDir).filter((f) => statSync(f).size < 64 << 20);
  t.ok(files.length > 10, 'the registry stored the images and their attestations');
  let attestations = 0;
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const secret of [PASSWORD, BUILD_ENV, INJECTED]) if (bytes.includes(secret)) t.fail(`${secret.slice(0, 6)}… found in ${path.relative(locked.dataDir, f)}`);
    const text = bytes.toString('utf8');
    if (text.startsWith('{') && text.includes('"payloadType"')) {
      attestations++;
      t.notOk(text.includes(KEPT_ENV), 'the -e value is in no envelope');
      t.notOk(Buffer.from(JSON.parse(text).payload, 'base64').includes(KEPT_ENV), 'nor in its statement');
      t.ok(Buffer.from(JSON.parse(text).payload, 'base64').includes('"SECRET"'), 'which names the variable');
    }
  }
  t.equal(attestations, 2, 'both builds stored a provenance envelope');
});

t.test('bad flag values: one line, exit 64, nothing built', async (t) => {
  for (const [flag, msg] of [
    [['--annotation', 'novalue'], /invalid --annotation "novalue": use NAME=VALUE/],
    [['--provenance', 'maybe'], /--provenance "maybe" is not one of true, false, deterministic/],
    [['--sbom', 'xml'], /sbom/],
  ] as Array<[string[], RegExp]>) {
    const r = await runCli(['build', source(), builder, `${reg.host}/attest/bad:1`, '--root', root, '--tls-verify=false', ...flag], { env });
    t.equal(r.code, 64, r.stderr);
    t.match(r.stderr, msg);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const off = await build(`${reg.host}/attest/app:off`, ['--provenance=false', '--sbom', 'none']);
  ok(t, off);
  t.notOk(result(off).attached, 'nothing attached when both are off');
});
