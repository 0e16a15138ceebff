// `oci-s2i inspect --check ocp4.6|quay-legacy`: one crafted manifest per rule, each in an OCI layout, run
// through the real CLI. Exit 0 only when the image would import; every problem on its own line with a fix.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { OciLayout } from '../../src/transport/oci-layout.js';
import { cli, cliAsync, mapParallel } from '../transport/fixtures.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const config = (layers: number): Buffer =>
  Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i' } }, rootfs: { type: 'layers', diff_ids: Array(layers).fill(d('9')) } }));
const gz = { mediaType: MediaType.dockerLayerGzip, digest: d('1'), size: 10 };

t.test('the --check table', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = await OciLayout.openOrCreate(dir);
  const cfg1 = await layout.putBytes(config(1), MediaType.dockerConfig);
  const ociCfg = { ...cfg1, mediaType: MediaType.ociConfig };
  const docker = (extra: Record<string, unknown> = {}, layers: unknown[] = [gz]) => ({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: cfg1, layers, ...extra });

  const rows: Array<{ tag: string; doc: Record<string, unknown>; type: string; profile?: string; rules: string[] }> = [
    { tag: 'good', doc: docker(), type: MediaType.dockerManifest, rules: [] },
    { tag: 'oci', doc: { schemaVersion: 2, mediaType: MediaType.ociManifest, config: ociCfg, layers: [{ ...gz, mediaType: MediaType.ociLayerGzip }] }, type: MediaType.ociManifest, rules: ['OCI manifest', 'config type', 'layer 0 has type'] },
    { tag: 'no-mediatype', doc: (({ mediaType: _m, ...rest }) => rest)(docker()), type: MediaType.dockerManifest, rules: ['no "mediaType" field'] },
    { tag: 'oci-config', doc: docker({ config: ociCfg }), type: MediaType.dockerManifest, rules: ['config type'] },
    { tag: 'zstd', doc: docker({}, [{ ...gz, mediaType: MediaType.ociLayerZstd }]), type: MediaType.dockerManifest, rules: ['zstd-compressed'] },
    { tag: 'plain-tar', doc: docker({}, [{ ...gz, mediaType: MediaType.dockerLayer }]), type: MediaType.dockerManifest, rules: ['only gzip Docker layers'] },
    { tag: 'foreign', doc: docker({}, [{ ...gz, mediaType: MediaType.dockerForeignLayerGzip, urls: ['https://example.com/l'] }]), type: MediaType.dockerManifest, rules: ['foreign'] },
    { tag: 'layer-annotations', doc: docker({}, [{ ...gz, annotations: { a: 'b' } }]), type: MediaType.dockerManifest, rules: ['layer 0 has annotations'] },
    { tag: 'annotations', doc: docker({ annotations: { a: 'b' } }), type: MediaType.dockerManifest, rules: ['manifest has annotations'] },
    { tag: 'subject', doc: docker({ subject: { mediaType: MediaType.dockerManifest, digest: d('5'), size: 1 } }), type: MediaType.dockerManifest, rules: ['subject'] },
    { tag: 'artifact', doc: docker({ artifactType: 'application/x-sbom' }), type: MediaType.dockerManifest, rules: ['artifactType'] },
    { tag: 'diff-ids', doc: docker({}, [gz, gz]), type: MediaType.dockerManifest, rules: ['1 diff_ids for 2 layers'] },
  ];
  const good = sha256Digest(Buffer.from(JSON.stringify(docker())));
  const list = { schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [{ mediaType: MediaType.dockerManifest, digest: good, size: Buffer.byteLength(JSON.stringify(docker())), platform: { os: 'linux', architecture: 'amd64' } }] };
  const index = { ...list, mediaType: MediaType.ociIndex };
  rows.push({ tag: 'list', doc: list, type: MediaType.dockerList, rules: ['manifest list'] });
  rows.push({ tag: 'index', doc: index, type: MediaType.ociIndex, rules: ['OCI image index'] });
  rows.push({ tag: 'list', doc: list, type: MediaType.dockerList, profile: 'quay-legacy', rules: [] });
  rows.push({ tag: 'index', doc: index, type: MediaType.ociIndex, profile: 'quay-legacy', rules: ['OCI image index'] });
  rows.push({ tag: 'oci', doc: rows[1]!.doc, type: MediaType.ociManifest, profile: 'quay-legacy', rules: ['OCI manifest', 'config type', 'layer 0 has type'] });

  for (const row of rows) {
    const desc = await layout.putBytes(Buffer.from(JSON.stringify(row.doc)), row.type);
    await layout.addToIndex(desc, row.tag);
  }
  const results = await mapParallel(rows, 6, (row) => cliAsync(['inspect', '--check', row.profile ?? 'ocp4.6', `oci:${dir}:${row.tag}`]));
  for (const [i, row] of rows.entries()) {
    const profile = row.profile ?? 'ocp4.6';
    const r = results[i]!;
    if (row.rules.length === 0) {
      t.equal(r.code, 0, `${row.tag} ${profile} passes: ${r.stderr}`);
      t.match(r.stdout, /^OK: .* would import into/);
      continue;
    }
    t.equal(r.code, 1, `${row.tag} ${profile} fails`);
    const lines = r.stdout.trim().split('\n');
    t.equal(lines.length, row.rules.length, `${row.tag}: one line per problem:\n${r.stdout}`);
    row.rules.forEach((rule, i) => t.match(lines[i], rule, `${row.tag} ${profile}`));
    t.ok(lines.every((l) => / — fix: \S/.test(l)), 'every line has its fix');
    t.match(r.stderr, /^oci-s2i: .* would not import into .*problem\(s\) listed above\n$/);
  }
  // --json: machine-readable rule ids
  const j = cli(['inspect', '--check', 'ocp4.6', '--json', `oci:${dir}:oci`]);
  t.equal(j.code, 1);
  const out = JSON.parse(j.stdout) as { ok: boolean; problems: Array<{ rule: string }> };
  t.equal(out.ok, false);
  t.same(out.problems.map((p) => p.rule), ['manifest-type', 'config-type', 'layer-type']);
  // A list inside a list is read by the one resolve (resolveEntry), as copy and pull read it: refused in one line.
  const listBytes = Buffer.from(JSON.stringify(list));
  const nested = { ...list, manifests: [{ mediaType: MediaType.dockerList, digest: sha256Digest(listBytes), size: listBytes.length, platform: { os: 'linux', architecture: 'amd64' } }] };
  await layout.addToIndex(await layout.putBytes(Buffer.from(JSON.stringify(nested)), MediaType.dockerList), 'nested');
  const n = cli(['inspect', '--check', 'quay-legacy', `oci:${dir}:nested`]);
  t.equal(n.code, 1, n.stderr);
  t.match(n.stderr, /^oci-s2i: the linux\/amd64 entry of .* is another index: nested indexes are not supported\n$/);
  // bad flag value → usage error
  t.equal(cli(['inspect', '--check', 'ocp3.11', `oci:${dir}:good`]).code, 64);
});
