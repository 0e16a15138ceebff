import t from 'tap';
import { resolveDestination, assembleUser, assembleRuntimeUser, destinationPaths } from '../../src/s2i/destination.js';
import { parseImageMetadata, maxImageMetadataBytes } from '../../src/s2i/image-metadata.js';

t.test('resolveDestination precedence', async (t) => {
  t.equal(resolveDestination(undefined, {}), '/tmp');
  t.equal(resolveDestination(undefined, { 'io.s2i.destination': '/old' }), '/old');
  t.equal(resolveDestination(undefined, { 'io.openshift.s2i.destination': '/opt/dest/', 'io.s2i.destination': '/old' }), '/opt/dest');
  t.equal(resolveDestination('/flag', { 'io.openshift.s2i.destination': '/opt/dest' }), '/flag');
  t.equal(resolveDestination('', { 'io.openshift.s2i.destination': '/x//y/../z' }), '/x/z');
  t.throws(() => resolveDestination('relative', {}), { code: 'ERR_DESTINATION', message: /--destination/ });
  t.throws(() => resolveDestination(undefined, { 'io.openshift.s2i.destination': 'tmp' }), { code: 'ERR_DESTINATION', message: /label/ });
  t.same(destinationPaths('/tmp'), { src: '/tmp/src', scripts: '/tmp/scripts', artifacts: '/tmp/artifacts' });
});

t.test('assembleUser precedence', async (t) => {
  const L = { 'io.openshift.s2i.assemble-user': '431' };
  t.equal(assembleUser('1001', L, '5'), '1001');
  t.equal(assembleUser(undefined, L, '5'), '431');
  t.equal(assembleUser(undefined, {}, '5'), '5');
  t.equal(assembleUser(undefined, {}, undefined), '');
  t.equal(assembleUser('', { 'io.openshift.s2i.assemble-user': '0' }, '5'), '0');
  t.equal(assembleRuntimeUser(undefined, { 'io.openshift.s2i.assemble-runtime-user': '77' }, '5'), '77');
  t.equal(assembleRuntimeUser(undefined, {}, '5'), '5');
});

t.test('parseImageMetadata: good', async (t) => {
  t.same(parseImageMetadata(Buffer.from('{"labels":[{"a":"1"},{"b":"2","a":"3"}]}')), { a: '3', b: '2' });
  t.same(parseImageMetadata(Buffer.from('{}')), {});
  t.same(parseImageMetadata(Buffer.from('{"labels":[],"other":1}')), {});
});

t.test('parseImageMetadata: bad', async (t) => {
  const bad = ['', 'not json', '[]', 'null', '{"labels":{}}', '{"labels":["x"]}', '{"labels":[{"a":1}]}', '{"labels":[{"":"x"}]}', '{"labels":[[]]}'];
  for (const b of bad) t.throws(() => parseImageMetadata(Buffer.from(b)), { code: 'ERR_IMAGE_METADATA' }, b);
  t.throws(() => parseImageMetadata(Buffer.alloc(maxImageMetadataBytes + 1, 0x20)), { code: 'ERR_IMAGE_METADATA', message: /limit/ });
});
