// `build` flags → typed BuildOptions (src/cli/build-options.ts): every flag string is parsed once, here, with
// its one-line usage error (exit 64), and every default is decided here. Pure apart from the bind sources' stat.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asDockerfileOptions, buildOptionsFromValues, parseLabelFlag } from '../../src/cli/build-options.js';
import type { CommandContext } from '../../src/cli/command.js';
import { exitOfSync } from '../helpers/exit-code.js';

type Values = CommandContext['values'];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-build-options-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const secret = path.join(tmp, 'secret');
writeFileSync(secret, 's');

t.test('defaults are decided once', async (t) => {
  const o = buildOptionsFromValues({}, 'example.com/a/app:1', {});
  t.match(o, {
    format: 'docker',
    compression: 'gzip',
    check: 'ocp4.6',
    pullPolicy: 'if-not-present',
    network: 'host',
    env: [],
    buildEnv: [],
    labels: {},
    allowedUids: [],
    injections: [],
    binds: [],
    addHosts: [],
    capDrop: [],
    noPush: false,
  });
  t.notOk('timestamp' in o, 'no timestamp: the current time');
  t.notOk('incremental' in o);
  t.notOk('runtimeImage' in o);
  t.match(o.target, { transport: 'docker', ref: { registry: 'example.com', repository: 'a/app', tag: '1' } });
  const oci = buildOptionsFromValues({}, 'oci:/x:t', {});
  t.equal(oci.format, 'oci');
  t.equal(oci.check, false);
  t.equal(buildOptionsFromValues({ reproducible: true }, 'oci:/x:t', {}).timestamp, 0, '--reproducible: timestamp 0 without SOURCE_DATE_EPOCH');
  t.equal(buildOptionsFromValues({ reproducible: true }, 'oci:/x:t', { SOURCE_DATE_EPOCH: '9' }).timestamp, 9);
});

t.test('flag strings become typed values', async (t) => {
  const table: Array<[string, Values, (o: ReturnType<typeof buildOptionsFromValues>) => unknown, unknown]> = [
    ['--label', { label: ['a=1', 'b=x=y', 'c='] }, (o) => o.labels, { a: '1', b: 'x=y', c: '' }],
    ['-e', { env: ['A=1', 'B='] }, (o) => o.env, [['A', '1'], ['B', '']]],
    ['--build-env', { 'build-env': ['T=s'] }, (o) => o.buildEnv, [['T', 's']]],
    ['--allowed-uids', { 'allowed-uids': '1-' }, (o) => o.allowedUids.length, 1],
    ['--add-host', { 'add-host': ['db:10.0.0.5'] }, (o) => o.addHosts, [['db', '10.0.0.5']]],
    ['--cap-drop', { 'cap-drop': ['chown'] }, (o) => o.capDrop, ['CAP_CHOWN']],
    ['--network', { network: 'none' }, (o) => o.network, 'none'],
    ['--platform', { platform: 'linux/arm64' }, (o) => o.platform, { os: 'linux', architecture: 'arm64' }],
    [
      '--inject then -v',
      { volume: [`${secret}:/v`], inject: [`${secret}:rel;${secret}:/abs`] },
      (o) => [o.injections, o.binds],
      [
        [
          { source: secret, destination: 'rel' },
          { source: secret, destination: '/abs' },
        ],
        [{ source: secret, destination: '/v' }],
      ],
    ],
    ['--incremental: the TAG', { incremental: true }, (o) => o.incremental, { from: { transport: 'docker', ref: { repository: 'a/app', tag: '1' } }, pullPolicy: 'if-not-present' }],
    [
      '--incremental-from',
      { incremental: true, 'incremental-from': 'oci:/prev:p', 'incremental-pull-policy': 'never' },
      (o) => o.incremental,
      { from: { transport: 'oci', dir: '/prev', tag: 'p' }, pullPolicy: 'never' },
    ],
    [
      '--runtime-image',
      { 'runtime-image': 'example.com/rt:1', 'runtime-artifact': ['/a/b.jar:lib'], 'assemble-runtime-user': '5' },
      (o) => o.runtimeImage,
      { image: { transport: 'docker' }, artifacts: [{ source: '/a/b.jar', destination: 'lib' }], pullPolicy: 'if-not-present', assembleRuntimeUser: '5' },
    ],
  ];
  for (const [what, v, pick, want] of table) t.match(pick(buildOptionsFromValues(v, 'example.com/a/app:1', {})), want as object, what);
});

t.test('bad flag values: one usage error each, before anything runs', async (t) => {
  const table: Array<[Values, string | undefined, { code: string; message?: RegExp }]> = [
    [{ label: ['novalue'] }, undefined, { code: 'ERR_LABEL_SYNTAX', message: /invalid --label "novalue": use NAME=VALUE/ }],
    [{ label: ['=v'] }, undefined, { code: 'ERR_LABEL_SYNTAX' }],
    [{ env: ['NOVALUE'] }, undefined, { code: 'ERR_ENV_SYNTAX' }],
    [{ 'build-env': ['1X=a'] }, undefined, { code: 'ERR_ENV_SYNTAX' }],
    [{ 'allowed-uids': 'x' }, undefined, { code: 'ERR_ALLOWED_UIDS_SYNTAX' }],
    [{ 'add-host': ['nocolon'] }, undefined, { code: 'ERR_BAD_ADD_HOST' }],
    [{ inject: [`${secret}:/proc/x`] }, undefined, { code: 'ERR_BAD_MOUNT', message: /--inject .*reserved/ }],
    [{ volume: [`${path.join(tmp, 'missing')}:x`] }, undefined, { code: 'ERR_BAD_MOUNT', message: /--volume .*does not exist/ }],
    [{ 'runtime-image': 'r', 'runtime-artifact': ['relative'] }, undefined, { code: 'ERR_RUNTIME_ARTIFACT' }],
    [{ 'pull-policy': 'sometimes' }, undefined, { code: 'ERR_USAGE', message: /--pull-policy must be one of/ }],
    [{ network: 'bridge' }, undefined, { code: 'ERR_USAGE' }],
    [{}, 'example.com/a@sha256:' + 'a'.repeat(64), { code: 'ERR_USAGE', message: /has a digest: name it by tag/ }],
    [{ format: 'docker' }, 'oci:/x:t', { code: 'ERR_USAGE', message: /holds OCI images only/ }],
    [{ format: 'docker' }, 'oci-archive:/x.tar', { code: 'ERR_USAGE', message: /holds OCI images only/ }],
    [{ 'incremental-from': 'x' }, undefined, { code: 'ERR_USAGE', message: /--incremental-from needs --incremental/ }],
  ];
  for (const [v, tag, want] of table) t.throws(exitOfSync(() => buildOptionsFromValues(v, tag ?? 'example.com/a:1', {})), { ...want, exitCode: 64 }, JSON.stringify([v, tag]));
});

t.test('parseLabelFlag', async (t) => {
  t.same(parseLabelFlag('a=b=c'), ['a', 'b=c']);
  t.throws(() => parseLabelFlag('a'), { code: 'ERR_LABEL_SYNTAX' });
});

t.test('--as-dockerfile: the builder is a registry reference, the previous image as written', async (t) => {
  const v: Values = { 'as-dockerfile': '/out/Containerfile', incremental: true, label: ['k=v'] };
  const { asDockerfile, ...o } = buildOptionsFromValues(v, 'app:1', {});
  t.equal(asDockerfile, '/out/Containerfile');
  const a = asDockerfileOptions({ ...o, asDockerfile: asDockerfile! }, '/src', 'example.com/builder:1', 'app:1', v);
  t.match(a, { source: '/src', builder: { registry: 'example.com', repository: 'builder', tag: '1' }, tag: 'app:1', labels: { k: 'v' }, incremental: { previousImage: 'app:1' } });
  t.notOk('target' in a);
  const from = asDockerfileOptions({ ...o, asDockerfile: asDockerfile! }, '/src', 'example.com/builder:1', undefined, { ...v, 'incremental-from': 'prev:2' });
  t.same(from.incremental, { previousImage: 'prev:2' });
  // --inject goes into the Containerfile (copied in and removed in the assemble RUN); -v cannot.
  const iv: Values = { 'as-dockerfile': 'f', inject: [`${secret}:/x;${secret}:rel`] };
  const { asDockerfile: f, ...io } = buildOptionsFromValues(iv, undefined, {});
  t.same(asDockerfileOptions({ ...io, asDockerfile: f! }, '/src', 'b', undefined, iv).injections, [
    { source: secret, destination: '/x' },
    { source: secret, destination: 'rel' },
  ]);
  t.throws(() => buildOptionsFromValues({ 'as-dockerfile': 'f', volume: [`${secret}:/x`] }, undefined, {}), { code: 'ERR_USAGE', message: /--as-dockerfile cannot be combined with --volume/ });
});
