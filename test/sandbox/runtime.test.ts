// Which OCI runtime a build uses: crun wherever it runs (it starts faster), runc where it cannot, and runc
// instead of a default crun that cannot be set up; an explicit --runtime is never replaced.
import t from 'tap';
import { existsSync } from 'node:fs';
import { crunRunsHere, detectRuntime, isUnifiedCgroup, prepareRuntime, type Runtime } from '../../src/sandbox/runtime.js';

const has = (cmd: string): boolean => ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(`${d}/${cmd}`));
const isRoot = process.getuid?.() === 0;

/** Runs f with OCI_S2I_NAMESPACE set to `mode` (or unset), as the namespaced CLI would see it. */
function inMode<T>(mode: string | undefined, f: () => T): T {
  const before = process.env.OCI_S2I_NAMESPACE;
  if (mode === undefined) delete process.env.OCI_S2I_NAMESPACE;
  else process.env.OCI_S2I_NAMESPACE = mode;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.OCI_S2I_NAMESPACE;
    else process.env.OCI_S2I_NAMESPACE = before;
  }
}

t.test('crun runs on cgroup v2 hosts, and as root in our mount namespace on hybrid ones', async (t) => {
  t.equal(crunRunsHere({ OCI_S2I_NAMESPACE: 'userns' }), isUnifiedCgroup());
  t.equal(crunRunsHere({}), isUnifiedCgroup());
  t.equal(crunRunsHere({ OCI_S2I_NAMESPACE: 'root' }), isUnifiedCgroup() || isRoot);
});

t.test('the default is crun where it runs, else runc', { skip: !(has('crun') && has('runc')) && 'needs both runc and crun' }, async (t) => {
  t.equal(inMode('root', () => detectRuntime()).name, isRoot || isUnifiedCgroup() ? 'crun' : 'runc');
  t.equal(inMode('userns', () => detectRuntime()).name, isUnifiedCgroup() ? 'crun' : 'runc');
  t.equal(inMode('root', () => detectRuntime('runc')).name, 'runc', 'an explicit choice wins');
  t.equal(inMode('userns', () => detectRuntime('crun')).name, 'crun', 'an explicit choice wins');
  t.throws(() => detectRuntime('kata'), { code: 'ERR_RUNTIME_UNKNOWN' });
});

t.test('a default crun that cannot be set up falls back to runc; an explicit one fails', { skip: (isUnifiedCgroup() || !has('runc')) && 'needs a hybrid cgroup host and runc' }, async (t) => {
  // Outside our root mount namespace crun gets no private cgroup2 mount on a hybrid host.
  const crun: Runtime = { name: 'crun', path: '/usr/bin/crun', globalArgs: ['--cgroup-manager=disabled'] };
  const heard: string[] = [];
  const picked = inMode('userns', () => prepareRuntime(crun, { explicit: false, onFallback: (m) => heard.push(m) }));
  t.equal(picked.name, 'runc');
  t.ok(existsSync(picked.path));
  t.equal(heard.length, 1);
  t.match(heard[0], /hybrid cgroup.*using runc/);
  t.throws(() => inMode('userns', () => prepareRuntime(crun, { explicit: true })), { code: 'ERR_RUNTIME_UNSUPPORTED' });
  const runc: Runtime = { name: 'runc', path: '/usr/sbin/runc', globalArgs: [] };
  t.equal(inMode('userns', () => prepareRuntime(runc, { explicit: false })), runc, 'runc needs no set-up');
});
