// A build's attestations go up while its image is pushed (pipeline/publish.ts), but their manifests only after the
// image's (attest/attach.ts `subjectWritten`): through a counting, fault-injecting proxy in front of a real registry
// (Debian's docker-registry on loopback),
//   - every attachment manifest (the cosign `.att`/`.sbom` tags of a Docker image, the referrers artifacts and the
//     `sha256-<hex>` index of an OCI one) is PUT after the image's manifest;
//   - a push whose manifest the registry refuses leaves no attachment: no `.att`/`.sbom` tag, no referrers index.
import t, { type Test as TapTest } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushScriptedBuilder } from '../helpers/scripted-builder.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-publish-'));
chmodSync(tmp, 0o755);
const root = path.join(tmp, 'root');
const home = path.join(tmp, 'home');
mkdirSync(home);
const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', SOURCE_DATE_EPOCH: '' };

let reg: TestRegistry;
let proxy: FaultProxy;
let builder: string;
const client = new RegistryClient();

t.before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.host);
  await pushScriptedBuilder(client.repository(reg.host, 'pub/builder'), 'latest', tmp, {
    assemble: '#!/bin/sh\nset -e\ncp -Rf /tmp/src/. ./\n',
    run: '#!/bin/sh\nexec cat index.html\n',
  });
  builder = `${proxy.host}/pub/builder:latest`;
});
t.teardown(async () => {
  await client.close();
  await proxy?.stop();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function source(): string {
  const dir = mkdtempSync(path.join(tmp, 'src-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'index.html'), 'published\n');
  return dir;
}
const ok = (t: TapTest, r: CliResult, what: string): void => void t.equal(r.code, 0, r.code === 0 ? what : r.stderr.slice(-2000));
const build = (repo: string, format: 'docker' | 'oci'): Promise<CliResult> =>
  runCli(['build', source(), builder, `${proxy.host}/${repo}:v1`, '--root', root, '--json', '--tls-verify=false', '--format', format, '--sbom', 'spdx'], { env });

for (const format of ['docker', 'oci'] as const) {
  t.test(`--format ${format}: the attachments' manifests follow the image's`, async (t) => {
    proxy.stats.reset();
    const r = await build(`pub/app-${format}`, format);
    ok(t, r, 'built and attested');
    const puts = proxy.stats.requests.filter((q) => q.method === 'PUT' && q.path.startsWith(`/v2/pub/app-${format}/manifests/`)).map((q) => q.path.split('/manifests/')[1]!);
    t.equal(puts[0], 'v1', 'the image manifest is the first manifest PUT');
    const after = puts.slice(1);
    t.ok(after.length >= 2, `attachments written after it: ${after.join(', ')}`);
    if (format === 'docker') t.same(after.filter((p) => /^sha256-[0-9a-f]{64}\.(att|sbom)$/.test(p)).length, 2, 'the .att and .sbom tags');
    else t.ok(after.some((p) => /^sha256-[0-9a-f]{64}$/.test(p)), 'the referrers tag index');
  });

  t.test(`--format ${format}: a refused image manifest leaves no attachment`, async (t) => {
    const repo = `pub/refused-${format}`;
    proxy.setFault({ kind: 'status', method: 'PUT', path: `/v2/${repo}/manifests/v1`, status: 400, times: 10, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: 'refused by the test' }] }) });
    const r = await build(repo, format);
    proxy.setFault(null);
    t.not(r.code, 0, 'the build fails');
    const tags = await client.repository(reg.host, repo).tags().catch(() => [] as string[]);
    t.same(tags, [], `no tag in ${repo}: neither the image nor an attachment (${tags.join(', ')})`);
    const manifestPuts = proxy.stats.requests.filter((q) => q.method === 'PUT' && q.path.startsWith(`/v2/${repo}/manifests/`) && !q.path.endsWith('/v1'));
    t.same(manifestPuts.map((q) => q.path), [], 'no attachment manifest was even sent');
  });
}
