import t from 'tap';
import { resolveUserSpec, parsePasswd } from '../../src/s2i/user.js';

const passwd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1::/:/bin/false
default:x:1001:0:Default:/opt/app-root/src:/sbin/nologin
app:x:431:431::/home/app:/bin/sh
broken line
bad:x:notanumber:0::/:/bin/sh
`;
const group = `root:x:0:
app:x:431:
wheel:x:10:app,other
docker:x:999:app
staff:x:50:
`;

t.test('resolveUserSpec: good', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['', { uid: 0, gid: 0 }],
    ['root', { uid: 0, gid: 0 }],
    ['0', { uid: 0, gid: 0 }],
    ['1001', { uid: 1001, gid: 0 }],
    ['default', { uid: 1001, gid: 0 }],
    ['app', { uid: 431, gid: 431, additionalGids: [10, 999] }],
    ['431', { uid: 431, gid: 431, additionalGids: [10, 999] }],
    ['app:staff', { uid: 431, gid: 50 }],
    ['app:7', { uid: 431, gid: 7 }],
    ['5000', { uid: 5000, gid: 0 }],
    ['5000:5000', { uid: 5000, gid: 5000 }],
    ['1001:', { uid: 1001, gid: 0 }],
    [':staff', { uid: 0, gid: 50 }],
  ];
  for (const [spec, want] of cases) t.same(resolveUserSpec(spec, passwd, group), want, spec);
  t.same(resolveUserSpec('1234'), { uid: 1234, gid: 0 }, 'no passwd at all');
});

t.test('resolveUserSpec: bad', async (t) => {
  t.throws(() => resolveUserSpec('nobody', passwd, group), { code: 'ERR_USER_UNKNOWN', message: /nobody/ });
  t.throws(() => resolveUserSpec('bad', passwd, group), { code: 'ERR_USER_UNKNOWN' });
  t.throws(() => resolveUserSpec('app:nogroup', passwd, group), { code: 'ERR_USER_UNKNOWN', message: /nogroup/ });
  t.throws(() => resolveUserSpec('app'), { code: 'ERR_USER_UNKNOWN' }, 'name without passwd');
  t.throws(() => resolveUserSpec('99999999999', passwd, group), { code: 'ERR_USER_UNKNOWN' }, 'uid overflow is not a number');
});

t.test('parsePasswd skips malformed lines', async (t) => {
  t.equal(parsePasswd(passwd).length, 4);
});
