// s2i's integration suite (openshift/source-to-image test/integration/docker/integration_test.go), its
// incremental builds, against oci-s2i with the same fake builders (sti-fake.ts). s2i's RemovePreviousImage
// deletes the previous image from the docker daemon; oci-s2i has no daemon and keeps no local image to remove
// (`--rm` is accepted and does nothing), so both variants check that the previous image is still in the registry.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { runCli, type CliResult } from '../helpers/cli.js';
import { cannotRun, startSuite, unpack, type FakeImage, type Suite } from './sti-fake.js';

const skip = await cannotRun();
let suite: Suite;

if (!skip) {
  t.before(async () => {
    suite = await startSuite(['sti-fake', 'sti-fake-scripts', 'sti-fake-scripts-no-save-artifacts', 'sti-fake-onbuild']);
  });
  t.teardown(async () => suite?.stop());
}

const build = (args: string[]): Promise<CliResult> => runCli(['build', ...args, '--root', suite.root], { env: { NODE_OPTIONS: '' }, timeoutMs: 240_000 });

/** exerciseIncrementalBuild: a clean build, then an incremental one from it; save-artifacts ran unless expectClean. */
async function exerciseIncrementalBuild(t: Test, tagName: string, image: FakeImage, removePreviousImage: boolean, expectClean: boolean, checkOnBuild: boolean): Promise<void> {
  const tag = `${suite.registry.host}/${tagName}`;
  const rm = removePreviousImage ? ['--rm'] : [];
  const first = await build([suite.source, suite.image(image), tag, ...rm]);
  t.equal(first.code, 0, `the first build succeeds: ${first.stderr.slice(-1500)}`);
  const previous = first.stdout.trim();
  const second = await build([suite.source, suite.image(image), tag, '--incremental', ...rm]);
  t.equal(second.code, 0, `the incremental build succeeds: ${second.stderr.slice(-1500)}`);
  t.not(second.stdout.trim(), previous, 'a new image');
  const img = await unpack(suite, tag, { runCommand: true });
  t.equal(img.exitCode, 0, "the image's command runs and exits 0");
  t.ok(img.exists('sti-fake/assemble-invoked'), '/sti-fake/assemble-invoked');
  t.ok(img.exists('sti-fake/run-invoked'), '/sti-fake/run-invoked');
  t.ok(img.exists('sti-fake/src/Gemfile'), '/sti-fake/src/Gemfile');
  if (expectClean) t.notOk(img.exists('sti-fake/save-artifacts-invoked'), 'no artifacts were restored: /sti-fake/save-artifacts-invoked is absent');
  else t.ok(img.exists('sti-fake/save-artifacts-invoked'), 'the artifacts of the previous image reached assemble: /sti-fake/save-artifacts-invoked');
  // The previous image: no daemon holds it, so nothing removes it; the registry still serves it by digest.
  const repo = tag.replace(/:[^/:]+$/, '');
  const still = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${repo}@${previous}`], { encoding: 'utf8' })) as { Digest: string };
  t.equal(still.Digest, previous, 'the previous image is still in the registry');
  if (checkOnBuild) t.ok(img.exists('sti-fake/src/onbuild'), '/sti-fake/src/onbuild: the ONBUILD trigger ran');
}

t.test('incremental builds', { skip }, async (t) => {
  t.test('TestIncrementalBuildAndRemovePreviousImage', (t) => exerciseIncrementalBuild(t, 'test/sti-incremental-app:rm', 'sti-fake', true, false, false));
  t.test('TestIncrementalBuildAndKeepPreviousImage', (t) => exerciseIncrementalBuild(t, 'test/sti-incremental-app:keep', 'sti-fake', false, false, false));
  t.test('TestIncrementalBuildUser', (t) => exerciseIncrementalBuild(t, 'test/sti-incremental-app-user', 'sti-fake', true, false, false));
  t.test('TestIncrementalBuildScripts', (t) => exerciseIncrementalBuild(t, 'test/sti-incremental-app-scripts', 'sti-fake-scripts', true, false, false));
  t.test('TestIncrementalBuildScriptsNoSaveArtifacts', (t) => exerciseIncrementalBuild(t, 'test/sti-incremental-app-scripts-no-save-artifacts', 'sti-fake-scripts-no-save-artifacts', true, true, false));
  t.test('TestIncrementalBuildOnBuild', async (t) => {
    await exerciseIncrementalBuild(t, 'test/sti-incremental-app-onbuild', 'sti-fake-onbuild', false, true, true);
  });
});
