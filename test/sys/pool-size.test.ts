// withPoolSize: the UV_THREADPOOL_SIZE the launchers hand the Node processes they start.
import t from 'tap';
import { POOL_SIZE_ENV, withPoolSize } from '../../src/sys/pool-size.js';

t.test('one pool thread per core above libuv’s default 4; the caller’s value and small machines untouched', async (t) => {
  t.equal(withPoolSize({}, 16)[POOL_SIZE_ENV], '16');
  t.equal(withPoolSize({}, 5)[POOL_SIZE_ENV], '5');
  t.equal(withPoolSize({}, 4)[POOL_SIZE_ENV], undefined);
  t.equal(withPoolSize({}, 2)[POOL_SIZE_ENV], undefined);
  t.equal(withPoolSize({}, Number.NaN)[POOL_SIZE_ENV], undefined);
  t.equal(withPoolSize({ [POOL_SIZE_ENV]: '2' }, 64)[POOL_SIZE_ENV], '2');
  t.equal(withPoolSize({ [POOL_SIZE_ENV]: '' }, 8)[POOL_SIZE_ENV], '8', 'an empty value is unset');
  t.equal(withPoolSize({}, 4096)[POOL_SIZE_ENV], '1024', 'libuv’s ceiling');
  const env = { KEEP: 'x' };
  const out = withPoolSize(env, 8);
  t.equal(out.KEEP, 'x');
  t.not(out, env, 'a new object: the caller’s environment is not changed');
  t.equal((env as NodeJS.ProcessEnv)[POOL_SIZE_ENV], undefined);
});
