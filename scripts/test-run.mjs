#!/usr/bin/env node
// The test runner of `npm test`: runs every test file (dist/test/**/*.test.js, tap test programs) as a plain
// Node process, N at a time, and prints one TAP stream in tap(1)'s layout (each file a subtest indented by four
// spaces, then `ok N - FILE # time=…`), so .ci/tap-failures.awk and tap's readers take it as tap's own.
//
// Why not tap's runner: it loads two import hooks (@tapjs/mock, @tapjs/processinfo) into every test process,
// and through NODE_OPTIONS into every process a test spawns (each CLI call). Measured on test/cli/bad-input:
// 30.5 s under tap's runner, 14.0 s as a plain Node process, same assertions. We use neither hook (no
// t.mock, no coverage).
//
// Usage: node scripts/test-run.mjs [--jobs N] [FILE|DIR ...]   (default: all test files; jobs: the `tap.jobs`
// of package.json, else the number of cores). Per file: tap's `timeout` (seconds) of package.json. The slowest
// files start first (times recorded in .tap/test-times.json by the previous run; without it, biggest first).
// SIGINT/SIGTERM stop every running file's whole process group; a file that outlives its timeout is killed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const config = pkg.tap ?? {};
const timesFile = path.join(root, '.tap', 'test-times.json');

function usage(msg) {
  process.stderr.write(`test-run: ${msg}\nusage: node scripts/test-run.mjs [--jobs N] [FILE|DIR ...]\n`);
  process.exit(64);
}

const args = process.argv.slice(2);
let jobs = Number(process.env.TEST_JOBS) || Number(config.jobs) || os.availableParallelism();
const wanted = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--jobs' || a === '-j') {
    jobs = Number(args[++i]);
    if (!Number.isInteger(jobs) || jobs < 1) usage(`--jobs needs a whole number of at least 1, got ${JSON.stringify(args[i])}`);
  } else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else wanted.push(path.resolve(a));
}
const timeoutSec = Number(config.timeout) || 300;

function testFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  if (fs.statSync(dir).isFile()) return [dir];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'fixtures' && e.name !== 'helpers') out.push(...testFiles(p));
    } else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = wanted.length ? wanted.flatMap((w) => {
  const f = testFiles(w);
  if (f.length === 0) usage(`no test file at ${w} (build first: bash scripts/build.sh)`);
  return f;
}) : testFiles(path.join(root, 'dist', 'test'));
if (files.length === 0) usage('no test files under dist/test (build first: bash scripts/build.sh)');

let known = {};
try {
  known = JSON.parse(fs.readFileSync(timesFile, 'utf8'));
} catch {
  known = {};
}
const rel = (f) => path.relative(root, f);
// Known times first, longest first; unknown files by size (a bigger test file has more to do).
const weight = (f) => known[rel(f)] ?? fs.statSync(f).size;
files.sort((a, b) => weight(b) - weight(a) || rel(a).localeCompare(rel(b)));

const childEnv = { ...process.env, TAP_TIMEOUT: String(timeoutSec), TAP_OMIT_VERSION: '1' };
delete childEnv.NODE_OPTIONS;

const running = new Set();
let stopping = false;
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

const totals = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
const failed = [];
const times = { ...known };
let n = 0;
const started = Date.now();
process.stdout.write('TAP version 14\n');

// Every test point at every level (assertions and the subtests' own lines), as tap's summary counts them.
function countAsserts(parser, counts) {
  parser.on('assert', (a) => {
    counts.total += 1;
    if (a.todo) counts.todo += 1;
    else if (a.skip) counts.skip += 1;
    else if (a.ok) counts.pass += 1;
    else counts.fail += 1;
  });
  parser.on('child', (c) => countAsserts(c, counts));
}

function runFile(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: root,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    const out = [];
    const err = [];
    let results = null;
    const parser = new Parser((r) => (results = r));
    const counts = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
    countAsserts(parser, counts);
    child.stdout.on('data', (d) => {
      out.push(d);
      parser.write(d);
    });
    child.stderr.on('data', (d) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 10_000).unref();
    }, timeoutSec * 1000);
    child.on('error', (e) => err.push(Buffer.from(`test-run: cannot start ${file}: ${e.message}\n`)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      // Whatever the file left behind in its group (a server it did not stop) goes with it.
      killGroup(child, 'SIGKILL');
      parser.end();
      const ms = Date.now() - t0;
      resolve({ file, code, signal, timedOut, ms, results, counts, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

function report(r) {
  const name = rel(r.file);
  const res = r.results;
  const ok = !stopping && r.code === 0 && !r.signal && !r.timedOut && res !== null && res.ok && !res.bailout;
  for (const k of Object.keys(totals)) totals[k] += r.counts[k];
  if (!ok) {
    failed.push(name);
    if (r.counts.fail === 0) totals.fail += 1;
  }
  times[name] = r.ms;
  n += 1;
  const body = r.stdout.replace(/\n$/, '').split('\n').map((l) => (l === '' ? '' : `    ${l}`)).join('\n');
  let text = `# Subtest: ${name}\n${body}\n${ok ? 'ok' : 'not ok'} ${n} - ${name} # time=${r.ms}ms\n`;
  if (!ok) {
    const why = r.timedOut ? `timed out after ${timeoutSec} s` : r.signal ? `killed by ${r.signal}` : r.code !== 0 ? `exited with code ${r.code}` : res === null ? 'printed no TAP' : 'failed assertions';
    text += `  ---\n  file: ${name}\n  reason: ${why}\n  exitCode: ${r.code}\n  signal: ${r.signal}\n  ...\n`;
  }
  process.stdout.write(text);
  if (r.stderr.trim() !== '') process.stderr.write(`# stderr of ${name}:\n${r.stderr.replace(/\n?$/, '\n')}`);
}

function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`test-run: ${signal}: stopping ${running.size} running test file(s)\n`);
  for (const c of running) killGroup(c, 'SIGTERM');
  setTimeout(() => {
    for (const c of running) killGroup(c, 'SIGKILL');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }, 5_000).unref();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const queue = [...files];
async function worker() {
  while (!stopping && queue.length > 0) {
    const file = queue.shift();
    report(await runFile(file));
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

process.stdout.write(`1..${n}\n`);
const summary = Object.entries(totals).filter(([k, v]) => v !== 0 || k === 'total' || k === 'pass').map(([k, v]) => `${k}: ${v}`).join(', ');
process.stdout.write(`# { ${summary} }\n# time=${Date.now() - started}ms\n`);
if (failed.length) process.stdout.write(`# failed files:\n${failed.map((f) => `#   ${f}`).join('\n')}\n`);
if (!stopping) {
  try {
    fs.mkdirSync(path.dirname(timesFile), { recursive: true });
    fs.writeFileSync(timesFile, `${JSON.stringify(times, null, 1)}\n`);
  } catch {
    // the record is only an ordering hint
  }
}
process.exit(stopping ? 130 : failed.length ? 1 : 0);
