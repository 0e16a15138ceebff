import t from 'tap';
import { defaultFormatFor, parseImageLocation, formatImageLocation } from '../../src/transport/parse.js';

t.test('locations of every transport', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['busybox', { transport: 'docker', ref: { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', shortName: 'busybox' } }],
    ['docker://quay.io/a/b:1', { transport: 'docker', ref: { registry: 'quay.io', repository: 'a/b', tag: '1' } }],
    ['127.0.0.1:5000/x/y:v1', { transport: 'docker', ref: { registry: '127.0.0.1:5000', repository: 'x/y', tag: 'v1' } }],
    ['name:tag', { transport: 'docker', ref: { registry: 'docker.io', repository: 'library/name', tag: 'tag', shortName: 'name' } }],
    ['oci:/tmp/layout', { transport: 'oci', dir: '/tmp/layout' }],
    ['oci:/tmp/layout:v1.0', { transport: 'oci', dir: '/tmp/layout', tag: 'v1.0' }],
    ['oci:rel/dir:a/b:c', { transport: 'oci', dir: 'rel/dir', tag: 'a/b:c' }],
    ['oci-archive:/tmp/a.tar', { transport: 'oci-archive', file: '/tmp/a.tar' }],
    ['oci-archive:/tmp/a.tar:latest', { transport: 'oci-archive', file: '/tmp/a.tar', tag: 'latest' }],
    ['docker-archive:/tmp/d.tar', { transport: 'docker-archive', file: '/tmp/d.tar' }],
    ['docker-archive:/tmp/d.tar:localhost:5000/app:v2', { transport: 'docker-archive', file: '/tmp/d.tar', ref: { registry: 'localhost:5000', repository: 'app', tag: 'v2' } }],
  ];
  for (const [input, want] of cases) t.same(parseImageLocation(input), want, input);
  t.equal(formatImageLocation(parseImageLocation('docker-archive:/x.tar:app')), 'docker-archive:/x.tar:docker.io/library/app:latest');
  t.equal(formatImageLocation(parseImageLocation('oci:/d:t')), 'oci:/d:t');
});

t.test('bad locations are one-line ERR_INVALID_REFERENCE errors naming the transports', async (t) => {
  for (const bad of ['', 'ftp:/x/y', 'oci:', 'oci::tag', 'oci:/d:-bad', 'oci:/d:has space', 'docker-archive:/x.tar:app@sha256:' + 'a'.repeat(64), 'containers-storage:foo', 'docker-daemon:foo:latest', 'Upper/Case', 'dir:/tmp/x']) {
    let err: (Error & { code?: string }) | undefined;
    try {
      parseImageLocation(bad);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    t.equal(err?.code, 'ERR_INVALID_REFERENCE', bad);
    t.notMatch(err?.message ?? '', /\n/);
  }
  t.throws(() => parseImageLocation('ftp:/x/y'), /unknown transport "ftp:".*docker:\/\/REF, oci:DIR\[:TAG\], oci-archive:FILE\[:TAG\], docker-archive:FILE\[:REF\]/);
  t.throws(() => parseImageLocation('containers-storage:foo'), /not supported/);
});

t.test('defaultFormatFor: OCI for layouts and oci-archives, Docker for registries and docker-archives, by string or location', async (t) => {
  const table: Array<[string, 'oci' | 'docker']> = [
    ['oci:/x:t', 'oci'],
    ['oci:/x', 'oci'],
    ['oci-archive:/x.tar', 'oci'],
    ['docker-archive:/x.tar', 'docker'],
    ['docker://quay.io/a/b:1', 'docker'],
    ['example.com/a:1', 'docker'],
  ];
  for (const [where, want] of table) {
    t.equal(defaultFormatFor(where), want, where);
    t.equal(defaultFormatFor(parseImageLocation(where)), want, `${where} (parsed)`);
  }
  t.throws(() => defaultFormatFor('nope:/x'), { code: 'ERR_INVALID_REFERENCE' });
});
