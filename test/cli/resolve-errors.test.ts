// Issue 11: pull, FROM (build-image), inspect and copy resolve an image through one function
// (transport/resolve-image.ts). The same three crafted OCI layouts go through each command and through the library
// calls behind them: an index inside an index, a config with fewer diff_ids than the manifest has layers, and an
// index without this host's platform. Each command keeps the code and exit code it had before the resolve was
// shared: pulls and FROM exit 2, inspect and copy 1 (a missing platform: 2 everywhere); inspect still shows an
// inconsistent image, which the others refuse.
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { openEngine } from '../../src/pipeline/context.js';
import { pullImage } from '../../src/pipeline/pull.js';
import { resolveBase } from '../../src/containerfile/base.js';
import { MediaType } from '../../src/oci/media-types.js';
import { hostPlatform } from '../../src/oci/platform.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { copyImage } from '../../src/transport/copy.js';
import { OciLayout } from '../../src/transport/oci-layout.js';
import { openDestination, openSource } from '../../src/transport/open.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { runCli } from '../helpers/cli.js';
import { exitOf } from '../helpers/exit-code.js';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** A layout at `dir` tagged `t` holding what `kind` names. */
async function craft(dir: string, kind: 'nested' | 'counts' | 'platform'): Promise<string> {
  const layout = await OciLayout.openOrCreate(dir);
  const tar = Buffer.alloc(1024); // an empty tar: two zero blocks
  const layer = gzipSync(tar);
  const layerDesc = await layout.putBytes(layer, MediaType.ociLayerGzip);
  const host = hostPlatform();
  const diffIDs = kind === 'counts' ? [sha256Digest(tar)] : [sha256Digest(tar), sha256Digest(tar)];
  const configDesc = await layout.putBytes(
    json({ architecture: host.architecture, os: host.os, config: {}, rootfs: { type: 'layers', diff_ids: diffIDs } }),
    MediaType.ociConfig,
  );
  const manifestDesc = await layout.putBytes(
    json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [layerDesc, layerDesc] }),
    MediaType.ociManifest,
  );
  const entry = (d: Descriptor, platform: Platform): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform });
  let top = manifestDesc;
  if (kind === 'nested') {
    const inner = await layout.putBytes(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(manifestDesc, host)] }), MediaType.ociIndex);
    top = await layout.putBytes(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(inner, host)] }), MediaType.ociIndex);
  } else if (kind === 'platform') {
    const elsewhere: Platform = { os: 'linux', architecture: host.architecture === 'mips64le' ? 'riscv64' : 'mips64le' };
    top = await layout.putBytes(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(manifestDesc, elsewhere)] }), MediaType.ociIndex);
  }
  await layout.addToIndex(top, 't');
  return `oci:${dir}:t`;
}

interface Expect {
  code: string;
  exit: number;
  message: RegExp;
}
const nested = /nested indexes are not supported/;
const counts = /is inconsistent: 2 layers but 1 diff_ids/;
const platform = /has no linux\/(mips64le|riscv64) variant|has no .* variant; available: linux\/(mips64le|riscv64)/;
const expected: Record<'nested' | 'counts' | 'platform', { pull: Expect; from: Expect; inspect: Expect | 'ok'; copy: Expect }> = {
  nested: {
    pull: { code: 'ERR_MANIFEST_INVALID', exit: 2, message: nested },
    from: { code: 'ERR_MANIFEST_INVALID', exit: 2, message: nested },
    inspect: { code: 'ERR_MANIFEST_INVALID', exit: 1, message: /index/ },
    copy: { code: 'ERR_FORMAT_UNSUPPORTED', exit: 1, message: /index/ },
  },
  counts: {
    pull: { code: 'ERR_CONFIG_INVALID', exit: 2, message: counts },
    from: { code: 'ERR_CONFIG_INVALID', exit: 2, message: counts },
    inspect: 'ok',
    copy: { code: 'ERR_CONFIG_INVALID', exit: 1, message: counts },
  },
  platform: {
    pull: { code: 'ERR_PLATFORM_NOT_FOUND', exit: 2, message: platform },
    from: { code: 'ERR_PLATFORM_NOT_FOUND', exit: 2, message: platform },
    inspect: { code: 'ERR_PLATFORM_NOT_FOUND', exit: 2, message: platform },
    copy: { code: 'ERR_PLATFORM_NOT_FOUND', exit: 2, message: platform },
  },
};

function oneLine(t: Test, stderr: string, e: Expect): void {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning:'));
  t.equal(lines.length, 1, `one line: ${stderr}`);
  t.match(lines[0] ?? '', e.message);
  t.notMatch(stderr, /Unhandled|\n\s+at /, 'no stack trace');
}

t.test('one resolve, each command its own codes', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-resolve-errors-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');

  for (const kind of ['nested', 'counts', 'platform'] as const) {
    await t.test(kind, async (t) => {
      const where = await craft(path.join(dir, kind), kind);
      const want = expected[kind];

      await t.test('library: pullImage, resolveBase, copyImage', async (t) => {
        const engine = await openEngine({ root });
        t.teardown(() => engine.close());
        await t.rejects(exitOf(pullImage(engine, where, { metadataOnly: true })), { code: want.pull.code, exitCode: want.pull.exit, message: want.pull.message }, 'pull');
        await t.rejects(exitOf(resolveBase(engine, where)), { code: want.from.code, exitCode: want.from.exit, message: want.from.message }, 'FROM');
        const src = await openSource(where);
        const dst = await openDestination(`oci:${path.join(dir, `${kind}-copy`)}:t`);
        t.teardown(async () => {
          await src.close();
          await dst.close();
        });
        await t.rejects(exitOf(copyImage(src, dst)), { code: want.copy.code, exitCode: want.copy.exit, message: want.copy.message }, 'copy');
      });

      await t.test('CLI: pull, build-image FROM, inspect, copy', async (t) => {
        const pull = await runCli(['pull', where, '--root', root, '-q']);
        t.equal(pull.code, want.pull.exit, `pull: ${pull.stderr}`);
        oneLine(t, pull.stderr, want.pull);

        const ctx = path.join(dir, `${kind}-ctx`);
        await fs.mkdir(ctx, { recursive: true });
        await fs.writeFile(path.join(ctx, 'Containerfile'), `FROM ${where}\nLABEL x=y\n`);
        const from = await runCli(['build-image', '--root', root, '-q', ctx, `oci:${path.join(dir, `${kind}-out`)}:t`]);
        t.equal(from.code, want.from.exit, `build-image: ${from.stderr}`);
        oneLine(t, from.stderr, want.from);

        const inspect = await runCli(['inspect', where]);
        if (want.inspect === 'ok') {
          t.equal(inspect.code, 0, `inspect shows it: ${inspect.stderr}`);
          t.match(inspect.stdout, /Layers: +2 /);
        } else {
          t.equal(inspect.code, want.inspect.exit, `inspect: ${inspect.stderr}`);
          oneLine(t, inspect.stderr, want.inspect);
        }

        const copy = await runCli(['copy', where, `oci:${path.join(dir, `${kind}-cli-copy`)}:t`, '-q']);
        t.equal(copy.code, want.copy.exit, `copy: ${copy.stderr}`);
        oneLine(t, copy.stderr, want.copy);
      });
    });
  }
});
