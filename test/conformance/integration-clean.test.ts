// s2i's integration suite (openshift/source-to-image test/integration/docker/integration_test.go), its clean
// builds and allowed-UID checks, against oci-s2i: the same fake builders (made with buildah: sti-fake.ts), the
// same scripts served over HTTP, a git repository with a Gemfile as the source. Each subtest is named after the
// Go test it ports; spec/s2i-compat.md ("s2i integration tests") lists them all, with those that do not apply.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { runCli, type CliResult } from '../helpers/cli.js';
import { cannotRun, startSuite, unpack, type FakeImage, type Suite } from './sti-fake.js';

const skip = await cannotRun();
let suite: Suite;

const IMAGES: FakeImage[] = [
  'sti-fake',
  'sti-fake-user',
  'sti-fake-scripts',
  'sti-fake-no-tar',
  'sti-fake-onbuild',
  'sti-fake-numericuser',
  'sti-fake-onbuild-rootuser',
  'sti-fake-onbuild-numericuser',
  'sti-fake-assemble-root',
  'sti-fake-assemble-user',
];

if (!skip) {
  t.before(async () => {
    suite = await startSuite(IMAGES);
  });
  t.teardown(async () => suite?.stop());
}

const build = (args: string[]): Promise<CliResult> => runCli(['build', ...args, '--root', suite.root], { env: { NODE_OPTIONS: '' }, timeoutMs: 240_000 });
const tagged = (name: string) => `${suite.registry.host}/${name}`;

interface CleanBuild {
  image: FakeImage;
  tag: string;
  scriptsUrl?: string;
  verifyCallback?: boolean;
  checkLabel?: boolean;
}

/** exerciseCleanBuild: the build succeeds, the image is there, its command ran (run-invoked), assemble ran and copied the source. */
async function exerciseCleanBuild(t: Test, c: CleanBuild): Promise<void> {
  const calls: Array<{ type: string | undefined; body: string }> = [];
  let callbackUrl: string | undefined;
  if (c.verifyCallback) {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        calls.push({ type: req.headers['content-type'], body });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
  const tag = tagged(c.tag);
  const r = await build([suite.source, suite.image(c.image), tag, ...(c.scriptsUrl ? ['--scripts-url', c.scriptsUrl] : []), ...(callbackUrl ? ['--callback-url', callbackUrl] : [])]);
  t.equal(r.code, 0, `the build succeeds: ${r.stderr.slice(-2000)}`);
  if (c.verifyCallback) {
    t.equal(calls.length, 1, 'the callback was invoked once');
    t.match(calls[0]?.type ?? '', /^application\/json/, 'with JSON');
    const msg = JSON.parse(calls[0]?.body ?? '{}') as { success?: boolean; labels?: Record<string, string> };
    t.equal(msg.success, true, 'success: true');
    t.ok(Object.keys(msg.labels ?? {}).length > 0, 'and the labels');
  }
  t.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/, 'the image ID (manifest digest) is returned');
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${tag}`], { encoding: 'utf8' })) as { Digest: string };
  t.equal(inspected.Digest, r.stdout.trim(), 'checkForImage: skopeo finds the image by its tag, with that digest');
  const img = await unpack(suite, tag, { runCommand: true });
  t.equal(img.exitCode, 0, "the image's command runs and exits 0");
  t.ok(img.exists('sti-fake/assemble-invoked'), '/sti-fake/assemble-invoked');
  t.ok(img.exists('sti-fake/run-invoked'), '/sti-fake/run-invoked');
  t.ok(img.exists('sti-fake/src/Gemfile'), '/sti-fake/src/Gemfile');
  if (c.checkLabel) t.equal(img.config.config.Labels?.testLabel, 'testLabel_value', 'checkForLabel: testLabel from image_metadata.json');
}

t.test('clean builds', { skip }, async (t) => {
  t.test('TestCleanBuild', (t) => exerciseCleanBuild(t, { image: 'sti-fake', tag: 'test/sti-fake-app' }));
  t.test('TestCleanBuildLabel', (t) => exerciseCleanBuild(t, { image: 'sti-fake', tag: 'test/sti-fake-app-label', checkLabel: true }));
  t.test('TestCleanBuildUser', (t) => exerciseCleanBuild(t, { image: 'sti-fake-user', tag: 'test/sti-fake-app-user' }));
  t.test('TestCleanBuildFileScriptsURL', (t) => exerciseCleanBuild(t, { image: 'sti-fake', tag: 'test/sti-fake-app-file', scriptsUrl: suite.scriptsFileUrl }));
  t.test('TestCleanBuildHttpScriptsURL', (t) => exerciseCleanBuild(t, { image: 'sti-fake', tag: 'test/sti-fake-app-http', scriptsUrl: suite.scriptsHttpUrl }));
  t.test('TestCleanBuildScripts', (t) => exerciseCleanBuild(t, { image: 'sti-fake-scripts', tag: 'test/sti-fake-app-scripts' }));
  t.test('TestLayeredBuildNoTar', (t) => exerciseCleanBuild(t, { image: 'sti-fake-no-tar', tag: 'test/sti-fake-no-tar', scriptsUrl: suite.scriptsFileUrl }));
  t.test('TestCleanBuildCallbackInvoked', (t) => exerciseCleanBuild(t, { image: 'sti-fake', tag: 'test/sti-fake-app-callback', verifyCallback: true }));
  t.test('TestCleanBuildOnBuild', async (t) => {
    await exerciseCleanBuild(t, { image: 'sti-fake-onbuild', tag: 'test/sti-fake-app-onbuild' });
    // What the onbuild strategy adds over s2i's checks: the triggers ran (their files are in the image), the
    // entrypoint is the run script at the context root, the triggers are not inherited, the build's labels are there.
    const img = await unpack(suite, tagged('test/sti-fake-app-onbuild'));
    t.ok(img.exists('sti-fake/src/onbuild'), 'ONBUILD RUN touch /sti-fake/src/onbuild ran');
    t.ok(img.exists('tmp/src/Gemfile') && img.exists('tmp/src/run') && img.exists('tmp/src/assemble'), 'ONBUILD COPY . /tmp/src/ copied the source with run and assemble at its root');
    t.same(img.config.config.Entrypoint, ['./run'], 'ENTRYPOINT ["./run"]');
    t.equal(img.config.config.WorkingDir, '/tmp/src');
    t.notOk(img.config.config.OnBuild?.length, 'the result has no ONBUILD triggers of its own');
    t.equal(img.config.config.Labels?.['io.openshift.s2i.build.image'], suite.image('sti-fake-onbuild'), 'the generated labels');
  });
});

/** exerciseCleanAllowedUIDsBuild: with --allowed-uids 1-, the builder is refused (exit 15) or builds. */
async function exerciseCleanAllowedUIDsBuild(t: Test, image: FakeImage, tag: string, expectError: boolean): Promise<void> {
  const r = await build([suite.source, suite.image(image), tagged(tag), '--allowed-uids', '1-']);
  if (expectError) {
    t.equal(r.code, 15, `refused with exit 15: ${r.stderr.slice(-600)}`);
    t.match(r.stderr, /allowed UIDs are 1-/, 'the message names the policy');
  } else {
    t.equal(r.code, 0, `builds: ${r.stderr.slice(-1500)}`);
  }
}

t.test('allowed UIDs', { skip }, async (t) => {
  t.test('TestAllowedUIDsNamedUser', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-user', 'test/sti-fake-alloweduids-nameduser', true));
  t.test('TestAllowedUIDsNumericUser', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-numericuser', 'test/sti-fake-alloweduids-numericuser', false));
  t.test('TestAllowedUIDsOnBuildRootUser', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-onbuild-rootuser', 'test/sti-fake-alloweduids-onbuildroot', true));
  t.test('TestAllowedUIDsOnBuildNumericUser', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-onbuild-numericuser', 'test/sti-fake-alloweduids-onbuildnumeric', false));
  t.test('TestAllowedUIDsAssembleRoot', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-assemble-root', 'test/sti-fake-alloweduids-assembleroot', true));
  t.test('TestAllowedUIDsAssembleUser', (t) => exerciseCleanAllowedUIDsBuild(t, 'sti-fake-assemble-user', 'test/sti-fake-alloweduids-assembleuser', false));
});
