// The pure parts of src/sign with tables: the key envelope (round trip, wrong passphrase, damage), DSSE, the
// payload's strict reading, policy.json parsing and scope lookup, identities and namespaces, registries.d files.
import t from 'tap';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { decryptWithPassphrase, encryptWithPassphrase } from '../../src/sign/encrypted.js';
import { generateKeyPair, loadPrivateKey } from '../../src/sign/key.js';
import { signDsse } from '../../src/sign/dsse.js';
import { signBytes, signaturePayload, verifyPayload } from '../../src/sign/payload.js';
import { parsePolicy, requirementsFor } from '../../src/sign/policy.js';
import { identityAccepted, policyIdentity, policyNamespaces } from '../../src/sign/identity.js';
import { loadPolicy, usesSigstoreAttachments } from '../../src/sign/policy-files.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof S2IError ? e.code : 'not an S2IError';
  }
  return undefined;
};

t.test('the encrypted envelope: round trip, wrong passphrase, damage', async (t) => {
  const sealed = encryptWithPassphrase(Buffer.from('secret key bytes'), Buffer.from('pw'));
  const env = JSON.parse(sealed.toString()) as { kdf: { params: { N: number; r: number; p: number } }; ciphertext: string };
  t.same(env.kdf.params, { N: 32768, r: 8, p: 1 }, 'the parameters skopeo 1.9 reads');
  t.equal(decryptWithPassphrase(sealed, Buffer.from('pw'), 'k').toString(), 'secret key bytes');
  t.equal(codeOf(() => decryptWithPassphrase(sealed, Buffer.from('other'), 'k')), 'ERR_SIGN_PASSPHRASE');
  const flipped = { ...env, ciphertext: Buffer.from(Buffer.from(env.ciphertext, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64') };
  t.equal(codeOf(() => decryptWithPassphrase(Buffer.from(JSON.stringify(flipped)), Buffer.from('pw'), 'k')), 'ERR_SIGN_PASSPHRASE', 'an altered ciphertext does not open');
  const cases: Array<[string, unknown]> = [
    ['not json', 'nope'],
    ['huge N', { ...env, kdf: { ...env.kdf, params: { N: 1 << 22, r: 8, p: 1 } } }],
    ['other cipher', { ...env, cipher: { name: 'aes', nonce: '' } }],
    ['no kdf', { cipher: {}, ciphertext: '' }],
  ];
  for (const [name, doc] of cases) t.equal(codeOf(() => decryptWithPassphrase(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), Buffer.from('pw'), 'k')), 'ERR_SIGN_KEY', name);
});

t.test('keys: generated pair loads; an RSA key or a bare PEM is refused', async (t) => {
  const { privatePem, publicPem } = generateKeyPair(Buffer.from('pw'));
  const key = loadPrivateKey(privatePem, Buffer.from('pw'), 'k');
  t.equal(key.publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicPem);
  t.equal(loadPrivateKey(privatePem.replaceAll('SIGSTORE', 'COSIGN'), Buffer.from('pw'), 'k').privateKey.asymmetricKeyType, 'ec', 'cosign\'s older PEM type');
  t.equal(codeOf(() => loadPrivateKey(publicPem, Buffer.from('pw'), 'k')), 'ERR_SIGN_KEY');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'der' });
  const b64 = encryptWithPassphrase(rsa, Buffer.from('pw')).toString('base64');
  t.equal(codeOf(() => loadPrivateKey(`-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${b64}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`, Buffer.from('pw'), 'k')), 'ERR_SIGN_KEY');
});

t.test('DSSE: the signature is ECDSA-SHA256 over PAE', async (t) => {
  const { privatePem } = generateKeyPair(Buffer.from('pw'));
  const key = loadPrivateKey(privatePem, Buffer.from('pw'), 'k');
  const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
  const env = signDsse(key, 'application/vnd.in-toto+json', payload);
  t.equal(Buffer.from(env.payload, 'base64').toString(), payload.toString());
  t.equal(env.signatures.length, 1);
  // PAE written out by hand from the DSSE protocol text.
  const pae = Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} ${payload.toString()}`);
  t.ok(verify('sha256', pae, createPublicKey(key.privateKey), Buffer.from(env.signatures[0]!.sig, 'base64')));
  t.notOk(verify('sha256', payload, createPublicKey(key.privateKey), Buffer.from(env.signatures[0]!.sig, 'base64')), 'not over the bare payload');
});

t.test('the simple-signing payload is read as strictly as containers/image', async (t) => {
  const { privatePem } = generateKeyPair(Buffer.from('pw'));
  const key = loadPrivateKey(privatePem, Buffer.from('pw'), 'k');
  const d = `sha256:${'a'.repeat(64)}`;
  const payload = signaturePayload('example.com/a/b:v1', d, 'oci-s2i', 1700000000);
  t.equal(payload.toString(), `{"critical":{"identity":{"docker-reference":"example.com/a/b:v1"},"image":{"docker-manifest-digest":"${d}"},"type":"cosign container image signature"},"optional":{"creator":"oci-s2i","timestamp":1700000000}}`);
  t.same(verifyPayload([key.publicKey], payload, signBytes(key.privateKey, payload)), { dockerReference: 'example.com/a/b:v1', manifestDigest: d });
  const signed = (doc: unknown): string | object => {
    const b = Buffer.from(JSON.stringify(doc));
    return verifyPayload([key.publicKey], b, signBytes(key.privateKey, b));
  };
  const critical = { identity: { 'docker-reference': 'x/y:1' }, image: { 'docker-manifest-digest': d }, type: 'cosign container image signature' };
  t.match(signed({ critical: { ...critical, extra: 1 }, optional: null }), /exactly type, image and identity/);
  t.match(signed({ critical: { ...critical, type: 'atomic container signature' }, optional: null }), /unrecognized signature type/);
  t.match(signed({ critical: { ...critical, image: { 'docker-manifest-digest': 'sha256:short' } }, optional: null }), /invalid docker-manifest-digest/);
  t.match(signed({ critical }), /exactly critical and optional/);
  t.same(signed({ critical, optional: null }), { dockerReference: 'x/y:1', manifestDigest: d }, 'cosign writes optional: null');
  t.match(verifyPayload([key.publicKey], payload, 'not base64!'), /not base64/);
});

t.test('policy.json: parsed strictly; scopes from the most specific', async (t) => {
  const p = parsePolicy(
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'example.com/team/app:v1': [{ type: 'insecureAcceptAnything' }],
          'example.com/team': [{ type: 'sigstoreSigned', keyPath: '/k.pub', signedIdentity: { type: 'matchRepository' } }],
          '*.example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k.gpg' }],
          '': [{ type: 'sigstoreSigned', keyData: Buffer.from('PEM').toString('base64') }],
        },
        'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] },
      },
    }),
    'p.json',
  );
  const req = (image: string): string => {
    const ref = parseReference(image);
    return requirementsFor(p, 'docker', policyIdentity(ref), policyNamespaces(ref))[0]!.type;
  };
  t.equal(req('example.com/team/app:v1'), 'insecureAcceptAnything', 'the exact identity');
  t.equal(req('example.com/team/app:v2'), 'sigstoreSigned', 'the namespace');
  t.equal(req('registry.example.com/x:1'), 'signedBy', 'the wildcard');
  t.equal(req('quay.io/x:1'), 'sigstoreSigned', 'the transport default');
  t.equal(requirementsFor(p, 'oci', undefined, [])[0]!.type, 'reject', 'the default');
  const bad: Array<[string, unknown]> = [
    ['not an object', []],
    ['no default', { transports: {} }],
    ['empty default', { default: [] }],
    ['unknown key', { default: [{ type: 'reject' }], other: 1 }],
    ['unknown type', { default: [{ type: 'magic' }] }],
    ['reject with a key', { default: [{ type: 'reject', keyPath: 'x' }] }],
    ['no key', { default: [{ type: 'sigstoreSigned' }] }],
    ['two keys', { default: [{ type: 'sigstoreSigned', keyPath: 'a', keyPaths: ['b'] }] }],
    ['bad identity', { default: [{ type: 'sigstoreSigned', keyPath: 'a', signedIdentity: { type: 'matchAnything' } }] }],
    ['exactReference without reference', { default: [{ type: 'sigstoreSigned', keyPath: 'a', signedIdentity: { type: 'exactReference' } }] }],
    ['bad scope', { default: [{ type: 'reject' }], transports: { docker: { 'UPPER CASE': [{ type: 'reject' }] } } }],
  ];
  for (const [name, doc] of bad) t.equal(codeOf(() => parsePolicy(JSON.stringify(doc), 'p.json')), 'ERR_POLICY_INVALID', name);
  t.equal(codeOf(() => parsePolicy('{', 'p.json')), 'ERR_POLICY_INVALID', 'malformed JSON');
});

t.test('identities and namespaces as containers/image names them', async (t) => {
  t.equal(policyIdentity(parseReference('busybox')), 'docker.io/library/busybox:latest');
  t.equal(policyIdentity(parseReference(`a.io/b@sha256:${'1'.repeat(64)}`)), `a.io/b@sha256:${'1'.repeat(64)}`);
  t.same(policyNamespaces(parseReference('reg.a.example.com:5000/ns/app:1')), ['reg.a.example.com:5000/ns/app', 'reg.a.example.com:5000/ns', 'reg.a.example.com:5000', '*.a.example.com', '*.example.com', '*.com']);
  const d = `sha256:${'2'.repeat(64)}`;
  const rows: Array<[string, Parameters<typeof identityAccepted>[0], string, boolean]> = [
    ['a.io/b:1', { type: 'matchRepoDigestOrExact' }, 'a.io/b:1', true],
    ['a.io/b:1', { type: 'matchRepoDigestOrExact' }, 'a.io/b:2', false],
    ['a.io/b:1', { type: 'matchRepoDigestOrExact' }, 'a.io/b', false],
    [`a.io/b@${d}`, { type: 'matchRepoDigestOrExact' }, 'a.io/b:anything', true],
    [`a.io/b@${d}`, { type: 'matchRepoDigestOrExact' }, 'a.io/c:anything', false],
    ['a.io/b:1', { type: 'matchExact' }, 'a.io/b:1', true],
    [`a.io/b@${d}`, { type: 'matchExact' }, 'a.io/b:1', false],
    ['a.io/b:1', { type: 'matchRepository' }, 'a.io/b:7', true],
    ['a.io/b:1', { type: 'matchRepository' }, 'a.io/bb:1', false],
    ['a.io/b:1', { type: 'exactReference', dockerReference: 'z.io/y:3' }, 'z.io/y:3', true],
    ['a.io/b:1', { type: 'exactReference', dockerReference: 'z.io/y:3' }, 'a.io/b:1', false],
    ['a.io/b:1', { type: 'exactRepository', dockerRepository: 'z.io/y' }, 'z.io/y:9', true],
    ['mirror.io/ns/b:1', { type: 'remapIdentity', prefix: 'mirror.io/ns', signedPrefix: 'origin.io/team' }, 'origin.io/team/b:1', true],
    ['mirror.io/nsx/b:1', { type: 'remapIdentity', prefix: 'mirror.io/ns', signedPrefix: 'origin.io/team' }, 'origin.io/team/x/b:1', false],
    ['busybox:1', { type: 'matchRepoDigestOrExact' }, 'docker.io/library/busybox:1', true],
    ['a.io/b:1', { type: 'matchRepoDigestOrExact' }, 'not a reference!', false],
  ];
  for (const [image, rule, claimed, want] of rows) t.equal(identityAccepted(rule, parseReference(image), claimed), want, `${image} ${rule.type} ${claimed}`);
});

t.test('policy and registries.d files: which are read, merged, refused', async (t) => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-policy-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const etc = path.join(home, 'etc');
  t.equal(await loadPolicy({ home, etc }), undefined, 'no file at all: no policy');
  mkdirSync(path.join(etc, 'containers/registries.d'), { recursive: true });
  writeFileSync(path.join(etc, 'containers/policy.json'), '{"default":[{"type":"reject"}]}');
  writeFileSync(path.join(etc, 'containers/registries.d/a.yaml'), 'docker:\n  a.io/team:\n    use-sigstore-attachments: true\n  a.io/team/off:\n    use-sigstore-attachments: false\n');
  writeFileSync(path.join(etc, 'containers/registries.d/ignored.txt'), 'not: [yaml');
  const sys = await loadPolicy({ home, etc });
  t.equal(sys?.policy.file, path.join(etc, 'containers/policy.json'), 'the system file');
  const d = sys!.registriesD;
  const uses = (image: string): boolean => {
    const ref = parseReference(image);
    return usesSigstoreAttachments(d, policyIdentity(ref), policyNamespaces(ref));
  };
  t.equal(uses('a.io/team/app:1'), true);
  t.equal(uses('a.io/team/off:1'), false);
  t.equal(uses('b.io/x:1'), false, 'no entry, no default-docker');
  mkdirSync(path.join(home, '.config/containers'), { recursive: true });
  writeFileSync(path.join(home, '.config/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
  t.equal((await loadPolicy({ home, etc }))?.policy.file, path.join(home, '.config/containers/policy.json'), 'the user file wins');
  writeFileSync(path.join(etc, 'containers/registries.d/b.yaml'), 'docker:\n  a.io/team:\n    use-sigstore-attachments: true\n');
  await t.rejects(loadPolicy({ home, etc }), { code: 'ERR_POLICY_INVALID', message: /defined both in/ });
  writeFileSync(path.join(etc, 'containers/registries.d/b.yaml'), 'default-docker:\n  use-sigstore-attachments: maybe\n');
  await t.rejects(loadPolicy({ home, etc }), { code: 'ERR_POLICY_INVALID', message: /not true or false/ });
  writeFileSync(path.join(etc, 'containers/registries.d/b.yaml'), 'default-docker: [unclosed\n');
  await t.rejects(loadPolicy({ home, etc }), { code: 'ERR_POLICY_INVALID', message: /not valid YAML/ });
  await t.rejects(loadPolicy({ home, etc, policyFile: path.join(home, 'missing.json') }), { code: 'ERR_POLICY_INVALID', message: /does not exist/ });
});
