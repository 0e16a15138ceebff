// issue 16, finding 5: `kill -9` of the command ends the build. Rootless, the inner engine went on and pushed
// the tag; as root, a runc/crun container killed during assemble kept running, reparented to init. Now: within a
// few seconds of the kill no engine, runtime or container process of the build is alive and the tag is never
// pushed (killed during assemble, and during a push held by a fault proxy); the next build or `cache prune`
// reaps the runtime state the kill left. Through the real CLI, against a real registry, as root with runc and
// crun (both launchers: the shell one that execs the engine, the Node one that starts it as a child) and as an
// unprivileged user with a subuid range.
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { cliPath, projectRoot, runCli, type CliOptions } from '../helpers/cli.js';
import { canCreateUsers, cliFor, ensureUser, userTempDir, type TestUser } from '../helpers/users.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

const isRoot = process.getuid?.() === 0;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-lifetime-'));
chmodSync(tmp, 0o755);
let registry: TestRegistry;
let proxy: FaultProxy;
const client = new RegistryClient();
let builder = '';
/** Every process this file starts lists it in its arguments (the cache root or the assemble's marker). */
const token = `lifetime-${process.pid}`;
const started: ChildProcess[] = [];
/** Cache roots and the unprivileged user's temp dirs: removed at the end, after whatever names them is killed. */
const roots: string[] = [];
const userDirs: string[] = [];

// The assemble prints a marker, then waits in a child shell named by the token (`; :` keeps sh from exec'ing
// sleep, which would drop the name) for SLEEP seconds: long enough to be killed in, short enough that an
// engine that survived the kill would go on to push within the waits below.
const ASSEMBLE = '#!/bin/sh\necho ASSEMBLE-STARTED\nsh -c "sleep ${SLEEP:-4}; :" "$LIFETIME_TOKEN"\necho ASSEMBLE-DONE\n';
const RUN = '#!/bin/sh\necho running\n';

t.before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  const scripts = path.join(tmp, 'scripts');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'assemble'), ASSEMBLE, { mode: 0o755 });
  writeFileSync(path.join(scripts, 'run'), RUN, { mode: 0o755 });
  await pushBusyboxBuilder(client.repository(registry.host, 't/lifetime-builder'), 'latest', { scriptsDir: scripts });
  builder = `${registry.host}/t/lifetime-builder:latest`;
});
t.teardown(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const pid of [...survivors(), ...roots.flatMap((r) => processesNaming(r).map((p) => p.pid))]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await client.close();
  await proxy?.stop();
  await registry?.stop();
  rmSync(tmp, { recursive: true, force: true });
  for (const d of userDirs) rmSync(d, { recursive: true, force: true });
});

/** Live (not zombie) processes whose arguments name `needle`. */
function processesNaming(needle: string): Array<{ pid: number; args: string }> {
  const out: Array<{ pid: number; args: string }> = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isSafeInteger(pid) || pid === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (!args.includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push({ pid, args });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function survivors(): number[] {
  return processesNaming(token).map((p) => p.pid);
}

/** Waits until nothing naming `needles` lives; returns what still does after `ms`. */
async function settle(needles: string[], ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = needles.flatMap((n) => processesNaming(n).map((p) => `${p.pid}: ${p.args}`));
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

async function tagExists(repo: string, tag: string): Promise<boolean> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status === 200;
}

interface Caller {
  /** Runs as this user (rootless), else as root. */
  user?: TestUser;
  cli?: string;
  /** The shell launcher bin/oci-s2i (root: the engine is the command's own process) instead of bin/oci-s2i.js. */
  shell?: boolean;
}

/** Starts `oci-s2i ARGS` as `caller` the way runCli does, without waiting; `kill` reaches the command's pid. */
function startCli(args: string[], caller: Caller): { child: ChildProcess; output: () => string; marker: (text: string) => Promise<void> } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  let cmd: string;
  let argv: string[];
  if (caller.user) {
    env.HOME = caller.user.home;
    delete env.XDG_RUNTIME_DIR;
    cmd = 'setpriv';
    // tap's hooks put an --import into NODE_OPTIONS of every child; as the other user they cannot write it.
    argv = ['--reuid', String(caller.user.uid), '--regid', String(caller.user.gid), '--init-groups', '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, caller.cli ?? cliPath, ...args];
  } else if (caller.shell) {
    cmd = path.join(projectRoot, 'bin', 'oci-s2i');
    argv = args;
  } else {
    cmd = process.execPath;
    argv = [cliPath, ...args];
  }
  const child = spawn(cmd, argv, { env, cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiting) if (out.includes(w.text)) w.resolve();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    output: () => out,
    marker: (text) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no "${text}" within 60 s; output: ${out}`)), 60_000);
        waiting.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
        child.once('close', () => reject(new Error(`the command ended before "${text}": ${out}`)));
      }),
  };
}

/** The command's own process ended ('exit': 'close' would also wait for whatever else holds its output pipes). */
function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Container ids left in the runtime state dirs under `root`, with their state dir. */
function leftContainers(root: string): Array<{ state: string; id: string }> {
  const dir = path.join(root, 'containers');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((d) => {
    const state = path.join(dir, d, 'state');
    return existsSync(state) ? readdirSync(state).map((id) => ({ state, id })) : [];
  });
}

interface Case {
  name: string;
  caller: () => Caller;
  runtime: 'runc' | 'crun';
  /** How the leftover is reaped: the next build, or `cache prune`. */
  reap: 'build' | 'prune';
  skip?: string | false;
}

const needsUsers = !canCreateUsers() && 'needs root to create a test user';
const cases: Case[] = [
  { name: 'root, runc, shell launcher', caller: () => ({ shell: true }), runtime: 'runc', reap: 'prune', skip: !isRoot && 'needs root' },
  { name: 'root, crun, Node launcher', caller: () => ({}), runtime: 'crun', reap: 'build', skip: !isRoot && 'needs root' },
  {
    name: 'rootless (subuid range), runc',
    caller: () => {
      const user = ensureUser('ocis2i-rootless', { subIds: true });
      return { user, cli: cliFor(user) };
    },
    runtime: 'runc',
    reap: 'build',
    skip: needsUsers,
  },
];

/** A cache root the caller owns. */
function cacheRoot(caller: Caller, name: string): string {
  const dir = caller.user ? userTempDir(caller.user, `oci-s2i-lifetime-${name}-`) : mkdtempSync(path.join(tmp, `${name}-`));
  if (caller.user) userDirs.push(dir);
  roots.push(path.join(dir, 'cache'));
  return path.join(dir, 'cache');
}

function source(caller: Caller): string {
  const dir = caller.user ? userTempDir(caller.user, 'oci-s2i-lifetime-src-') : mkdtempSync(path.join(tmp, 'src-'));
  if (caller.user) userDirs.push(dir);
  writeFileSync(path.join(dir, 'index.html'), 'hello\n');
  chmodSync(dir, 0o755);
  if (caller.user) execFileSync('chown', ['-R', `${caller.user.uid}:${caller.user.gid}`, dir]);
  return dir;
}

function cliOptions(caller: Caller): CliOptions {
  return caller.user ? { user: caller.user, ...(caller.cli ? { cli: caller.cli } : {}), timeoutMs: 120_000 } : { timeoutMs: 120_000 };
}

for (const c of cases) {
  t.test(`kill -9 during assemble: ${c.name}`, { skip: c.skip ?? false, timeout: 180_000 }, async (t) => {
    const caller = c.caller();
    const root = cacheRoot(caller, c.runtime);
    const repo = `t/lifetime-asm-${c.runtime}-${caller.user ? 'rootless' : 'root'}`;
    const build = startCli(['build', source(caller), builder, `${registry.host}/${repo}:1`, '--root', root, '--runtime', c.runtime, '-e', `LIFETIME_TOKEN=${token}`], caller);
    t.teardown(() => {
      if (build.child.exitCode === null) build.child.kill('SIGKILL');
    });
    await build.marker('ASSEMBLE-STARTED');
    build.child.kill('SIGKILL');
    await exited(build.child);

    // Nothing of the build lives on: no engine (its arguments name the root), no runtime (its --root is under
    // the root), no assemble (named by the token).
    // Well before the assemble would end by itself (4 s after the marker).
    t.same(await settle([root, token], 3000), [], 'no engine, runtime or container process left');
    // A surviving engine would have pushed by now: commit and push take a second or two after the assemble
    // (4 s after the marker; we look 5 s after the settle, which comes after the marker).
    await sleep(5000);
    t.notOk(await tagExists(repo, '1'), 'the tag was not pushed');
    t.same(await settle([root, token], 0), [], 'and nothing started since');

    const left = leftContainers(root);
    t.ok(left.length > 0, 'the kill left the runtime state of the assemble container');
    const cgroups = isRoot && !caller.user && c.runtime === 'runc' ? left.map((l) => `/sys/fs/cgroup/pids/${l.id}`) : [];
    if (c.reap === 'prune') {
      const r = await runCli(['cache', 'prune', '--root', root], cliOptions(caller));
      t.equal(r.code, 0, r.stderr);
    } else {
      const next = startCli(['build', source(caller), builder, `${registry.host}/${repo}:2`, '--root', root, '--runtime', c.runtime, '--sbom', 'none', '--provenance=false', '-e', 'SLEEP=0', '-e', `LIFETIME_TOKEN=${token}`], caller);
      await new Promise((r) => next.child.once('close', r));
      t.equal(next.child.exitCode, 0, next.output());
      t.ok(await tagExists(repo, '2'), 'the next build pushes');
    }
    t.same(leftContainers(root), [], `the ${c.reap === 'prune' ? 'prune' : 'next build'} reaped the state`);
    for (const l of left) {
      t.notOk(existsSync(l.state), `state dir ${l.state} removed`);
      const listed = existsSync(l.state) ? execFileSync(c.runtime, ['--root', l.state, 'list', '-q'], { encoding: 'utf8' }).trim() : '';
      t.equal(listed, '', 'the runtime lists no container');
    }
    for (const g of cgroups) t.notOk(existsSync(g), `runc's cgroup ${g} removed`);
  });
}

const pushCases = cases.filter((c) => c.runtime === 'runc');
for (const c of pushCases) {
  t.test(`kill -9 during the push: ${c.name}`, { skip: c.skip ?? false, timeout: 180_000 }, async (t) => {
    const caller = c.caller();
    const root = cacheRoot(caller, `push-${c.runtime}`);
    const repo = `t/lifetime-push-${caller.user ? 'rootless' : 'root'}`;
    // Every upload's first request is held: the engine is inside the push when it is killed.
    proxy.setFault({ kind: 'stall', method: 'POST', path: '/blobs/uploads/', ms: 4_000 });
    t.teardown(() => proxy.setFault(null));
    const build = startCli(['build', source(caller), builder, `${proxy.host}/${repo}:1`, '--root', root, '--runtime', c.runtime, '-e', 'SLEEP=0', '-e', `LIFETIME_TOKEN=${token}`], caller);
    t.teardown(() => {
      if (build.child.exitCode === null) build.child.kill('SIGKILL');
    });
    const deadline = Date.now() + 60_000;
    while (proxy.pending() > 0 && build.child.exitCode === null && Date.now() < deadline) await sleep(50);
    t.equal(proxy.pending(), 0, `the push reached the registry: ${build.output()}`);
    build.child.kill('SIGKILL');
    await exited(build.child);
    t.same(await settle([root, token], 3000), [], 'no engine or runtime process left');
    proxy.setFault(null);
    // The held upload is let through after 4 s; a surviving engine would then finish the push.
    await sleep(6_000);
    t.notOk(await tagExists(repo, '1'), 'the tag was not pushed');
    t.same(await settle([root], 0), [], 'and nothing started since');
  });
}

// `oci-s2i run` under the same wrapper: output and exit codes pass through, SIGTERM to the command still ends a
// long-running container (exit 130), and kill -9 leaves nothing running.
for (const c of cases) {
  t.test(`oci-s2i run: output, exit code, SIGTERM, kill -9: ${c.name}`, { skip: c.skip ?? false, timeout: 120_000 }, async (t) => {
    const caller = c.caller();
    const root = cacheRoot(caller, `run-${c.runtime}`);
    const base = ['run', '--root', root, '--runtime', c.runtime, builder, '--'];
    const r = await runCli([...base, 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], cliOptions(caller));
    t.equal(r.code, 3, `the container's exit code: ${r.stderr}`);
    t.match(r.stdout, /^to-stdout$/m);
    t.match(r.stderr, /^to-stderr$/m);

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const run = startCli([...base, 'sh', '-c', 'echo RUN-READY; sleep 60; :', token], caller);
      t.teardown(() => {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      });
      await run.marker('RUN-READY');
      const started = Date.now();
      run.child.kill(signal);
      await exited(run.child);
      if (signal === 'SIGTERM') t.equal(run.child.exitCode, 130, `SIGTERM: exit 130 ${run.output()}`);
      t.ok(Date.now() - started < 5000, `${signal} ends it at once`);
      t.same(await settle([root, token], 3000), [], `${signal}: no engine, runtime or container process left`);
    }
    const reap = await runCli(['cache', 'prune', '--root', root], cliOptions(caller));
    t.equal(reap.code, 0, reap.stderr);
    t.same(leftContainers(root), [], 'prune reaped what the kill left');
  });
}
