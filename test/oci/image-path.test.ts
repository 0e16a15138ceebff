// src/oci/image-path.ts: paths an image supplies are checked where they enter (issue 16 finding 2).
import t from 'tap';
import { imagePath, workingDirOf } from '../../src/oci/image-path.js';
import { exitOfSync } from '../helpers/exit-code.js';

t.test('good paths come back clean', async (t) => {
  const good: Array<[string, string]> = [
    ['/', '/'],
    ['/opt/app-root/src', '/opt/app-root/src'],
    ['/opt//app/./src/', '/opt/app/src'],
    ['/a/..b/c..', '/a/..b/c..'],
  ];
  for (const [input, out] of good) t.equal(imagePath(input, 'WorkingDir'), out, input);
});

t.test('bad paths are ERR_UNSAFE_PATH exit 5 with a message naming what and why', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['/../../etc', /contains a "\.\." component/],
    ['/opt/../..', /contains a "\.\." component/],
    ['relative/dir', /is not an absolute path/],
    ['/a\0b', /NUL/],
  ];
  for (const [input, msg] of bad) t.throws(exitOfSync(() => imagePath(input, 'WorkingDir of the runtime image')), { code: 'ERR_UNSAFE_PATH', exitCode: 5, message: msg }, JSON.stringify(input));
});

t.test('workingDirOf: unset is /, set is checked', async (t) => {
  t.equal(workingDirOf({ config: {} }), '/');
  t.equal(workingDirOf({}), '/');
  t.equal(workingDirOf({ config: { WorkingDir: '/w/' } }), '/w');
  t.throws(() => workingDirOf({ config: { WorkingDir: '/../host' } }, 'the builder image'), { message: /WorkingDir of the builder image/ });
});
