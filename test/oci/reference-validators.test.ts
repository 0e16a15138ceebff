// The validators src/oci/reference.ts exports for the parts of a reference (the one grammar in src/: the
// registry client checks host, repository and tag with them), table by table, and that parseReference agrees.
import t from 'tap';
import { isValidPathComponent, isValidRegistryHost, isValidRepositoryPath, isValidTag, parseReference } from '../../src/oci/reference.js';

const hosts: Array<[string, boolean]> = [
  ['docker.io', true],
  ['quay.io', true],
  ['Quay.IO', true],
  ['localhost', true],
  ['localhost:5000', true],
  ['127.0.0.1:5000', true],
  ['reg-1.example.com:443', true],
  ['a', true],
  ['[::1]', true],
  ['[::1]:5000', true],
  ['[fe80::1%25eth0]', false],
  ['host:1', true],
  ['host:65535', true],
  ['host:0', false],
  ['host:65536', false],
  ['host:99999', false],
  ['host:123456', false],
  ['host:', false],
  ['host:x', false],
  ['host:80:80', false],
  ['', false],
  ['.', false],
  ['a..b', false],
  ['-a.com', false],
  ['a-.com', false],
  ['bad_host.com', false],
  ['a b', false],
  ['host/path', false],
  ['user@host', false],
  ['[::1', false],
  ['[::1]x', false],
  ['[::1]:', false],
  ['[zz::1]', false],
  ['::1', false],
];

const components: Array<[string, boolean]> = [
  ['a', true],
  ['a0', true],
  ['a.b', true],
  ['a_b', true],
  ['a__b', true],
  ['a-b', true],
  ['a---b', true],
  ['a.b_c__d---e', true],
  ['', false],
  ['A', false],
  ['a___b', false],
  ['a..b', false],
  ['a._b', false],
  ['.a', false],
  ['a.', false],
  ['-a', false],
  ['a-', false],
  ['_a', false],
  ['..', false],
  ['a b', false],
  ['a/b', false],
  ['a:b', false],
];

const repositories: Array<[string, boolean]> = [
  ['library/busybox', true],
  ['a', true],
  ['a/b/c/d', true],
  [`a/${'b'.repeat(253)}`, true], // 255 characters
  [`a/${'b'.repeat(254)}`, false], // 256
  ['', false],
  ['/a', false],
  ['a/', false],
  ['a//b', false],
  ['a/../b', false],
  ['a/./b', false],
  ['NS/img', false],
  ['a/b c', false],
  ['a/b:c', false],
  ['a/b@c', false],
  ['a\nb', false],
];

const tags: Array<[string, boolean]> = [
  ['latest', true],
  ['1.36', true],
  ['_', true],
  ['9', true],
  ['Tag_1.-x', true],
  ['t'.repeat(128), true],
  ['t'.repeat(129), false],
  ['', false],
  ['.x', false],
  ['-x', false],
  ['a b', false],
  ['a:b', false],
  ['a/b', false],
  ['a@b', false],
  ['a+b', false],
  ['sha256:abc', false],
  ['é', false],
];

t.test('isValidRegistryHost', async (t) => {
  for (const [s, ok] of hosts) t.equal(isValidRegistryHost(s), ok, JSON.stringify(s));
});

t.test('isValidPathComponent', async (t) => {
  for (const [s, ok] of components) t.equal(isValidPathComponent(s), ok, JSON.stringify(s));
});

t.test('isValidRepositoryPath', async (t) => {
  for (const [s, ok] of repositories) t.equal(isValidRepositoryPath(s), ok, JSON.stringify(s).slice(0, 60));
});

t.test('isValidTag', async (t) => {
  for (const [s, ok] of tags) t.equal(isValidTag(s), ok, JSON.stringify(s).slice(0, 60));
});

// parseReference is built from the same validators: a host, path or tag it refuses is refused by them, and back.
t.test('parseReference agrees with the validators', async (t) => {
  const parses = (s: string): boolean => {
    try {
      parseReference(s);
      return true;
    } catch {
      return false;
    }
  };
  // A host with a "." or ":" (or localhost) is read as the registry part.
  for (const [h, ok] of hosts) {
    if (h.includes('/') || h === '' || !(h.includes('.') || h.includes(':') || h.startsWith('localhost'))) continue;
    t.equal(parses(`${h}/x`), ok, `host ${JSON.stringify(h)}`);
  }
  for (const [r, ok] of repositories) {
    if (r.includes(':') || r.includes('@') || r === '' || r.length > 250) continue;
    t.equal(parses(`quay.io/${r}`), ok, `repository ${JSON.stringify(r)}`);
  }
  for (const [tag, ok] of tags) {
    if (tag.includes('@') || tag.includes('/') || tag.includes(':')) continue;
    t.equal(parses(`quay.io/x:${tag}`), ok, `tag ${JSON.stringify(tag).slice(0, 40)}`);
  }
});
