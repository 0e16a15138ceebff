import t from 'tap';
import { digestOf, isValidDigest, parseDigest, sha256Digest } from '../../src/oci/digest.js';

const hex64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

t.test('valid digests', async (t) => {
  t.same(parseDigest(`sha256:${hex64}`), { algorithm: 'sha256', hex: hex64 });
  t.same(parseDigest(`sha512:${'0'.repeat(128)}`), { algorithm: 'sha512', hex: '0'.repeat(128) });
  t.ok(isValidDigest(`sha256:${hex64}`));
});

t.test('invalid digests, traversal attempts included (CVE-2024-3727)', async (t) => {
  const bad = [
    '',
    'sha256',
    'sha256:',
    hex64,
    `sha256:${hex64.toUpperCase()}`,
    `sha256:${hex64}0`,
    `sha256:${hex64.slice(1)}`,
    `sha256:${hex64.slice(0, 63)}g`,
    `SHA256:${hex64}`,
    `sha384:${'0'.repeat(96)}`,
    `sha512:${hex64}`,
    `md5:${'0'.repeat(32)}`,
    'sha256:../../../../etc/passwd',
    `sha256:../${hex64.slice(3)}`,
    `../sha256:${hex64}`,
    `sha256:${hex64}/../x`,
    `sha256:${hex64}\n`,
    ` sha256:${hex64}`,
    `sha256:${hex64.slice(0, 32)}/${hex64.slice(33)}`,
    `sha256:${hex64.slice(0, 63)}%`,
    `sha256+b64:${hex64}`,
    `sha256:sha256:${hex64}`,
  ];
  for (const d of bad) {
    t.notOk(isValidDigest(d), JSON.stringify(d));
    t.throws(() => parseDigest(d), { code: 'ERR_INVALID_DIGEST' }, JSON.stringify(d));
  }
  t.throws(() => parseDigest(undefined as unknown as string), { code: 'ERR_INVALID_DIGEST' });
  t.throws(() => parseDigest(7 as unknown as string), { code: 'ERR_INVALID_DIGEST' });
  t.notOk(isValidDigest(null as unknown as string));
});

t.test('sha256Digest', async (t) => {
  t.equal(sha256Digest(''), `sha256:${hex64}`);
  t.equal(sha256Digest(Buffer.alloc(0)), `sha256:${hex64}`);
  t.equal(sha256Digest('abc'), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.ok(isValidDigest(sha256Digest('x')));
});

t.test('digestOf: the one in-memory digest helper, by algorithm (registry/verify.ts and the blob store call it)', async (t) => {
  const sha512abc = 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';
  const table: Array<[Buffer | string, 'sha256' | 'sha512' | undefined, string]> = [
    ['', undefined, `sha256:${hex64}`],
    [Buffer.alloc(0), 'sha256', `sha256:${hex64}`],
    ['abc', 'sha256', 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abc', 'sha512', `sha512:${sha512abc}`],
    [Buffer.from('abc'), 'sha512', `sha512:${sha512abc}`],
  ];
  for (const [data, algorithm, want] of table) {
    const got = algorithm ? digestOf(data, algorithm) : digestOf(data);
    t.equal(got, want, `${algorithm ?? 'default'} of ${JSON.stringify(String(data))}`);
    t.same(parseDigest(got).algorithm, algorithm ?? 'sha256');
  }
  t.equal(sha256Digest('abc'), digestOf('abc', 'sha256'));
});
