// Bad input to `oci-s2i sync`: a sync file that is not YAML, has an unknown key, a regular expression or semver
// constraint that does not compile, a tag that cannot be one, a registry without images; a destination that is a
// file (or, for an archive, a directory), a destination with a tag, flags that conflict, two images bound for one
// name. Each: one line naming what to fix (and for a sync file, FILE:LINE:COLUMN), exit 64, before any network.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliAsync, mapParallel } from '../transport/fixtures.js';
import { writeTinyImage } from '../cli/tiny-image.js';
import { OciLayout } from '../../src/transport/oci-layout.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-sync-bad-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

function yamlFile(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

t.test('one line, exit 64', async (t) => {
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const dir = path.join(tmp, 'a-dir');
  mkdirSync(dir);
  // Two layouts that both hold example.com/a/b:1 (different images): one destination name for two images.
  for (const l of ['l1', 'l2']) {
    const img = await writeTinyImage(path.join(tmp, l), tmp, { os: 'linux', architecture: l === 'l1' ? 'amd64' : 'arm64' });
    await (await OciLayout.openExisting(path.join(tmp, l))).addToIndex(img.manifest, 'example.com/a/b:1');
  }
  const dest = 'docker://127.0.0.1:9/x'; // never reached: every case fails before
  const cases: Array<[string[], RegExp]> = [
    [['--src', 'yaml', yamlFile('bad.yaml', 'quay.io:\n  images: [\n'), dest], /bad\.yaml:\d+:\d+: .*; the file is not valid YAML$/],
    [['--src', 'yaml', yamlFile('key.yaml', 'quay.io:\n  image:\n    a: []\n'), dest], /key\.yaml:2:3: unknown key "image" for the registry quay\.io; the keys are images, images-by-tag-regex, /],
    [['--src', 'yaml', yamlFile('re.yaml', 'quay.io:\n  images-by-tag-regex:\n    a/b: "^(1\\\\.["\n'), dest], /re\.yaml:3:10: the regular expression for a\/b does not compile/],
    [['--src', 'yaml', yamlFile('semver.yaml', 'quay.io:\n  images-by-semver:\n    a: ">= one"\n'), dest], /semver\.yaml:3:8: ">= one" is not a semver constraint/],
    [['--src', 'yaml', yamlFile('tag.yaml', 'quay.io:\n  images:\n    a: ["-bad"]\n'), dest], /tag\.yaml:3:9: "-bad" is neither a tag/],
    [['--src', 'yaml', yamlFile('none.yaml', 'quay.io:\n  tls-verify: false\n'), dest], /none\.yaml:1:1: the registry quay\.io names no images/],
    [['--src', 'yaml', yamlFile('dup.yaml', 'quay.io:\n  images: {a: []}\n  images: {b: []}\n'), dest], /dup\.yaml:3:3: Map keys must be unique/],
    [['--src', 'yaml', yamlFile('tls.yaml', 'quay.io:\n  images: {a: []}\n  tls-verify: maybe\n'), dest], /tls\.yaml:3:15: tls-verify must be true or false/],
    [['--src', 'yaml', path.join(tmp, 'missing.yaml'), dest], /cannot read the sync file .*missing\.yaml \(ENOENT\)/],
    [['--src', 'yaml', dir, dest], /sync file .*a-dir is a directory/],
    [['quay.io/a/b:1', `oci:${file}`], /is a file; an OCI layout destination is a directory/],
    [['quay.io/a/b:1', `oci-archive:${dir}`], /is a directory; an archive destination is a file path/],
    [['quay.io/a/b:1', 'docker://127.0.0.1:9/x:tag'], /without a tag or digest/],
    [['quay.io/a/b:1', 'nowhere'], /cannot tell what the destination "nowhere" is/],
    [['quay.io/a/b:1'], /sync needs at least one SOURCE before the DESTINATION/],
    [[], /sync takes SOURCE\.\.\. DESTINATION/],
    [['--all', '--platform', 'linux/amd64', 'quay.io/a/b:1', dest], /--all and --platform cannot be combined/],
    [['--keep-going', 'maybe', 'quay.io/a/b:1', dest], /--keep-going takes true or false/],
    [['--append-suffix', '/x', 'quay.io/a/b:1', dest], /--append-suffix/],
    [['--src', 'oci', path.join(tmp, 'l1'), path.join(tmp, 'l2'), dest], /would both be written to docker:\/\/127\.0\.0\.1:9\/x\/a\/b:1; sync them with --scoped/],
  ];
  const results = await mapParallel(cases, 4, ([args]) => cliAsync(['sync', ...args]));
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /^oci-s2i: /);
    t.match(r.stderr.trim(), re, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
