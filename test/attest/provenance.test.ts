// attest/provenance.ts against the in-toto Statement v1 and SLSA v1 field rules (slsa-rules.ts, written from the
// specs), the checker itself shown to fail on broken statements, and pipeline/attest.ts's parameters: names of
// -e/--build-env variables, never their values, and no field for injections, volumes or a URL's credentials.
import t from 'tap';
import { provenanceStatement, digestSet } from '../../src/attest/provenance.js';
import { envelopeOf } from '../../src/attest/dsse.js';
import { externalParameters } from '../../src/pipeline/attest.js';
import type { BuildOptions } from '../../src/pipeline/options.js';
import { parseImageLocation } from '../../src/transport/parse.js';
import { envelopeProblems, slsaProvenanceProblems } from './slsa-rules.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

const input = {
  subject: { name: 'registry.test/app:1', digest: D('a') },
  external: { source: { uri: 'https://git.test/app.git', ref: 'main' }, builder: 'registry.test/builder:1', tag: 'registry.test/app:1', format: 'oci', flags: { compression: 'gzip' } },
  internal: { runtime: 'crun' },
  builder: { uri: 'docker://registry.test/builder:1', digest: D('b') },
  source: { uri: 'https://git.test/app.git', commit: 'c'.repeat(40) },
  engineVersion: '0.1.0',
  startedOn: '2026-12-03T09:00:00.123Z',
  finishedOn: '2026-12-03T09:00:05.000Z',
  invocationId: 'inv-1',
};

t.test('the statement passes the in-toto and SLSA v1 rules', async (t) => {
  const s = provenanceStatement(input);
  t.same(slsaProvenanceProblems(JSON.parse(JSON.stringify(s))), []);
  t.same(s.subject, [{ name: 'registry.test/app:1', digest: { sha256: 'a'.repeat(64) } }]);
  const deps = s.predicate.buildDefinition.resolvedDependencies ?? [];
  t.same(deps.find((d) => d.name === 'builder')?.digest, { sha256: 'b'.repeat(64) });
  t.same(deps.find((d) => d.name === 'source')?.digest, { gitCommit: 'c'.repeat(40) });
  t.equal(s.predicate.runDetails.metadata?.finishedOn, '2026-12-03T09:00:05Z');
  const withRuntime = provenanceStatement({ ...input, runtimeImage: { uri: 'docker://registry.test/rt:1', digest: D('d') } });
  t.same(slsaProvenanceProblems(JSON.parse(JSON.stringify(withRuntime))), []);
  t.ok(withRuntime.predicate.buildDefinition.resolvedDependencies?.some((d) => d.name === 'runtime-image'));
});

t.test('the checker fails broken statements (it can fail)', async (t) => {
  const good = JSON.parse(JSON.stringify(provenanceStatement(input))) as Record<string, any>;
  const broken: Array<[string, (s: any) => void, RegExp]> = [
    ['wrong _type', (s) => (s._type = 'https://in-toto.io/Statement/v0.1'), /_type/],
    ['no subject digest', (s) => delete s.subject[0].digest, /subject\[0\]\.digest/],
    ['uppercase hex', (s) => (s.subject[0].digest.sha256 = 'A'.repeat(64)), /lowercase hex/],
    ['no buildType', (s) => delete s.predicate.buildDefinition.buildType, /buildType/],
    ['no externalParameters', (s) => delete s.predicate.buildDefinition.externalParameters, /externalParameters/],
    ['no builder id', (s) => delete s.predicate.runDetails.builder.id, /builder\.id/],
    ['local time', (s) => (s.predicate.runDetails.metadata.startedOn = '2026-12-03T10:00:00+01:00'), /startedOn/],
    ['empty dependency', (s) => (s.predicate.buildDefinition.resolvedDependencies[0] = { name: 'x' }), /needs uri, digest or content/],
    ['finished before started', (s) => (s.predicate.runDetails.metadata.finishedOn = '2026-12-03T08:00:00Z'), /finishedOn before/],
  ];
  for (const [what, breakIt, msg] of broken) {
    const s = structuredClone(good);
    breakIt(s);
    t.match(slsaProvenanceProblems(s).join('\n'), msg, what);
  }
});

t.test('envelope: the payload is the statement, base64; unsigned without a signer, signed with one', async (t) => {
  const payload = Buffer.from(JSON.stringify(provenanceStatement(input)));
  const e = await envelopeOf('application/vnd.in-toto+json', payload);
  t.same(envelopeProblems(e), []);
  t.same(e.signatures, []);
  t.same(Buffer.from(e.payload, 'base64'), payload);
  const signed = await envelopeOf('application/vnd.in-toto+json', payload, async (type, p) => [{ keyid: 'k', sig: Buffer.from(`${type}:${p.length}`).toString('base64') }]);
  t.equal(signed.signatures.length, 1);
  t.throws(() => digestSet('sha256:xyz'));
});

t.test('external parameters: variable names only, no injections, volumes, callback or URL credentials', async (t) => {
  const opts = {
    source: 'https://user:s3cret-token@git.test/app.git',
    builder: parseImageLocation('registry.test/builder:1'),
    builderName: 'registry.test/builder:1',
    target: parseImageLocation('registry.test/app:1'),
    format: 'oci',
    compression: 'gzip',
    check: false,
    pullPolicy: 'if-not-present',
    env: [['SECRET', 'env-value-1']],
    envFiles: ['/tmp/secret.env'],
    buildEnv: [['TOKEN', 'build-env-value-2']],
    labels: { team: 'a' },
    allowedUids: [{ min: 1 }],
    network: 'host',
    capDrop: [],
    binds: [{ source: '/host/secret-dir', destination: '/run/secret', readOnly: true }],
    addHosts: [],
    callbackUrl: 'https://hook.test/?token=callback-value-3',
    scriptsUrl: 'https://u:scripts-pass-4@scripts.test/s2i',
  } as unknown as BuildOptions;
  const p = externalParameters(opts);
  const text = JSON.stringify(p);
  for (const secret of ['env-value-1', 'build-env-value-2', 'callback-value-3', 'scripts-pass-4', 's3cret-token', '/host/secret-dir', '/tmp/secret.env']) {
    t.notOk(text.includes(secret), `${secret} is not in the parameters`);
  }
  t.same(p.env, ['SECRET']);
  t.same(p.buildEnv, ['TOKEN']);
  t.equal(p.source.uri, 'https://git.test/app.git');
  t.same(p.flags['allowed-uids'], ['1-']);
});
