// s2i's onbuild strategy as pure rules (src/s2i/onbuild.ts), ONBUILD USER under --allowed-uids (s2i/plan.ts) and
// triggers parsed as instructions (containerfile/parse.ts): tables, no I/O.
import t from 'tap';
import { guessEntrypoint, onBuildTriggers, onBuildUsers, renderOnBuildContainerfile } from '../../src/s2i/onbuild.js';
import { planS2I } from '../../src/s2i/plan.js';
import { parseUidRanges } from '../../src/s2i/allowed-uids.js';
import { parseTriggers } from '../../src/containerfile/parse.js';
import { S2IError } from '../../src/errors.js';

t.test('onBuildTriggers and onBuildUsers', async (t) => {
  t.same(onBuildTriggers({}), []);
  t.same(onBuildTriggers({ OnBuild: null }), []);
  t.same(onBuildTriggers({ OnBuild: ['RUN a', '', '  ', 3, 'COPY . /x'] }), ['RUN a', 'COPY . /x'], 'blank and non-string entries left out');
  t.same(onBuildUsers(['USER 0', 'RUN user x', 'user  1001:0', 'COPY . /u', 'USER\tapp']), ['0', '1001:0', 'app']);
});

t.test('guessEntrypoint: run, start, exec, execute (.sh), regular and executable, first by name', async (t) => {
  const f = (name: string, executable = true, isFile = true) => ({ name, executable, isFile });
  const cases: Array<[Array<ReturnType<typeof f>>, string | undefined]> = [
    [[f('run')], 'run'],
    [[f('start.sh'), f('run.sh')], 'run.sh'],
    [[f('exec'), f('execute.sh')], 'exec'],
    [[f('run', false), f('start')], 'start'],
    [[f('run', true, false)], undefined],
    [[f('runner'), f('run.bash'), f('Run')], undefined],
    [[], undefined],
  ];
  for (const [entries, want] of cases) t.equal(guessEntrypoint(entries), want, entries.map((e) => e.name).join(',') || '(empty)');
});

t.test('renderOnBuildContainerfile', async (t) => {
  const text = renderOnBuildContainerfile({ builderImage: 'r.example/b:1', env: [['A', 'x $y "z"']], labels: { 'z.b': '2', 'a.a': '1' }, assemble: true, entrypoint: 'run' });
  t.equal(text, 'FROM r.example/b:1\nENV A="x \\$y \\"z\\""\nLABEL "a.a"="1" "z.b"="2"\nRUN sh assemble\nENTRYPOINT ["./run"]\n');
  t.equal(renderOnBuildContainerfile({ builderImage: 'b', env: [], labels: {}, assemble: false, entrypoint: 'start.sh' }), 'FROM b\nENTRYPOINT ["./start.sh"]\n');
  t.throws(() => renderOnBuildContainerfile({ builderImage: 'b c', env: [], labels: {}, assemble: false, entrypoint: 'run' }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderOnBuildContainerfile({ builderImage: 'b', env: [['A-B', '1']], labels: {}, assemble: false, entrypoint: 'run' }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
  t.throws(() => renderOnBuildContainerfile({ builderImage: 'b', env: [['A', 'x\ny']], labels: {}, assemble: false, entrypoint: 'run' }), { code: 'ERR_AS_DOCKERFILE_VALUE' });
});

t.test('--allowed-uids checks the users ONBUILD triggers switch to (s2i)', async (t) => {
  const plan = (onBuild: string[]) => () =>
    planS2I({ labels: {}, env: [], user: '1001', onBuild }, { builderName: 'b', source: { location: '/src' }, env: [], allowedUids: parseUidRanges('1-') });
  t.doesNotThrow(plan(['USER 1001', 'RUN x']));
  t.doesNotThrow(plan([]));
  for (const bad of [['USER 0'], ['USER root'], ['RUN x', 'USER 0:0']]) {
    const e = t.throws(plan(bad)) as S2IError;
    t.equal(e.code, 'ERR_USER_NOT_ALLOWED', bad.join('; '));
    t.match(e.message, /^ONBUILD USER "/);
  }
  t.doesNotThrow(() => planS2I({ labels: {}, env: [], user: '1001', onBuild: ['USER 0'] }, { builderName: 'b', source: { location: '/src' }, env: [] }), 'no policy: nothing checked');
});

t.test('parseTriggers: one instruction each; FROM, MAINTAINER, ONBUILD and multi-line triggers refused', async (t) => {
  const ins = parseTriggers(['RUN echo hi', 'COPY --chown=1:0 . /x', 'CMD ["a"]'], 'img ONBUILD');
  t.same(ins.map((i) => [i.keyword, i.line]), [['RUN', 1], ['COPY', 2], ['CMD', 3]]);
  t.same(ins[1]!.flags, [{ name: 'chown', value: '1:0' }]);
  for (const [bad, re] of [
    ['FROM x', /^img ONBUILD:1: FROM is not allowed as an ONBUILD trigger/],
    ['onbuild RUN x', /ONBUILD is not allowed/],
    ['MAINTAINER me', /MAINTAINER is not allowed/],
    ['RUN a\nRUN b', /spans lines/],
    ['HEALTHCHECK NONE', /HEALTHCHECK is not supported/],
    ['BOGUS x', /unknown instruction/],
  ] as const) {
    t.throws(() => parseTriggers([bad], 'img ONBUILD'), { code: 'ERR_CONTAINERFILE_SYNTAX', message: re }, bad);
  }
});
