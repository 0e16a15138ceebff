// planS2I (src/s2i/plan.ts): the pure plan shared by `build` and `--as-dockerfile`, table-driven.
import t from 'tap';
import { planS2I, outputLabels, defaultPath, type BuilderFacts, type S2IPlanOptions } from '../../src/s2i/plan.js';
import { parseUidRanges } from '../../src/s2i/allowed-uids.js';
import { exitOfSync } from '../helpers/exit-code.js';

const builder: BuilderFacts = {
  labels: { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i', 'io.openshift.s2i.destination': '/opt/dest', keep: 'builder' },
  env: ['PATH=/usr/bin:/bin', 'HOME=/opt/app-root/src', 'A=builder'],
  user: '1001',
};
const base: S2IPlanOptions = { builderName: 'quay.io/x/builder', tag: 'quay.io/x/app:1', source: { location: '/src' }, env: [] };

t.test('destination, paths, users', async (t) => {
  const cases: Array<{ name: string; b?: Partial<BuilderFacts>; o?: Partial<S2IPlanOptions>; dest: string; user: string; imageUser: string }> = [
    { name: 'label destination, image USER', dest: '/opt/dest', user: '1001', imageUser: '1001' },
    { name: '--destination wins', o: { destination: '/x/' }, dest: '/x', user: '1001', imageUser: '1001' },
    { name: 'no label: /tmp', b: { labels: {} }, dest: '/tmp', user: '1001', imageUser: '1001' },
    { name: 'assemble-user label', b: { labels: { 'io.openshift.s2i.assemble-user': '431' } }, dest: '/tmp', user: '431', imageUser: '1001' },
    { name: '--assemble-user wins', b: { labels: { 'io.openshift.s2i.assemble-user': '431' } }, o: { assembleUser: '5' }, dest: '/tmp', user: '5', imageUser: '1001' },
    { name: 'no USER: root', b: { user: undefined, labels: {} }, dest: '/tmp', user: '', imageUser: '' },
  ];
  for (const c of cases) {
    const p = planS2I({ ...builder, ...c.b }, { ...base, ...c.o });
    t.equal(p.destination, c.dest, `${c.name}: destination`);
    t.same(p.paths, { src: `${c.dest === '/' ? '' : c.dest}/src`, scripts: `${c.dest === '/' ? '' : c.dest}/scripts`, artifacts: `${c.dest === '/' ? '' : c.dest}/artifacts` }, `${c.name}: paths`);
    t.equal(p.assembleUser, c.user, `${c.name}: assemble user`);
    t.equal(p.imageUser, c.imageUser, `${c.name}: image user`);
  }
  t.throws(() => planS2I(builder, { ...base, destination: 'rel' }), { code: 'ERR_DESTINATION' });
});

t.test('environments: image < build env (persisted) < --build-env (assemble only); default PATH', async (t) => {
  const p = planS2I(builder, { ...base, env: [['A', 'source'], ['B', 'b']], buildEnv: [['SECRET', 's'], ['A', 'build']] });
  t.same(p.persistentEnv, ['PATH=/usr/bin:/bin', 'HOME=/opt/app-root/src', 'A=source', 'B=b']);
  t.same(p.assembleEnv, ['PATH=/usr/bin:/bin', 'HOME=/opt/app-root/src', 'A=build', 'B=b', 'SECRET=s']);
  t.notOk(p.persistentEnv.some((e) => e.startsWith('SECRET=')), '--build-env never persists');
  const noPath = planS2I({ ...builder, env: [] }, base);
  t.same(noPath.persistentEnv, [], 'no PATH added to the image');
  t.same(noPath.assembleEnv, [defaultPath], 'assemble gets a default PATH');
});

t.test('labels: base < generated < --label < image_metadata.json', async (t) => {
  const p = planS2I(builder, { ...base, labels: { 'io.k8s.display-name': 'mine', extra: 'flag' }, source: { location: 'https://g/r.git', contextDir: 'app', git: { id: 'abc', ref: 'main', author: 'A <a@b>', date: '2026-01-01', message: 'subject\nbody' } } });
  t.same(p.addedLabels, {
    'io.k8s.display-name': 'mine',
    'io.openshift.s2i.build.image': 'quay.io/x/builder',
    'io.openshift.s2i.build.source-location': 'https://g/r.git',
    'io.openshift.s2i.build.source-context-dir': 'app',
    'io.openshift.s2i.build.commit.author': 'A <a@b>',
    'io.openshift.s2i.build.commit.date': '2026-01-01',
    'io.openshift.s2i.build.commit.id': 'abc',
    'io.openshift.s2i.build.commit.ref': 'main',
    'io.openshift.s2i.build.commit.message': 'subject',
    extra: 'flag',
  });
  const out = outputLabels(p, { keep: 'builder', extra: 'base' }, { extra: 'meta', __proto__: 'x' } as Record<string, string>);
  t.equal(out.keep, 'builder');
  t.equal(out.extra, 'meta', 'image_metadata.json wins');
  t.equal(Object.getPrototypeOf(out), Object.prototype, 'a "__proto__" label never switches the prototype');
  t.equal(planS2I(builder, { ...base, tag: undefined }).addedLabels['io.k8s.display-name'], undefined, 'no tag, no name: no display name');
  t.equal(planS2I(builder, { ...base, applicationName: 'app' }).addedLabels['io.k8s.display-name'], 'app');
});

t.test('allowed UIDs: image USER, label, flag — in that order, exit 15', async (t) => {
  const ranges = parseUidRanges('1000-2000');
  t.doesNotThrow(() => planS2I(builder, { ...base, allowedUids: ranges }));
  t.throws(exitOfSync(() => planS2I({ ...builder, user: '0' }, { ...base, allowedUids: ranges })), { exitCode: 15, message: /image USER/ });
  t.throws(exitOfSync(() => planS2I({ ...builder, labels: { 'io.openshift.s2i.assemble-user': '5' } }, { ...base, allowedUids: ranges })), { exitCode: 15, message: /label io.openshift.s2i.assemble-user/ });
  t.throws(exitOfSync(() => planS2I(builder, { ...base, allowedUids: ranges, assembleUser: 'root' })), { exitCode: 15, message: /--assemble-user/ });
  t.doesNotThrow(() => planS2I({ ...builder, user: '0' }, { ...base, allowedUids: [] }), 'no policy');
});
