// The sync file format (skopeo sync's YAML), parsed with no I/O: what a good file selects, and the FILE:LINE:COL
// message for each kind of mistake.
import t from 'tap';
import { parseSyncFile } from '../../src/sync/yaml-source.js';

const hex = 'c'.repeat(64);

t.test('a good file', async (t) => {
  const text = `# skopeo-sync(1)'s example, and more
registry.example.com:
    images:
        busybox: []
        empty:
        redis:
            - "1.0"
            - 1.10
            - "sha256:${hex}"
    images-by-tag-regex:
        nginx: ^1\\.13\\.[12]-alpine-perl$
    images-by-semver:
        alpine: ">= 3.12.0"
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
`;
  const sel = await parseSyncFile(text, 'sync.yml');
  t.same(
    sel.map((s) => [`${s.repository.registry}/${s.repository.repository}`, s.refs, s.filter?.describe, s.where]),
    [
      ['registry.example.com/busybox', undefined, undefined, 'sync.yml:4:9'],
      ['registry.example.com/empty', undefined, undefined, 'sync.yml:5:9'],
      ['registry.example.com/redis', ['1.0', '1.10', `sha256:${hex}`], undefined, 'sync.yml:6:9'],
      ['registry.example.com/nginx', undefined, 'tags matching /^1\\.13\\.[12]-alpine-perl$/', 'sync.yml:11:9'],
      ['registry.example.com/alpine', undefined, 'versions >= 3.12.0', 'sync.yml:13:9'],
      ['quay.io/coreos/etcd', ['latest'], undefined, 'sync.yml:22:9'],
    ],
  );
  t.same(sel[0]!.settings, { credentials: { username: 'john', password: 'this is a secret' }, tlsVerify: true, certDir: '/home/john/certs' }, 'settings apply to every repository of the registry, wherever written');
  t.same(sel[5]!.settings, { tlsVerify: false });
  const nginx = sel[3]!.filter!;
  t.same(['1.13.1-alpine-perl', '1.13.2-alpine-perl', '1.13.3-alpine-perl', 'x1.13.1-alpine-perl'].map(nginx.keep), [true, true, false, false]);
  const alpine = sel[4]!.filter!;
  t.same(['3.11.9', '3.12.0', '3.20', '4.0.0', 'edge'].map(alpine.keep), [false, true, true, true, false]);
});

t.test('mistakes: FILE:LINE:COL and what to write', async (t) => {
  const rows: Array<[string, RegExp]> = [
    ['', /^f: the file names no registries/],
    ['- a\n- b\n', /^f:1:1: the top level must be a mapping/],
    ['quay.io: [a]\n', /^f:1:10: the block of quay\.io must be a mapping/],
    ['not a host!:\n  images: {a: []}\n', /^f:1:1: "not a host!" is not a registry host/],
    ['quay.io:\n  images: {A: []}\n', /^f:2:12: "A" is not a repository path/],
    ['quay.io:\n  images: {a: "1.0"}\n', /^f:2:15: images\.a must be a list of tags and digests/],
    ['quay.io:\n  images: {a: [[1]]}\n', /^f:2:16: a tag of a must be a single value/],
    ['quay.io:\n  images: {a: []}\n  credentials: {username: u}\n', /^f:3:16: credentials need both username and password/],
    ['quay.io:\n  images: {a: []}\n  credentials: {user: u, password: p}\n', /^f:3:17: unknown key "user" in credentials/],
    ['quay.io:\n  images: &x {a: []}\n  images-by-tag-regex: *x\n', /^f:3:24: anchors and aliases are not supported/],
    ['quay.io:\n  images: {a: []}\n---\nx: 1\n', /^f:3:1: Source contains multiple documents/],
    ['quay.io:\n  images-by-semver: {a: ""}\n', /^f:2:25: "" is not a semver constraint/],
    ['quay.io:\n  cert-dir: ""\n  images: {a: []}\n', /^f:2:13: cert-dir must name a directory/],
  ];
  for (const [text, re] of rows) {
    await t.rejects(parseSyncFile(text, 'f'), { code: 'ERR_SYNC_FILE', message: re }, JSON.stringify(text));
  }
});
