import t from 'tap';
import { epochToRfc3339, parseTimestamp, sourceDateEpoch } from '../../src/image/reproducible.js';
import { exitOfSync } from '../helpers/exit-code.js';

t.test('--timestamp wins over SOURCE_DATE_EPOCH; both parse', async (t) => {
  t.equal(sourceDateEpoch({}), undefined);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' }), undefined);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' }), 1700000000);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' }, '0'), 0);
  t.equal(sourceDateEpoch({}, '2024-01-01T00:00:00Z'), 1704067200);
  t.equal(parseTimestamp('2024-01-01T01:00:00+01:00'), 1704067200);
  t.equal(parseTimestamp('2024-01-01T00:00:00.999Z'), 1704067200);
  t.equal(epochToRfc3339(1704067200), '2024-01-01T00:00:00Z');
});

t.test('bad timestamps are ERR_INVALID_TIMESTAMP usage errors', async (t) => {
  for (const bad of ['yesterday', '-1', '1.5', '2024-13-01T00:00:00Z', '2023-02-30T00:00:00Z', '2024-01-01', '99999999999999', '1969-12-31T23:59:59Z']) {
    t.throws(exitOfSync(() => parseTimestamp(bad)), { code: 'ERR_INVALID_TIMESTAMP', exitCode: 64 }, bad);
  }
  t.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: '2024-01-01T00:00:00Z' }), { code: 'ERR_INVALID_TIMESTAMP', message: /SOURCE_DATE_EPOCH/ });
});
