// The GitLab CI example (integrations/gitlab/.gitlab-ci.yml), read as the runner reads it and run job by job in
// restricted pods (test/helpers/gitlab-jobs.ts) with the stand-in engine (test/helpers/engine-stub.ts): the
// engine job leaves the engine as its artifact, the build job runs in the builder image and calls
// `build --isolation in-image` with the flags the README promises, the digest artifact has no newline, and the
// credentials and cache do not outlive the job.
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PodHarness, testImagePrefix, uniqueImageLabels } from '../helpers/pod.js';
import { expandVariables, readGitlabCi, runGitlabJobs } from '../helpers/gitlab-jobs.js';
import { pushStubEngine, stubArgs, stubDigest } from '../helpers/engine-stub.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { projectRoot } from '../helpers/cli.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const file = path.join(projectRoot, 'integrations', 'gitlab', '.gitlab-ci.yml');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-gitlab-ci-test-'));
let registry: TestRegistry | undefined;
const client = new RegistryClient();
const pods = new PodHarness();

t.teardown(async () => {
  pods.close();
  await client.close();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('the example as GitLab reads it', async (t) => {
  const doc = readGitlabCi(file) as Record<string, { image?: { name: string; entrypoint: string[] }; needs?: string[]; script?: string[]; artifacts?: { paths: string[] } }>;
  t.same(doc['s2i-build']?.image, { name: '$BUILDER_IMAGE', entrypoint: [''] }, 'the build job runs in the builder image');
  t.same(doc['s2i-build']?.needs, ['oci-s2i-engine']);
  t.same(doc['oci-s2i-engine']?.artifacts?.paths, ['.oci-s2i/']);
  t.match(doc['s2i-build']?.script?.join('\n'), /oci-s2i build --isolation in-image/);
  t.notMatch(JSON.stringify(doc), /privileged|docker:dind|services/, 'no daemon, no privileged service');
  t.equal(expandVariables('$A/${B}/$C', { A: '1', B: '2' }), '1/2/$C');
});

t.test('the two jobs, in restricted pods, with a stand-in engine', async (t) => {
  registry = await startRegistry();
  const repo = (n: string): string => `${testImagePrefix}/gitlab-${n}-${process.pid}`;
  await pushBusyboxBuilder(client.repository(registry.host, repo('builder')), 'v1', { user: '1001', labels: uniqueImageLabels() });
  const builder = `${registry.host}/${repo('builder')}:v1`;
  const engine = await pushStubEngine(client.repository(registry.host, repo('engine')), registry.host, repo('engine'));
  const projectDir = mkdtempSync(path.join(tmp, 'project-'));
  chmodSync(projectDir, 0o777);
  writeFileSync(path.join(projectDir, 'index.html'), 'hi\n');
  const ciProjectDir = '/builds/me/app';

  const runs = await runGitlabJobs(file, ['oci-s2i-engine', 's2i-build'], {
    predefined: { CI_PROJECT_DIR: ciProjectDir, CI_BUILDS_DIR: '/builds', CI_JOB_ID: '42', CI_REGISTRY: 'registry.example:5000', CI_REGISTRY_IMAGE: 'registry.example:5000/me/app', CI_COMMIT_SHORT_SHA: 'abc1234', CI_REGISTRY_USER: 'gitlab-ci-token', CI_REGISTRY_PASSWORD: 'secret' },
    projectDir,
    images: { $OCI_S2I_ENGINE_IMAGE: engine },
    variables: { BUILDER_IMAGE: builder },
    harness: pods,
  });
  t.same(runs.map((r) => [r.job, r.image, r.script.code]), [['oci-s2i-engine', engine, 0], ['s2i-build', builder, 0]], runs.map((r) => r.script.stderr).join('\n'));
  const args = stubArgs(runs[1]?.script.stderr);
  const buildAt = args.indexOf('build');
  t.same(args.slice(0, buildAt), ['login', '--authfile', `${ciProjectDir}/.oci-s2i-work/auth.json`, '-u', 'gitlab-ci-token', '--password-stdin', 'registry.example:5000']);
  t.same(args.slice(buildAt), [
    'build', '--isolation', 'in-image', ciProjectDir, builder, 'registry.example:5000/me/app:abc1234',
    '--exclude', '(^|/)(\\.git|\\.oci-s2i|\\.oci-s2i-work)(/|$)',
    '--authfile', `${ciProjectDir}/.oci-s2i-work/auth.json`, '--root', `${ciProjectDir}/.oci-s2i-work/cache`, '--digestfile', `${ciProjectDir}/.oci-s2i-work/digest`,
  ]);
  t.equal(readFileSync(path.join(projectDir, 'image.digest'), 'utf8'), stubDigest, 'the digest artifact, without a newline');
  t.equal(runs[1]?.afterScript?.code, 0);
  t.notOk(existsSync(path.join(projectDir, '.oci-s2i-work')), 'credentials and cache removed by after_script');
  t.ok(existsSync(path.join(projectDir, '.oci-s2i', 'oci-s2i')), 'the engine artifact');
  const exclude = new RegExp(args[args.indexOf('--exclude') + 1]!);
  t.same(['.oci-s2i/oci-s2i', '.oci-s2i-work/auth.json', '.git/config', 'index.html', 'src/.oci-s2i-notes'].map((p) => exclude.test(p)), [true, true, true, false, false], 'the exclude leaves out exactly the engine, its work dir and .git');
});
