// The naming rules of a sync, as tables: sources and destinations as the command line gives them, the tags that
// travel with their images, and where each image goes (prefix, --scoped, --append-suffix, layouts).
import t from 'tap';
import {
  destinationName,
  formatDestination,
  isCompanionTag,
  layoutEntryName,
  parseSourceArg,
  parseSyncDestination,
  type SyncDestination,
} from '../../src/sync/names.js';
import { formatReference, parseReference } from '../../src/oci/reference.js';

const hex = 'a'.repeat(64);

t.test('sources', async (t) => {
  const rows: Array<[string, string | undefined, unknown]> = [
    ['quay.io/s2i/builder:1.0', undefined, { kind: 'docker', ref: { registry: 'quay.io', repository: 's2i/builder', tag: '1.0' }, wholeRepository: false }],
    ['quay.io/s2i/builder', undefined, { kind: 'docker', ref: { registry: 'quay.io', repository: 's2i/builder' }, wholeRepository: true }],
    ['docker://localhost:5000/a', 'docker', { kind: 'docker', ref: { registry: 'localhost:5000', repository: 'a' }, wholeRepository: true }],
    [`quay.io/a@sha256:${hex}`, undefined, { kind: 'docker', ref: { registry: 'quay.io', repository: 'a', digest: `sha256:${hex}` }, wholeRepository: false }],
    // A short name: registries.conf's search registries and aliases decide where it is read from.
    ['busybox', undefined, { kind: 'docker', ref: { registry: 'docker.io', repository: 'library/busybox', shortName: 'busybox' }, wholeRepository: true }],
    ['sync.yml', 'yaml', { kind: 'yaml', file: 'sync.yml' }],
    ['oci:/media/usb', undefined, { kind: 'oci', dir: '/media/usb' }],
    ['oci:/media/usb:quay.io/a/b:1', undefined, { kind: 'oci', dir: '/media/usb', name: 'quay.io/a/b:1' }],
    ['/media/usb', 'dir', { kind: 'oci', dir: '/media/usb' }],
    ['/media/usb.tar', 'oci-archive', { kind: 'oci-archive', file: '/media/usb.tar' }],
    ['oci-archive:/x.tar:q.io/a:1', undefined, { kind: 'oci-archive', file: '/x.tar', name: 'q.io/a:1' }],
  ];
  for (const [input, kind, want] of rows) t.same(parseSourceArg(input, kind), want, `${kind ?? ''} ${input}`);
  for (const [input, kind] of [['Quay.io/A', undefined], ['x', 'nope'], ['oci:', undefined]] as const) {
    t.throws(() => parseSourceArg(input, kind), { code: 'ERR_USAGE' }, `${kind ?? ''} ${input}`);
  }
});

t.test('destinations', async (t) => {
  const rows: Array<[string, string | undefined, SyncDestination]> = [
    ['docker://mirror.local:5000', undefined, { kind: 'docker', host: 'mirror.local:5000', prefix: '' }],
    ['docker://mirror.local:5000/team/mirror/', undefined, { kind: 'docker', host: 'mirror.local:5000', prefix: 'team/mirror' }],
    ['mirror.local/x', undefined, { kind: 'docker', host: 'mirror.local', prefix: 'x' }],
    ['mirror', 'docker', { kind: 'docker', host: 'mirror', prefix: '' }],
    ['oci:/media/usb', undefined, { kind: 'oci', dir: '/media/usb' }],
    ['/media/usb', 'dir', { kind: 'oci', dir: '/media/usb' }],
    ['oci-archive:/x.tar', undefined, { kind: 'oci-archive', file: '/x.tar' }],
    ['/x.tar', 'oci-archive', { kind: 'oci-archive', file: '/x.tar' }],
  ];
  for (const [input, kind, want] of rows) t.same(parseSyncDestination(input, kind), want, `${kind ?? ''} ${input}`);
  for (const bad of ['docker://', 'docker://mirror:5000/a:tag', 'docker://mirror/A', 'docker://mirror/a@sha256:x', 'relative/dir', 'oci:']) {
    t.throws(() => parseSyncDestination(bad), { code: 'ERR_USAGE' }, bad);
  }
  t.equal(formatDestination({ kind: 'docker', host: 'm:5000', prefix: 'p' }), 'docker://m:5000/p');
});

t.test('companion tags', async (t) => {
  for (const tag of [`sha256-${hex}`, `sha256-${hex}.sig`, `sha256-${hex}.att`, `sha256-${hex}.sbom`, `sha512-${'b'.repeat(128)}`]) t.ok(isCompanionTag(tag), tag);
  for (const tag of ['latest', `sha256-${hex}.foo`, `sha256-${hex.slice(1)}`, `SHA256-${hex}`, `sha256-${hex}.sig.sig`]) t.notOk(isCompanionTag(tag), tag);
});

t.test('where an image goes', async (t) => {
  const mirror: SyncDestination = { kind: 'docker', host: 'mirror.local:5000', prefix: 'mirror' };
  const bare: SyncDestination = { kind: 'docker', host: 'mirror.local:5000', prefix: '' };
  const layout: SyncDestination = { kind: 'oci', dir: '/media/usb' };
  const rows: Array<[string, SyncDestination, Parameters<typeof destinationName>[2], boolean, string]> = [
    ['quay.io/s2i/builder:1.0', mirror, {}, false, 'mirror.local:5000/mirror/s2i/builder:1.0'],
    ['quay.io/s2i/builder:1.0', bare, {}, false, 'mirror.local:5000/s2i/builder:1.0'],
    ['quay.io/s2i/builder:1.0', mirror, { scoped: true }, false, 'mirror.local:5000/mirror/quay.io/s2i/builder:1.0'],
    ['127.0.0.1:5000/s2i/builder:1.0', mirror, { scoped: true }, false, 'mirror.local:5000/mirror/127.0.0.1_5000/s2i/builder:1.0'],
    ['quay.io/s2i/builder:1.0', mirror, { suffix: '-mirror' }, false, 'mirror.local:5000/mirror/s2i/builder:1.0-mirror'],
    [`quay.io/s2i/builder:sha256-${hex}.sig`, mirror, { suffix: '-mirror' }, true, `mirror.local:5000/mirror/s2i/builder:sha256-${hex}.sig`],
    [`quay.io/s2i/builder@sha256:${hex}`, mirror, { suffix: '-mirror' }, false, `mirror.local:5000/mirror/s2i/builder@sha256:${hex}`],
    ['busybox:1', bare, {}, false, 'mirror.local:5000/library/busybox:1'],
    ['quay.io/s2i/builder:1.0', layout, { scoped: true }, false, 'quay.io/s2i/builder:1.0'],
    ['quay.io/s2i/builder:1.0', layout, { suffix: '-x' }, false, 'quay.io/s2i/builder:1.0-x'],
  ];
  for (const [name, dest, opts, companion, want] of rows) {
    t.equal(formatReference(destinationName(parseReference(name), dest, opts, companion)), want, `${name} ${JSON.stringify(opts)}`);
  }
  t.throws(() => destinationName(parseReference('[::1]:5000/a:1'), mirror, { scoped: true }), /--scoped cannot put the registry/);
  t.throws(() => destinationName(parseReference(`q.io/${'a'.repeat(250)}:1`), mirror), /longer than a repository name may be/);
});

t.test('layout entry names', async (t) => {
  t.same(layoutEntryName('quay.io/s2i/builder:1.0'), { registry: 'quay.io', repository: 's2i/builder', tag: '1.0' });
  t.same(layoutEntryName('busybox:1'), { registry: 'docker.io', repository: 'library/busybox', tag: '1' });
  t.equal(layoutEntryName('latest'), undefined, 'a bare tag names no repository');
  t.equal(layoutEntryName('Not/A:Ref:x'), undefined);
});
