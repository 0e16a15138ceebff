import t from 'tap';
import { parseUidRanges, checkUser, formatUidRanges, uidAllowed } from '../../src/s2i/allowed-uids.js';
import { exitOfSync } from '../helpers/exit-code.js';

t.test('parseUidRanges: good', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['1-', [{ min: 1 }]],
    ['1000', [{ min: 1000, max: 1000 }]],
    ['1000-', [{ min: 1000 }]],
    ['-5000', [{ min: 0, max: 5000 }]],
    ['10-20', [{ min: 10, max: 20 }]],
    ['1-5, 100-, 7', [{ min: 1, max: 5 }, { min: 100 }, { min: 7, max: 7 }]],
    ['0', [{ min: 0, max: 0 }]],
  ];
  for (const [s, want] of cases) t.same(parseUidRanges(s), want, s);
  t.equal(formatUidRanges(parseUidRanges('1-5,100-,7')), '1-5,100-,7');
});

t.test('parseUidRanges: bad', async (t) => {
  for (const s of ['', '-', 'a', '1-a', '5-1', '1,,2', '1-2-3', '1.5', '-1-', '99999999999', ' ,1']) {
    t.throws(() => parseUidRanges(s), { code: 'ERR_ALLOWED_UIDS_SYNTAX' }, JSON.stringify(s));
  }
});

t.test('checkUser matrix', async (t) => {
  const r = parseUidRanges('1-');
  const ok = ['1', '1001', '431', '1001:0', '431:root', '4294967295'];
  const fail = ['0', 'root', 'nobody', '', undefined, '0:1001', 'root:0', 'a1'];
  for (const u of ok) t.doesNotThrow(() => checkUser(u, r, 'image USER'), String(u));
  for (const u of fail) {
    t.throws(exitOfSync(() => checkUser(u, r, 'image USER')), { code: 'ERR_USER_NOT_ALLOWED', exitCode: 15, message: /image USER.*1-/ }, String(u));
  }
  const narrow = parseUidRanges('1000-2000');
  t.throws(exitOfSync(() => checkUser('431', narrow, 'assemble user')), { exitCode: 15, message: /"431".*1000-2000/ });
  t.doesNotThrow(() => checkUser('1500', narrow, 'assemble user'));
  // root passes only when a range names 0 explicitly; empty (unknown) never passes.
  t.doesNotThrow(() => checkUser('0', parseUidRanges('0-'), 'x'));
  t.throws(exitOfSync(() => checkUser('', parseUidRanges('0-'), 'x')), { code: 'ERR_USER_NOT_ALLOWED', exitCode: 15 }, 'empty user with 0-');
  // no ranges: no policy
  t.doesNotThrow(() => checkUser('root', [], 'x'));
  t.ok(uidAllowed(5, [{ min: 5, max: 5 }]));
  t.notOk(uidAllowed(6, [{ min: 5, max: 5 }]));
});
