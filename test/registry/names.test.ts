// The registry client checks the host, repository and tag it puts into URLs with src/oci/reference.ts's grammar,
// the one parseReference uses: a name one accepts the other accepts. The client once kept its own copy of the
// rules, which took any 1-5 digit port (`host:0`, `host:99999`) that parseReference refused.
import t from 'tap';
import { checkReference, checkRegistry, checkRepository } from '../../src/registry/names.js';
import { loginHost } from '../../src/registry/login.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/oci/reference.js';

const accepts = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

t.test('a port outside 1-65535 is refused by the client as by parseReference', async (t) => {
  for (const host of ['host:0', 'host:65536', 'host:99999', 'localhost:0', '127.0.0.1:70000', '[::1]:0']) {
    t.throws(() => checkRegistry(host), { code: 'ERR_INVALID_REFERENCE', message: /invalid registry host .*expected host\[:port\]/ }, host);
    t.throws(() => loginHost(host), { code: 'ERR_INVALID_REFERENCE' }, `login ${host}`);
    t.throws(() => parseReference(`${host}/x`), { code: 'ERR_INVALID_REFERENCE' }, `parseReference ${host}/x`);
  }
  const client = new RegistryClient();
  t.teardown(() => client.close());
  t.throws(() => client.repository('host:99999', 'x'), { code: 'ERR_INVALID_REFERENCE' }, 'a Repository is not made for it');
  await t.rejects(client.ping('localhost:0'), { code: 'ERR_INVALID_REFERENCE' }, 'ping does not go out');
});

t.test('the client and parseReference accept the same names', async (t) => {
  const hosts = ['quay.io', 'Quay.IO', 'localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'host:65535', 'reg-1.example.com', 'a..b', '-a.com', 'bad_host.com', 'host:', '[::1', 'a b'];
  for (const h of hosts) t.equal(accepts(() => checkRegistry(h)), accepts(() => parseReference(`${h}/x`)), `host ${h}`);
  const repos = ['library/busybox', 'a/b/c', 'a.b_c__d---e/f', 'NS/img', 'a//b', 'a/../b', 'a___b', `a/${'b'.repeat(200)}`];
  for (const r of repos) t.equal(accepts(() => checkRepository(r)), accepts(() => parseReference(`quay.io/${r}`)), `repository ${r.slice(0, 40)}`);
  t.throws(() => checkRepository(`a/${'b'.repeat(254)}`), { code: 'ERR_INVALID_REFERENCE', message: /invalid repository name/ }, '256 characters');
  for (const tag of ['latest', 'Tag_1.-x', 't'.repeat(128), 't'.repeat(129), '.x', '-x', 'a b']) {
    t.equal(accepts(() => checkReference(tag)), accepts(() => parseReference(`quay.io/x:${tag}`)), `tag ${tag.slice(0, 40)}`);
  }
  t.throws(() => checkReference('-x'), { code: 'ERR_INVALID_REFERENCE', message: /invalid tag "-x": up to 128 of \[A-Za-z0-9_.-\], not starting with \. or -/ });
  t.throws(() => checkReference('sha256:../../etc/passwd'), { code: 'ERR_INVALID_DIGEST' }, 'a digest goes through parseDigest');
});
