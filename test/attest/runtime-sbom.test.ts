// The SBOM of a --runtime-image build describes the image that is pushed: the runtime image's OS packages (its
// dpkg status, not the builder's) and the package-lock.json of the artifacts copied in, each credited to its
// layer (diffIDs read back with skopeo). Read back from the registry where the build attached it — the cosign
// `.sbom` tag (Docker format) and the `sha256-<hex>` referrers tag index (OCI format, Debian's registry) — and
// validated by the SPDX 2.3 JSON schema (ajv) and cyclonedx-library's strict CycloneDX 1.5 validator. Both paths of
// the runtime stage: the plain append (only manifest + config fetched before; the layers now unpacked for the
// SBOM) and an assemble-runtime script (its overlay upper dir is the new layer: a rewritten dpkg status counts).
import t, { type Test as TapTest } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { cyclonedxErrors, hostDpkgStanzas, spdxErrors } from '../helpers/sbom.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-rtsbom-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
const home = path.join(tmp, 'home');
mkdirSync(home);
const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', SOURCE_DATE_EPOCH: '' };

const BUILDER_PKGS = ['bash', 'coreutils', 'gzip'];
const RUNTIME_PKGS = ['base-files', 'libc6', 'tar'];
const NPM = { 'left-pad': '1.3.0', '@scope/util': '2.1.4' };
const LOCK = JSON.stringify({
  name: 'app',
  version: '1.0.0',
  lockfileVersion: 3,
  packages: {
    '': { name: 'app', version: '1.0.0' },
    'node_modules/left-pad': { version: NPM['left-pad'], license: 'WTFPL' },
    'node_modules/@scope/util': { version: NPM['@scope/util'], license: 'MIT' },
  },
});

let reg: TestRegistry;
let builder: string;
let runtime: string;
let runtimeAr: string;
const client = new RegistryClient();

t.before(async () => {
  reg = await startRegistry();
  const bscripts = path.join(tmp, 'bscripts');
  mkdirSync(bscripts);
  writeFileSync(path.join(bscripts, 'assemble'), '#!/bin/sh\nset -e\nmkdir -p app\ncp -Rf /tmp/src/. ./app/\n', { mode: 0o755 });
  writeFileSync(path.join(bscripts, 'run'), '#!/bin/sh\nexec cat app/index.html\n', { mode: 0o755 });
  const rscripts = path.join(tmp, 'rscripts');
  mkdirSync(rscripts);
  writeFileSync(path.join(rscripts, 'run'), '#!/bin/sh\nexec cat app/index.html\n', { mode: 0o755 });
  // assemble-runtime (as root) rewrites the runtime image's dpkg status without tar, as dpkg would on removal.
  const arscripts = path.join(tmp, 'arscripts');
  mkdirSync(arscripts);
  writeFileSync(path.join(arscripts, 'run'), '#!/bin/sh\nexec cat app/index.html\n', { mode: 0o755 });
  writeFileSync(
    path.join(arscripts, 'assemble-runtime'),
    '#!/bin/sh\nset -e\nawk \'BEGIN{RS="";ORS="\\n\\n"} !/^Package: tar\\n/\' /var/lib/dpkg/status >/tmp/status\ncat /tmp/status >/var/lib/dpkg/status\n',
    { mode: 0o755 },
  );
  const dpkg = (names: string[]) => [
    { name: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' },
    { name: 'var/', type: 'directory' as const },
    { name: 'var/lib/', type: 'directory' as const },
    { name: 'var/lib/dpkg/', type: 'directory' as const },
    { name: 'var/lib/dpkg/status', content: hostDpkgStanzas(names) },
  ];
  await pushBusyboxBuilder(client.repository(reg.host, 'rtsbom/builder'), 'latest', { scriptsDir: bscripts, extraLayer: dpkg(BUILDER_PKGS) });
  await pushBusyboxBuilder(client.repository(reg.host, 'rtsbom/runtime'), 'latest', { scriptsDir: rscripts, extraLayer: dpkg(RUNTIME_PKGS) });
  await pushBusyboxBuilder(client.repository(reg.host, 'rtsbom/runtime-ar'), 'latest', { scriptsDir: arscripts, user: '0', extraLayer: dpkg(RUNTIME_PKGS) });
  builder = `${reg.host}/rtsbom/builder:latest`;
  runtime = `${reg.host}/rtsbom/runtime:latest`;
  runtimeAr = `${reg.host}/rtsbom/runtime-ar:latest`;
});
t.teardown(async () => {
  await client.close();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'hello\n');
  writeFileSync(path.join(dir, 'package-lock.json'), LOCK);
  return dir;
}

const build = (target: string, extra: string[]): Promise<CliResult> =>
  runCli(['build', source(), builder, target, '--root', root, '--json', '--tls-verify=false', '-a', '/opt/app-root/src/app', ...extra], { env });

const ok = (t: TapTest, r: CliResult): void => void t.equal(r.code, 0, r.code === 0 ? 'built' : r.stderr.slice(-2000));
const result = (r: CliResult): { digest: string; attached?: { mode: string } } => JSON.parse(r.stdout.trim().split('\n').pop()!);
const hexOf = (d: string) => d.slice('sha256:'.length);
const skopeo = (args: string[], ref: string): any => JSON.parse(execFileSync('skopeo', ['inspect', ...args, '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' }));
const diffIDs = (ref: string): string[] => skopeo(['--config'], ref).rootfs.diff_ids;

async function blob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${reg.host}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** name → {version, layer, location} of every package the document lists, whichever its format. */
function packagesOf(doc: any): Map<string, { version: string; layer: string; location: string; purl: string }> {
  const out = new Map<string, { version: string; layer: string; location: string; purl: string }>();
  if (doc.spdxVersion) {
    for (const p of doc.packages) {
      if (p.SPDXID === 'SPDXRef-Image') continue;
      const m = /^found in layer (\S+) at (\S+)$/.exec(p.sourceInfo ?? '');
      out.set(p.name, { version: p.versionInfo, layer: m?.[1] ?? '', location: m?.[2] ?? '', purl: p.externalRefs?.find((r: any) => r.referenceType === 'purl')?.referenceLocator ?? '' });
    }
  } else {
    for (const c of doc.components ?? []) {
      const prop = (n: string) => c.properties?.find((p: any) => p.name === n)?.value ?? '';
      out.set(c.group ? `${c.group}/${c.name}` : c.name, { version: c.version, layer: prop('oci-s2i:layer:diffID'), location: prop('oci-s2i:location'), purl: c.purl });
    }
  }
  return out;
}

/** Checks the document: valid, the runtime image's packages (not the builder's) and the npm packages, each in its layer. */
async function checkSbom(t: TapTest, bytes: Buffer, image: string, removed: string[] = []): Promise<Map<string, { version: string; layer: string; location: string; purl: string }>> {
  const doc = JSON.parse(bytes.toString('utf8'));
  if (doc.spdxVersion) t.same(spdxErrors(bytes), [], 'the SPDX 2.3 JSON schema accepts the document');
  else t.equal(await cyclonedxErrors(bytes), null, 'the CycloneDX 1.5 strict validator accepts the document');
  const pkgs = packagesOf(doc);
  const rtLayers = diffIDs(image === 'ar' ? runtimeAr : runtime);
  const outLayers = diffIDs(image === 'ar' ? `${reg.host}/rtsbom/app:ar` : `${reg.host}/rtsbom/app:${image}`);
  t.same(outLayers.slice(0, -1), rtLayers, 'the result is the runtime image plus one layer');
  const newLayer = outLayers[outLayers.length - 1]!;
  for (const name of RUNTIME_PKGS) {
    if (removed.includes(name)) {
      t.notOk(pkgs.has(name), `${name}: removed by assemble-runtime, not listed`);
      continue;
    }
    const p = pkgs.get(name);
    t.ok(p, `runtime package ${name} listed`);
    t.equal(p?.layer, rtLayers[2], `${name}: in the runtime image's dpkg layer`);
    t.equal(p?.location, '/var/lib/dpkg/status');
    t.match(p?.purl, /^pkg:deb\/debian\//);
  }
  for (const name of BUILDER_PKGS) t.notOk(pkgs.has(name), `builder package ${name} not listed`);
  for (const [name, version] of Object.entries(NPM)) {
    const p = pkgs.get(name);
    t.equal(p?.version, version, `npm package ${name} ${version} listed`);
    t.equal(p?.layer, newLayer, `${name}: in the new layer`);
    t.equal(p?.location, '/opt/app-root/src/app/package-lock.json');
    t.match(p?.purl, /^pkg:npm\//);
  }
  return pkgs;
}

t.test('--format docker --sbom spdx: the cosign .sbom tag', async (t) => {
  const r = await build(`${reg.host}/rtsbom/app:docker`, ['--runtime-image', runtime, '--format', 'docker', '--sbom', 'spdx']);
  ok(t, r);
  t.notMatch(r.stderr, /no SBOM/, 'no warning about a missing SBOM');
  const out = result(r);
  t.equal(out.attached?.mode, 'cosign-tags');
  const sb = skopeo(['--raw'], `${reg.host}/rtsbom/app:sha256-${hexOf(out.digest)}.sbom`);
  t.equal(sb.layers[0].mediaType, 'text/spdx+json');
  await checkSbom(t, await blob('rtsbom/app', sb.layers[0].digest), 'docker');
});

t.test('--format oci --sbom cyclonedx: the sha256-<hex> referrers tag index (Debian registry)', async (t) => {
  const r = await build(`${reg.host}/rtsbom/app:oci`, ['--runtime-image', runtime, '--format', 'oci', '--sbom', 'cyclonedx']);
  ok(t, r);
  const out = result(r);
  t.equal(out.attached?.mode, 'referrers-tag');
  const index = skopeo(['--raw'], `${reg.host}/rtsbom/app:sha256-${hexOf(out.digest)}`);
  const entry = index.manifests.find((m: any) => m.artifactType === 'application/vnd.cyclonedx+json');
  t.ok(entry, 'the index lists a CycloneDX SBOM');
  const m = skopeo(['--raw'], `${reg.host}/rtsbom/app@${entry.digest}`);
  t.equal(m.subject.digest, out.digest, 'the SBOM names the image as its subject');
  await checkSbom(t, await blob('rtsbom/app', m.layers[0].digest), 'oci');
  // inspect reports the same attachment.
  const ins = await runCli(['inspect', '--json', '--tls-verify=false', `${reg.host}/rtsbom/app:oci`], { env });
  t.equal(ins.code, 0, ins.stderr);
  const items = (JSON.parse(ins.stdout) as { attached: Array<{ kind: string; artifactType?: string }> }).attached;
  t.ok(items.some((i) => i.kind === 'sbom' && i.artifactType === 'application/vnd.cyclonedx+json'), 'inspect lists the SBOM');
});

t.test('--format oci --sbom spdx, again: the same packages, the runtime layers from the cache', async (t) => {
  const r = await build(`${reg.host}/rtsbom/app:oci2`, ['--runtime-image', runtime, '--format', 'oci', '--sbom', 'spdx']);
  ok(t, r);
  const pulls = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => e.type === 'blob' && e.op === 'pull');
  for (const l of skopeo(['--raw'], runtime).layers as Array<{ digest: string }>) {
    // (the busybox base layer is the builder's too: one event each)
    const states = pulls.filter((e) => e.digest === l.digest).map((e) => e.state);
    t.ok(states.length > 0 && states.every((s) => s === 'cached'), `runtime layer ${l.digest.slice(7, 19)} read from the layer cache (${states.join(', ')})`);
  }
  const out = result(r);
  const index = skopeo(['--raw'], `${reg.host}/rtsbom/app:sha256-${hexOf(out.digest)}`);
  const entry = index.manifests.find((m: any) => m.artifactType === 'application/spdx+json');
  const m = skopeo(['--raw'], `${reg.host}/rtsbom/app@${entry.digest}`);
  await checkSbom(t, await blob('rtsbom/app', m.layers[0].digest), 'oci2');
});

t.test('assemble-runtime: the upper dir is the new layer, its rewritten dpkg status counts', async (t) => {
  const r = await build(`${reg.host}/rtsbom/app:ar`, ['--runtime-image', runtimeAr, '--format', 'docker', '--sbom', 'cyclonedx']);
  ok(t, r);
  const out = result(r);
  const sb = skopeo(['--raw'], `${reg.host}/rtsbom/app:sha256-${hexOf(out.digest)}.sbom`);
  await checkSbom(t, await blob('rtsbom/app', sb.layers[0].digest), 'ar', ['tar']);
});
