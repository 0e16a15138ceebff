import t from 'tap';
import { exitCodeFor } from '../helpers/exit-code.js';
import { S2IError } from '../../src/errors.js';
import { formatReference, isLoopbackHost, parseReference, qualified, registryApiHost, type Reference } from '../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

const valid: Array<[string, Reference]> = [
  ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', shortName: 'busybox' }],
  ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', shortName: 'busybox' }],
  ['docker.io/library/busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
  ['index.docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
  ['docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
  ['openshift/ruby-27', { registry: 'docker.io', repository: 'openshift/ruby-27', tag: 'latest', shortName: 'openshift/ruby-27' }],
  ['127.0.0.1:5000/a/b:t', { registry: '127.0.0.1:5000', repository: 'a/b', tag: 't' }],
  ['localhost/x', { registry: 'localhost', repository: 'x', tag: 'latest' }],
  ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x', tag: 'latest' }],
  ['Quay.IO/ns/img:v1', { registry: 'quay.io', repository: 'ns/img', tag: 'v1' }],
  [`quay.io/ns/img@${D}`, { registry: 'quay.io', repository: 'ns/img', digest: D }],
  [`quay.io/ns/img:v1@${D}`, { registry: 'quay.io', repository: 'ns/img', tag: 'v1', digest: D }],
  ['docker://quay.io/ns/img:v1', { registry: 'quay.io', repository: 'ns/img', tag: 'v1' }],
  ['docker://busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', shortName: 'busybox' }],
  ['[::1]:5000/a:b', { registry: '[::1]:5000', repository: 'a', tag: 'b' }],
  ['reg.example.com/a.b_c__d---e/f:Tag_1.-x', { registry: 'reg.example.com', repository: 'a.b_c__d---e/f', tag: 'Tag_1.-x' }],
  [`a/${'b'.repeat(200)}`, { registry: 'docker.io', repository: `a/${'b'.repeat(200)}`, tag: 'latest', shortName: `a/${'b'.repeat(200)}` }],
  [`x:${'t'.repeat(128)}`, { registry: 'docker.io', repository: 'library/x', tag: 't'.repeat(128), shortName: 'x' }],
];

t.test('valid references', async (t) => {
  for (const [input, want] of valid) t.same(parseReference(input), want, input);
  t.strictSame(parseReference('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', shortName: 'busybox' }, 'no digest key');
  t.strictSame(parseReference('library/busybox@' + D), { registry: 'docker.io', repository: 'library/busybox', digest: D, shortName: 'library/busybox' }, 'a short name keeps its path as typed');
});

const invalid: Array<[string, RegExp?]> = [
  ['', /empty/],
  ['docker://', /empty/],
  ['Busybox', /lowercase/],
  ['quay.io/NS/img', /lowercase/],
  ['a//b', /empty path component/],
  ['a/', /empty path component/],
  ['/a', /empty path component/],
  ['busybox:', /tag/],
  ['busybox:-x', /tag/],
  ['busybox:.x', /tag/],
  [`busybox:${'t'.repeat(129)}`, /tag/],
  ['busybox:a b', /tag/],
  ['busybox@sha256:abc', /digest/],
  [`busybox@sha256:${'A'.repeat(64)}`, /digest/],
  [`busybox@md5:${'a'.repeat(32)}`, /digest/],
  ['busybox@', /digest/],
  [':tag', /empty/],
  ['@' + D, /empty/],
  [`a/${'b'.repeat(254)}`, /255/],
  ['registry.example.com:5000', /no repository/],
  ['localhost:5000', /no repository/],
  ['127.0.0.1:5000', /no repository/],
  ['host:5000/', /empty/],
  ['../x', /registry host/],
  ['quay.io/../x', /path component/],
  ['a/./b', /path component/],
  ['a-/b', /path component/],
  ['a..b', /path component/],
  ['a___b', /path component/],
  ['host:99999/a', /registry host/],
  ['bad_host.com/a', /registry host/],
  ['-bad.com/a', /registry host/],
  ['a:b:c', /colon/],
  ['a b', /path component/],
  ['a'.repeat(64).replace(/a/g, 'f'), /image ID/],
  ['oci:/tmp/layout', undefined],
  ['quay.io/ns/img:v1@sha256:../../etc/passwd', /digest/],
];

t.test('invalid references', async (t) => {
  for (const [input, why] of invalid) {
    t.throws(() => parseReference(input), { code: 'ERR_INVALID_REFERENCE' }, JSON.stringify(input).slice(0, 80));
    try {
      parseReference(input);
    } catch (e) {
      const err = e as S2IError;
      t.equal(exitCodeFor(err), 1);
      t.match(err.message, '[docker://][HOST[:PORT]/]NAME[:TAG][@sha256:HEX]', 'message shows the grammar');
      t.ok(err.message.includes(JSON.stringify(input).slice(0, 100)), 'message quotes the input');
      if (why) t.match(err.message, why, `${input.slice(0, 40)}: ${String(why)}`);
    }
  }
  t.throws(() => parseReference(42 as unknown as string), { code: 'ERR_INVALID_REFERENCE' });
});

t.test('formatReference round-trips', async (t) => {
  t.equal(formatReference(parseReference('busybox')), 'docker.io/library/busybox:latest');
  t.equal(formatReference(parseReference(`quay.io/a/b:v@${D}`)), `quay.io/a/b:v@${D}`);
  t.equal(formatReference(parseReference(`quay.io/a/b@${D}`)), `quay.io/a/b@${D}`);
  // A formatted reference is qualified: the short name is gone (`qualified`).
  for (const [input, ref] of valid) t.same(parseReference(formatReference(ref)), qualified(ref), `round trip ${input.slice(0, 40)}`);
});

t.test('registryApiHost', async (t) => {
  t.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
  t.equal(registryApiHost('quay.io'), 'quay.io');
  t.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
});

t.test('isLoopbackHost', async (t) => {
  const yes = ['localhost', 'localhost:5000', 'LOCALHOST', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '::1', '[::1]', '[::1]:5000',
    '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]:5000'];
  const no = ['quay.io', 'quay.io:443', '128.0.0.1', '127.0.0.256', '127.0.0', '10.0.0.1:5000', '::2', '[::2]:5000', 'localhost.example.com',
    '127.0.0.1.example.com', '', '::ffff:10.0.0.1', '1::1', 'zz::1'];
  for (const h of yes) t.ok(isLoopbackHost(h), h);
  for (const h of no) t.notOk(isLoopbackHost(h), h);
});
