// The pure parts of the fallback chain: reading capabilities and the seccomp mode from /proc/self/status text,
// the sandbox error's one line and exit code, telling a sandbox that refused from a script that failed, and the
// single-ID owner rules.
import t from 'tap';
import { exitCodeFor } from '../../src/cli/error-table.js';
import { CAP_SYS_ADMIN, hasCapability, underSeccompFilter } from '../../src/sandbox/caps.js';
import { refusalInOutput, sandboxError } from '../../src/sandbox/sandbox-error.js';
import { assembleFailed } from '../../src/pipeline/sandbox-run.js';
import { fileSystemOf } from '../../src/sandbox/overlay.js';
import { diffOwnedBy, singleIdUser } from '../../src/pipeline/single-id.js';
import type { SnapshotDiff } from '../../src/layer/snapshot-diff.js';
import type { WalkNode } from '../../src/layer/walk.js';

const status = (capEff: string, seccomp: number) => `Name:\tnode\nUid:\t0\t0\t0\t0\nCapEff:\t${capEff}\nCapBnd:\t${capEff}\nSeccomp:\t${seccomp}\n`;

t.test('capabilities and seccomp from /proc/self/status', async (t) => {
  t.equal(hasCapability(CAP_SYS_ADMIN, status('000001ffffffffff', 0)), true, 'host root');
  t.equal(hasCapability(CAP_SYS_ADMIN, status('00000000800405fb', 2)), false, "podman's default capabilities");
  t.equal(hasCapability(CAP_SYS_ADMIN, status('0000000000200000', 2)), true, 'SYS_ADMIN alone');
  t.equal(hasCapability(CAP_SYS_ADMIN, 'Name:\tx\n'), true, 'cannot tell: try as before');
  t.equal(underSeccompFilter(status('0', 2)), true);
  t.equal(underSeccompFilter(status('0', 0)), false);
  t.equal(underSeccompFilter('Name:\tx\n'), false);
});

t.test('the file system a path is on (overlay on overlay is told by it)', async (t) => {
  t.equal(fileSystemOf('/proc/1'), 'proc');
  t.equal(fileSystemOf('/proc'), 'proc');
  t.not(fileSystemOf('/procx'), 'proc', 'a prefix of a name is not its mount');
});

t.test('the sandbox error: one line, exit 13, what was refused and every way out', async (t) => {
  const e = sandboxError('mount-namespace', 'root without CAP_SYS_ADMIN cannot make a mount namespace', 'unshare: unshare(0x20000): Operation not permitted\n');
  t.equal(e.code, 'ERR_SANDBOX');
  t.equal(exitCodeFor(e), 13);
  t.notMatch(e.message, /\n/);
  t.match(e.message, /^cannot set up the build sandbox: root without CAP_SYS_ADMIN cannot make a mount namespace \(unshare: unshare\(0x20000\): Operation not permitted\); /);
  t.match(e.message, /SYS_ADMIN/);
  t.match(e.message, /--isolation in-image/);
  t.match(e.message, /integrations\/tekton/);
  t.match(sandboxError('id-map', 'x', 'y').message, /SETUID,SETGID/);
  t.match(sandboxError('user-namespace', 'x', 'y').message, /Unconfined|CRI-O/);
  t.match(sandboxError('overlay', 'x', 'y').message, /--isolation auto/);
  t.ok(sandboxError('proc', 'x', 'z'.repeat(1000)).message.length < 900, 'a long detail is cut');
});

t.test("a run the sandbox refused is a sandbox error, a script's failure is not", async (t) => {
  const proc = assembleFailed({ exitCode: 1, signal: null, tail: ['unshare: mount /proc failed: Operation not permitted'] }, 'assemble');
  t.equal(proc.code, 'ERR_SANDBOX');
  t.match(proc.message, /a \/proc for the build container cannot be mounted/);
  t.match(proc.message, /procMount: Unmasked/);
  const runc = assembleFailed(
    { exitCode: 1, signal: null, tail: ['time="2026-12-03T00:43:41Z" level=error msg="runc run failed: unable to start container process: error during container init: sethostname: operation not permitted"'] },
    'assemble',
  );
  t.equal(runc.code, 'ERR_SANDBOX');
  t.match(runc.message, /the OCI runtime cannot start the build container/);
  const script = assembleFailed({ exitCode: 3, signal: null, tail: ['compiling', 'error: broken build'] }, 'assemble (/usr/libexec/s2i/assemble)');
  t.equal(script.code, 'ERR_ASSEMBLE_FAILED');
  t.match(script.message, /exited with code 3/);
  t.equal(refusalInOutput(['all good']), undefined);
});

t.test('single-ID owners', async (t) => {
  t.equal(singleIdUser({ uid: 0, gid: 0 }, true), undefined, 'root builders need nothing');
  t.equal(singleIdUser({ uid: 1001, gid: 0 }, false), undefined, 'a namespace with a range runs the USER itself');
  t.same(singleIdUser({ uid: 1001, gid: 0, additionalGids: [5] }, true), { runAs: { uid: 0, gid: 0 }, recordAs: { uid: 1001, gid: 0 } });
  const node = (rel: string, uid: number): WalkNode => ({
    rel: Buffer.from(rel),
    abs: Buffer.from(`/r/${rel}`),
    st: { type: 'file', mode: 0o644, uid, gid: 0, size: 0, mtime: 0, nlink: 1, devMajor: 0, devMinor: 0, inode: '', hasXattrs: false },
  });
  const diff: SnapshotDiff = {
    root: '/r',
    changes: [
      { kind: 'parent', node: node('etc', 0) },
      { kind: 'changed', node: node('etc/passwd', 0) },
      { kind: 'added', node: node('app/built', 0) },
    ],
    counts: { added: 1, changed: 1, removed: 0, parent: 1 },
    files: [],
    untouched: 0,
    lowerDirs: [],
  };
  const owned = diffOwnedBy(diff, { uid: 1001, gid: 0 });
  t.same(owned.changes.map((c) => `${c.node.rel.toString()}:${c.node.st.uid}`), ['etc:0', 'etc/passwd:0', 'app/built:1001'], 'only what the build created');
});
