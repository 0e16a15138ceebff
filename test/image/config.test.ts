import t from 'tap';
import { MediaType } from '../../src/oci/media-types.js';
import { parseImageConfig } from '../../src/oci/manifest.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { addHistory, appendLayer, configMediaType, mergeEnv, mergeLabels, serializeConfig, setConfigFields } from '../../src/image/config.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const base = (): ImageConfig => ({
  created: '2020-01-01T00:00:00Z',
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/bin', 'HOME=/root'], Cmd: ['/usr/libexec/s2i/usage'], Labels: { 'io.k8s.display-name': 'builder' }, User: '1001' },
  rootfs: { type: 'layers', diff_ids: [d('1')] },
  history: [{ created: '2020-01-01T00:00:00Z', created_by: 'ADD base' }],
  container_config: { Hostname: 'x' },
});

t.test('appendLayer', async (t) => {
  const input = base();
  const frozen = JSON.stringify(input);
  const out = appendLayer(input, d('2'), { created: '2024-05-05T00:00:00Z', created_by: 'oci-s2i assemble', empty_layer: true });
  t.equal(JSON.stringify(input), frozen, 'input not mutated');
  t.same(out.rootfs.diff_ids, [d('1'), d('2')]);
  t.same(out.history?.[1], { created: '2024-05-05T00:00:00Z', created_by: 'oci-s2i assemble' }, 'a layer entry is never empty_layer');
  t.equal(out.created, '2024-05-05T00:00:00Z');
  t.equal(out.container_config !== undefined, true, 'unknown fields kept');
  out.config!.Env!.push('X=1');
  t.equal(input.config!.Env!.length, 2, 'output shares no arrays with input');
  t.throws(() => appendLayer(input, 'sha256:../../x', {}), { code: 'ERR_INVALID_DIGEST' });
  const noHistory = appendLayer({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, d('3'), {});
  t.same(noHistory.history, [{}]);
  t.equal(noHistory.created, undefined, 'created untouched without a history time');
  t.ok(parseImageConfig(serializeConfig(out)), 'result is a valid config');
});

t.test('addHistory', async (t) => {
  const input = base();
  const frozen = JSON.stringify(input);
  const out = addHistory(input, { created_by: 'ENV X=1', created: '2024-01-01T00:00:00Z' });
  t.equal(JSON.stringify(input), frozen);
  t.same(out.history?.[1], { created_by: 'ENV X=1', created: '2024-01-01T00:00:00Z', empty_layer: true });
  t.same(out.rootfs.diff_ids, input.rootfs.diff_ids);
  t.equal(out.created, '2024-01-01T00:00:00Z');
});

t.test('setConfigFields', async (t) => {
  const input = base();
  const frozen = JSON.stringify(input);
  const cmd = ['/usr/libexec/s2i/run'];
  const out = setConfigFields(input, { Cmd: cmd, WorkingDir: '/opt/app-root/src', User: undefined, Entrypoint: null });
  t.equal(JSON.stringify(input), frozen, 'input not mutated');
  t.same(out.config?.Cmd, cmd);
  cmd.push('mutated later');
  t.same(out.config?.Cmd, ['/usr/libexec/s2i/run'], 'fields are copied, not shared');
  t.equal(out.config?.WorkingDir, '/opt/app-root/src');
  t.notOk('User' in (out.config ?? {}), 'undefined removes the field');
  t.equal(out.config?.Entrypoint, null, 'null is kept (an explicit reset)');
  t.same(out.config?.Env, input.config?.Env, 'other fields kept');
  const fromNothing = setConfigFields({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, { User: '1001' });
  t.same(fromNothing.config, { User: '1001' });
});

t.test('mergeEnv', async (t) => {
  const b = ['PATH=/usr/bin', 'HOME=/root', 'FLAG', 'PATH=/dup'];
  const frozen = [...b];
  t.same(
    mergeEnv(b, [['HOME', '/opt/app-root'], ['NEW', '1'], ['FLAG', 'on'], ['NEW', '2'], ['EMPTY', '']]),
    ['PATH=/usr/bin', 'HOME=/opt/app-root', 'FLAG=on', 'PATH=/dup', 'NEW=2', 'EMPTY='],
    'existing names keep their position, new ones append, later wins',
  );
  t.same(b, frozen, 'base not mutated');
  t.same(mergeEnv(undefined, [['A', 'x=y=z']]), ['A=x=y=z'], 'values may contain =');
  t.same(mergeEnv(['A=1'], []), ['A=1']);
  t.not(mergeEnv(b, []), b, 'a new array even with nothing to add');
  for (const bad of ['', 'A=B', 'A\0B']) {
    t.throws(() => mergeEnv([], [[bad, 'v']]), { code: 'ERR_INVALID_ENV' }, JSON.stringify(bad));
  }
  t.throws(() => mergeEnv([], [['A', 'x\0y']]), { code: 'ERR_INVALID_ENV' }, 'NUL in value');
});

t.test('mergeLabels', async (t) => {
  const a = { x: '1', y: '1' };
  const b = { y: '2', z: '2' };
  t.same(mergeLabels(a, null, undefined, b, { z: '3' }), { x: '1', y: '2', z: '3' });
  t.same(a, { x: '1', y: '1' }, 'inputs not mutated');
  t.same(mergeLabels(), {});
  const evil = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, string>;
  const merged = mergeLabels(evil);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  t.ok(Object.hasOwn(merged, '__proto__'), '__proto__ kept as a plain label');
});

t.test('serializeConfig is deterministic', async (t) => {
  const a = base();
  const b: ImageConfig = JSON.parse(JSON.stringify({ rootfs: a.rootfs, os: a.os, history: a.history, config: a.config, container_config: a.container_config, created: a.created, architecture: a.architecture }));
  t.equal(serializeConfig(a).toString(), serializeConfig(b).toString(), 'key order of the input does not matter');
  const text = serializeConfig(a).toString();
  t.notMatch(text, /\n| : /, 'compact');
  t.ok(text.startsWith('{"architecture":"amd64","config":{"Cmd":'), 'sorted keys');
  t.same(JSON.parse(text), a, 'round trip');
  t.equal(serializeConfig({ ...a, extra: undefined }).toString(), text, 'undefined dropped');
});

t.test('configMediaType', async (t) => {
  t.equal(configMediaType('docker'), MediaType.dockerConfig);
  t.equal(configMediaType('oci'), MediaType.ociConfig);
});
