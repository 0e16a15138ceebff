// containers-registries.conf(5): parsing, checking and merging (registries-conf.ts) and the rules that use the
// result (registries-rules.ts), as tables with no I/O. Semantics checked against containers/image sysregistriesv2
// and pkg/shortnames.
import t from 'tap';
import { S2IError } from '../../src/errors.js';
import { formatReference, parseReference } from '../../src/oci/reference.js';
import { mergeRegistriesConf, parseAliasCache, parseRegistriesConf, type RegistriesConf } from '../../src/registry/registries-conf.js';
import { findRegistry, prefixMatch, pullSources, pushTarget, resolveShortName } from '../../src/registry/registries-rules.js';
import { exitCodeFor } from '../../src/cli/error-table.js';

const D = `sha256:${'b'.repeat(64)}`;

function conf(text: string, ...dropIns: string[]): RegistriesConf {
  return mergeRegistriesConf([parseRegistriesConf(text, '/etc/containers/registries.conf'), ...dropIns.map((d, i) => parseRegistriesConf(d, `/etc/containers/registries.conf.d/${i}.conf`, { dropIn: true }))]);
}

const names = (c: RegistriesConf, image: string): string[] => pullSources(c, parseReference(image)).map((s) => `${s.mirror ? 'mirror ' : ''}${formatReference(s.ref)}${s.insecure ? ' insecure' : ''}${s.blockedBy ? ' blocked' : ''}`);

t.test('the man page example: mirrors in order, then the rewritten location', async (t) => {
  const c = conf(`
unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
location = "registry.com"

[[registry.mirror]]
location = "mirror.registry.com"
`);
  t.same(names(c, 'example.com/foo/image:latest'), [
    'mirror example-mirror-0.local/mirror-for-foo/image:latest',
    'mirror example-mirror-1.local/mirrors/foo/image:latest insecure',
    'internal-registry-for-example.com/bar/image:latest',
  ]);
  t.same(names(c, 'registry.com/image:latest'), ['mirror mirror.registry.com/image:latest', 'registry.com/image:latest'], 'only the matching table\'s mirrors');
  t.same(names(c, 'other.com/image:1'), ['other.com/image:1'], 'no table: the name itself');
  t.same(c.search, ['example.com']);
  t.equal(c.registries.find((r) => r.prefix === 'example.com/foo')?.origin.line, 4, 'each table knows its line');
  t.equal(c.registries.find((r) => r.prefix === 'registry.com')?.mirrors[0]?.origin.line, 20);
});

t.test('prefix matching: longest prefix, separators, wildcards', async (t) => {
  const table: Array<[string, string, number]> = [
    ['example.com/foo/img:1', 'example.com/foo', 15],
    ['example.com/foobar/img:1', 'example.com/foo', -1],
    ['example.com/foo', 'example.com/foo', 15],
    ['example.com/foo:1', 'example.com/foo', 15],
    [`example.com/foo@${D}`, 'example.com/foo', 15],
    ['example.com:5000/foo', 'example.com', -1],
    ['example.com/foo:1', 'example.com/foo:1', 17],
    ['a.example.com/x:1', '*.example.com', 13],
    ['b.a.example.com/x:1', '*.example.com', 15],
    ['a.example.com:5000/x:1', '*.example.com', 13],
    ['example.com/x:1', '*.example.com', -1],
    ['other.com/a.example.com/x', '*.example.com', -1],
    ['a.example.community/x', '*.example.com', -1],
  ];
  for (const [name, prefix, want] of table) t.equal(prefixMatch(name, prefix), want, `${name} ~ ${prefix}`);
  const c = conf(`
[[registry]]
prefix = "*.example.com"
blocked = true
[[registry]]
location = "a.example.com"
[[registry]]
location = "a.example.com/team"
insecure = true
`);
  t.equal(findRegistry(c, 'a.example.com/team/x:1')?.prefix, 'a.example.com/team');
  t.equal(findRegistry(c, 'a.example.com/other/x:1')?.prefix, '*.example.com', 'the same length: the first prefix in sorted order, as containers/image');
  t.equal(findRegistry(conf('[[registry]]\nprefix = "*.example.com"\nlocation = "m.io"\n[[registry]]\nlocation = "ab.example.com"'), 'ab.example.com/x')?.prefix, 'ab.example.com', 'a longer prefix wins');
  t.equal(findRegistry(c, 'b.example.com/x:1')?.prefix, '*.example.com');
  t.same(names(c, 'b.example.com/x:1'), ['b.example.com/x:1 blocked'], 'a wildcard prefix without location: no rewrite, its settings apply');
  t.same(names(c, 'a.example.com/team/x:1'), ['a.example.com/team/x:1 insecure']);
});

t.test('docker.io names are matched in their normalised form', async (t) => {
  const c = conf(`
[[registry]]
prefix = "docker.io/library"
location = "mirror.local:5000/hub"
[[registry]]
prefix = "docker.io/busybox"
location = "nowhere.local/x"
`);
  t.same(names(c, 'busybox:1'), ['mirror.local:5000/hub/busybox:1'], 'library/ is part of the name, as the man page says');
  t.same(names(c, 'docker.io/busybox'), ['mirror.local:5000/hub/busybox:latest']);
});

t.test('digest-only and tag-only mirrors, mirror-by-digest-only', async (t) => {
  const c = conf(`
[[registry]]
location = "quay.io/s2i"
[[registry.mirror]]
location = "digests.local/s2i"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.local/s2i"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.local/s2i"
pull-from-mirror = "all"

[[registry]]
location = "registry.example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.local"
`);
  t.same(names(c, 'quay.io/s2i/b:1'), ['mirror tags.local/s2i/b:1', 'mirror all.local/s2i/b:1', 'quay.io/s2i/b:1'], 'a tag: the digest-only mirror is skipped');
  t.same(names(c, `quay.io/s2i/b@${D}`), [`mirror digests.local/s2i/b@${D}`, `mirror all.local/s2i/b@${D}`, `quay.io/s2i/b@${D}`]);
  t.same(names(c, 'registry.example.com/a:1'), ['registry.example.com/a:1'], 'mirror-by-digest-only: no mirror for a tag');
  t.same(names(c, `registry.example.com/a@${D}`), [`mirror m.local/a@${D}`, `registry.example.com/a@${D}`]);
});

t.test('blocked: the origin is refused, its mirrors still serve (NeverContactSource)', async (t) => {
  const c = conf(`
[[registry]]
prefix = "quay.io"
location = "quay.io"
blocked = true
[[registry.mirror]]
location = "mirror.local/quay"
`);
  t.same(names(c, 'quay.io/a/b:1'), ['mirror mirror.local/quay/a/b:1', 'quay.io/a/b:1 blocked']);
  const e = t.throws(() => pushTarget(c, parseReference('quay.io/a/b:1'))) as S2IError;
  t.equal(e.code, 'ERR_REGISTRY_BLOCKED');
  t.match(e.message, /quay\.io\/a\/b:1 is blocked by registries\.conf \(prefix "quay\.io", blocked = true at \/etc\/containers\/registries\.conf:2\)/);
});

t.test('push: the rewritten location, never a mirror', async (t) => {
  const c = conf(`
[[registry]]
prefix = "quay.io/s2i"
location = "internal.local:5000/s2i"
insecure = true
[[registry.mirror]]
location = "mirror.local/s2i"
[[registry]]
location = "internal.local:5000/blocked"
blocked = true
[[registry]]
prefix = "quay.io/x"
location = "internal.local:5000/blocked/x"
`);
  const p = pushTarget(c, parseReference('quay.io/s2i/app:v1'));
  t.equal(formatReference(p.ref), 'internal.local:5000/s2i/app:v1');
  t.equal(p.insecure, true);
  t.equal(formatReference(pushTarget(c, parseReference('elsewhere.io/a:1')).ref), 'elsewhere.io/a:1');
  t.throws(() => pushTarget(c, parseReference('quay.io/x/app:1')), { code: 'ERR_REGISTRY_BLOCKED' }, 'a rewrite into a blocked location is refused too');
});

t.test('short names: aliases first, then the search registries in order, by short-name-mode', async (t) => {
  const base = `
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
[aliases]
"s2i/ruby" = "quay.io/centos7/ruby-27-centos7"
`;
  const r = (c: RegistriesConf, n: string) => resolveShortName(c, parseReference(n));
  const c = conf(base);
  t.same(r(c, 's2i/ruby:1').candidates.map(formatReference), ['quay.io/centos7/ruby-27-centos7:1'], 'alias with the tag added');
  t.equal(r(c, 's2i/ruby:1').how, 'alias');
  t.same(r(c, `s2i/ruby@${D}`).candidates.map(formatReference), [`quay.io/centos7/ruby-27-centos7@${D}`]);
  t.same(r(c, 'busybox').candidates.map(formatReference), ['registry.fedoraproject.org/busybox:latest', 'docker.io/library/busybox:latest'], 'permissive by default: every search registry in order');
  t.same(r(c, 'library/busybox').candidates.map(formatReference), ['registry.fedoraproject.org/library/busybox:latest', 'docker.io/library/busybox:latest'], 'the path as typed');
  t.same(r(c, 'quay.io/a/b:1').candidates.map(formatReference), ['quay.io/a/b:1'], 'a qualified name is itself');
  t.same(r(c, 'localhost/a').candidates.map(formatReference), ['localhost/a:latest']);

  const enforcing = conf(base, 'short-name-mode = "enforcing"');
  const e = t.throws(() => r(enforcing, 'busybox')) as S2IError;
  t.equal(e.code, 'ERR_SHORT_NAME');
  t.equal(exitCodeFor(e), 2);
  t.match(e.message, /short name "busybox:latest" is ambiguous with short-name-mode = "enforcing" .*registry\.fedoraproject\.org\/busybox:latest, docker\.io\/library\/busybox:latest/);
  t.same(r(enforcing, 's2i/ruby').candidates.map(formatReference), ['quay.io/centos7/ruby-27-centos7:latest'], 'an alias is never ambiguous');
  t.same(r(conf('unqualified-search-registries = ["quay.io"]\nshort-name-mode = "enforcing"'), 'x').candidates.map(formatReference), ['quay.io/x:latest'], 'one search registry is no ambiguity');

  const none = conf('[aliases]\n"other" = "quay.io/o"');
  t.throws(() => r(none, 'busybox'), { code: 'ERR_SHORT_NAME', message: /no unqualified-search-registries are set in \/etc\/containers\/registries\.conf: use a fully qualified name \(e\.g\. docker\.io\/library\/busybox:latest\)/ });
  t.same(r(mergeRegistriesConf([]), 'busybox').candidates.map(formatReference), ['docker.io/library/busybox:latest'], 'no registries.conf at all: docker.io, as before');
  t.equal(r(mergeRegistriesConf([]), 'busybox').how, 'default');

  const reset = conf(base, '[aliases]\n"s2i/ruby" = ""');
  t.same(r(reset, 's2i/ruby').candidates.map(formatReference), ['registry.fedoraproject.org/s2i/ruby:latest', 'docker.io/s2i/ruby:latest'], 'an empty alias in a later file erases it');
  const cache = mergeRegistriesConf([parseRegistriesConf(base, '/f')], parseAliasCache('[aliases]\n"s2i/ruby" = "cache.local/ruby"', '/c'));
  t.same(r(cache, 's2i/ruby').candidates.map(formatReference), ['cache.local/ruby:latest'], 'short-name-aliases.conf comes first');
});

t.test('drop-ins: later files replace a prefix, the search list and the mode; aliases merge', async (t) => {
  const c = conf(
    `unqualified-search-registries = ["a.io"]
short-name-mode = "enforcing"
[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "old.local"
[aliases]
"x" = "a.io/x"
"y" = "a.io/y"`,
    `[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "new.local"`,
    `unqualified-search-registries = []
short-name-mode = "disabled"
[aliases]
"y" = "b.io/y"`,
  );
  t.same(names(c, 'quay.io/a:1'), ['mirror new.local/a:1', 'quay.io/a:1']);
  t.same(c.search, [], 'an empty list in a later file clears it');
  t.equal(c.searchOrigin, '/etc/containers/registries.conf.d/1.conf');
  t.equal(c.shortNameMode, 'disabled');
  t.same([...c.aliases].map(([k, v]) => `${k}=${v.value}`), ['x=a.io/x', 'y=b.io/y']);
  t.equal(conf('').shortNameMode, 'permissive', 'the default mode');
});

t.test('the version 1 format is converted in the main file', async (t) => {
  const c = conf(`
[registries.search]
registries = ['registry1.com', 'registry2.com']
[registries.insecure]
registries = ['registry3.com']
[registries.block]
registries = ['registry.untrusted.com']
`);
  t.same(c.search, ['registry1.com', 'registry2.com']);
  t.same(names(c, 'registry3.com/a:1'), ['registry3.com/a:1 insecure']);
  t.same(names(c, 'registry.untrusted.com/a:1'), ['registry.untrusted.com/a:1 blocked']);
});

t.test('bad input: one line naming the file, the line and what to fix; ERR_REGISTRIES_CONF, exit 64', async (t) => {
  const F = '/etc/containers/registries.conf';
  const table: Array<[string, RegExp, { dropIn?: boolean }?]> = [
    ['[[registry]\nlocation = "a.io"', /registries\.conf:1: invalid TOML: .*\(column \d+\); fix the syntax/],
    ['unqualified-search-registries = ["a.io"]\nunqualified-search-registries = ["b.io"]', /registries\.conf:2: invalid TOML/],
    ['\n[[registry]]\nlocation = "a.io"\nmirrors = []', /registries\.conf:4: unknown key "mirrors" in \[\[registry\]\]; the keys of \[\[registry\]\] are prefix, location, insecure, blocked, mirror-by-digest-only, mirror/],
    ['serach = ["a.io"]', /registries\.conf:1: unknown key "serach" in registries\.conf/],
    ['[foo]\nx = 1', /registries\.conf:1: unknown key "foo"/],
    ['[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\ninsecure = "yes"', /registries\.conf:5: insecure in \[\[registry\.mirror\]\] must be true or false, not string "yes"/],
    ['[[registry]]\nlocation = "a.io"\npull-from-mirror = "all"', /registries\.conf:3: unknown key "pull-from-mirror" in \[\[registry\]\]; it belongs in a \[\[registry\.mirror\]\] table/],
    ['[[registry]]\nlocation = "a.io"\n\n[[registry]]\nlocation = "a.io"', /registries\.conf:4: prefix "a\.io" is already defined at \/etc\/containers\/registries\.conf:1: merge the two/],
    ['[[registry]]\nprefix = "x.io"\nlocation = "a.io"\n[[registry]]\nprefix = "y.io"\nlocation = "a.io"\ninsecure = true', /registries\.conf:4: registry "a\.io" is also defined at .*:1 with insecure = false: give both the same insecure/],
    ['[[registry]]\nprefix = "x.io"', /registries\.conf:1: \[\[registry\]\] prefix "x\.io" has no location/],
    ['[[registry]]\ninsecure = true', /registries\.conf:1: \[\[registry\]\] has neither prefix nor location/],
    ['[[registry]]\nlocation = "https://a.io"', /registries\.conf:1: location "https:\/\/a\.io" has a URL scheme/],
    ['[[registry]]\nlocation = "a.io/UPPER"', /registries\.conf:1: location "a\.io\/UPPER" is not host\[:port\]\[\/path\]/],
    ['[[registry]]\nprefix = "*.a.io/x"\nlocation = "b.io"', /prefix "\*\.a\.io\/x" is not .*\*\.example\.com/],
    ['[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\ninsecure = true', /registries\.conf:3: \[\[registry\.mirror\]\] has no location/],
    ['[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "sometimes"', /registries\.conf:3: pull-from-mirror "sometimes" is not one of all, digest-only, tag-only/],
    ['[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "tag-only"', /registries\.conf:4: pull-from-mirror cannot be set on a mirror of a registry with mirror-by-digest-only/],
    ['unqualified-search-registries = "a.io"', /registries\.conf:1: unqualified-search-registries must be an array of strings/],
    ['unqualified-search-registries = ["a.io/ns"]', /registries\.conf:1: unqualified-search-registries entry "a\.io\/ns" is not host\[:port\]/],
    ['short-name-mode = "prompt"', /registries\.conf:1: short-name-mode "prompt" is not one of enforcing, permissive, disabled/],
    ['[aliases]\n"quay.io/x" = "quay.io/x"', /registries\.conf:2: alias name "quay\.io\/x" must be a short name/],
    ['[aliases]\n"x:1" = "quay.io/x"', /alias name "x:1" must be a short name without registry, tag or digest/],
    ['[aliases]\n"x" = "x"', /registries\.conf:2: alias "x" = "x" must be a fully qualified name/],
    ['[aliases]\n"x" = "quay.io/x:1"', /alias "x" = "quay\.io\/x:1" must be a fully qualified name without tag or digest/],
    ['[registries.search]\nregistries = ["a.io"]\n[[registry]]\nlocation = "b.io"', /mixes the version 1 format/],
    ['[registries.search]\nregistries = ["a.io"]', /drop-in files must use the version 2 format/, { dropIn: true }],
  ];
  for (const [text, want, opts] of table) {
    let err: unknown;
    try {
      parseRegistriesConf(text, F, opts);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof S2IError, text);
    const e = err as S2IError;
    t.equal(e.code, 'ERR_REGISTRIES_CONF', text);
    t.equal(exitCodeFor(e), 64, text);
    t.match(e.message, want, text);
    t.notMatch(e.message, /\n/, 'one line');
  }
  t.throws(() => parseAliasCache('other = 1\n[aliases]\n"x" = "quay.io/x"', '/c'), { code: 'ERR_REGISTRIES_CONF', message: /\/c:1: unknown key "other"/ });
});

t.test('settings containers/image knows and this engine does not use are accepted', async (t) => {
  t.doesNotThrow(() => parseRegistriesConf('credential-helpers = ["containers-auth.json"]\nadditional-layer-store-auth-helper = "x"', '/f'));
  t.doesNotThrow(() => parseRegistriesConf('', '/f'));
  t.doesNotThrow(() => parseRegistriesConf('# only comments\n', '/f'));
});
