import t from 'tap';
import { Label, generatedLabels, commitSubject, mergeLabels } from '../../src/s2i/labels.js';

t.test('label names are the s2i ones', async (t) => {
  t.equal(Label.scriptsUrl, 'io.openshift.s2i.scripts-url');
  t.equal(Label.scriptsUrlDeprecated, 'io.s2i.scripts-url');
  t.equal(Label.buildImage, 'io.openshift.s2i.build.image');
  t.equal(Label.commitMessage, 'io.openshift.s2i.build.commit.message');
  t.equal(Label.k8sDisplayName, 'io.k8s.display-name');
  t.equal(Label.assembleInputFiles, 'io.openshift.s2i.assemble-input-files');
});

t.test('generatedLabels: local source, display name from tag, empties left out', async (t) => {
  t.same(generatedLabels({ builderImage: 'b:1', sourceLocation: '/src', tag: 'app:v1', contextDir: '' }), {
    'io.k8s.display-name': 'app:v1',
    'io.openshift.s2i.build.image': 'b:1',
    'io.openshift.s2i.build.source-location': '/src',
  });
});

t.test('generatedLabels: git source, app name wins over tag, message cut', async (t) => {
  const long = 'x'.repeat(100);
  const l = generatedLabels({
    builderImage: 'b',
    sourceLocation: 'https://h/r.git',
    contextDir: 'app',
    appName: 'My App',
    description: 'desc',
    tag: 'app:v1',
    git: { author: 'A <a@b>', date: 'Mon Jan 1 00:00:00 2024 +0000', id: 'f'.repeat(40), ref: 'main', message: `${long}\n\nbody` },
  });
  t.equal(l[Label.k8sDisplayName], 'My App');
  t.equal(l[Label.k8sDescription], 'desc');
  t.equal(l[Label.sourceContextDir], 'app');
  t.equal(l[Label.commitAuthor], 'A <a@b>');
  t.equal(l[Label.commitId], 'f'.repeat(40));
  t.equal(l[Label.commitRef], 'main');
  t.equal(l[Label.commitMessage], 'x'.repeat(80));
});

t.test('commitSubject table', async (t) => {
  const cases: Array<[string, string]> = [
    ['one line', 'one line'],
    ['first\nsecond', 'first'],
    ['\n\n  lead\r\nx', 'lead'],
    ['', ''],
    ['é'.repeat(90), 'é'.repeat(80)],
    ['😀'.repeat(81), '😀'.repeat(80)],
  ];
  for (const [i, o] of cases) t.equal(commitSubject(i), o, JSON.stringify(i));
});

t.test('mergeLabels: later wins', async (t) => {
  t.same(mergeLabels({ a: '1', b: '1' }, undefined, { b: '2' }, { c: '3' }), { a: '1', b: '2', c: '3' });
});
