// Issue 16, finding 9: `npm test` from a checkout other users cannot traverse (cloned as root into /root, or any
// 0700 dir) failed wherever a test ran something as another user straight from the checkout. The helper those
// tests use (test/helpers/users.ts projectRootFor/cliFor) must hand them a readable copy then, and the checkout
// itself when it is readable.
import { cpSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { projectRoot, runCli } from '../helpers/cli.js';
import { canCreateUsers, canRead, ensureUser, projectRootFor } from '../helpers/users.js';

t.test('tests that run as another user work from a checkout in a 0700 dir', { skip: !canCreateUsers() && 'needs root to create the test user' }, async (t) => {
  const user = ensureUser('ocis2i-rootless', { subIds: true });
  const hidden = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-hidden-')); // 0700, like /root
  t.teardown(() => rmSync(hidden, { recursive: true, force: true }));
  const checkout = path.join(hidden, 'checkout');
  // What the CLI needs to print its version: the launcher, the compiled CLI and tests, the addon (no node_modules).
  for (const p of ['bin', 'dist', 'build', 'package.json']) cpSync(path.join(projectRoot, p), path.join(checkout, p), { recursive: true, preserveTimestamps: true });
  t.notOk(canRead(user, path.join(checkout, 'bin', 'oci-s2i.js')), 'the user cannot reach this checkout');

  const root = projectRootFor(user, checkout);
  t.not(root, checkout, 'a copy is used');
  t.equal(projectRootFor(user, checkout), root, 'made once per process');
  for (const f of ['bin/oci-s2i.js', 'dist/test/layer/hostile.test.js', 'dist/src/store/layer-cache.js', 'package.json']) {
    t.ok(canRead(user, path.join(root, f)), `the user reads ${f} in the copy`);
  }
  const r = await runCli(['version'], { user, cli: path.join(root, 'bin', 'oci-s2i.js') });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^oci-s2i /, 'the CLI runs as the user from the copy');

  chmodSync(hidden, 0o755);
  t.equal(projectRootFor(user, checkout), checkout, 'a checkout the user can reach is used as it is');
});
