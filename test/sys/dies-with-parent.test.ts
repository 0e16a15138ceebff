// sys/child-lifetime.ts diesWithParent, as the test registries use it (test/helpers/registry.ts): a docker-registry
// started by a test file that is killed with SIGKILL (no teardown runs) is gone with it, and it is started in
// the file's own process group (which the test runner kills when the file ends), not a group of its own.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const helper = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'registry.js');

/** Pids of docker-registry processes serving a config under `dir`. */
function registriesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((a) => a.endsWith('docker-registry')) && argv.some((a) => a.startsWith(dir))) out.push(Number(e));
  }
  return out;
}

const pgidOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[2]);

t.test('a test file killed with SIGKILL leaves no registry behind', async (t) => {
  const script = `import { startRegistry } from ${JSON.stringify(helper)};
const r = await startRegistry();
process.stdout.write(JSON.stringify({ dir: r.dataDir.replace(/\\/data$/, ''), host: r.host }) + '\\n');
setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let leftover: number[] = [];
  t.teardown(() => {
    child.kill('SIGKILL');
    for (const pid of leftover) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  const started = await new Promise<{ dir: string; host: string }>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!) as { dir: string; host: string });
    });
    child.once('exit', (code) => reject(new Error(`the child ended (${code}) before its registry started`)));
  });
  const pids = registriesUnder(started.dir);
  leftover = pids;
  t.teardown(() => rmSync(started.dir, { recursive: true, force: true }));
  t.equal(pids.length, 1, 'the child\'s registry runs');
  t.equal(pgidOf(pids[0]!), pgidOf(child.pid!), 'in the child\'s process group');
  t.equal((await fetch(`http://${started.host}/v2/`)).status, 200, 'and answers');

  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  // The kernel sends the parent-death signal as the child dies; the registry's exit is asynchronous to us.
  // Bounded so that a regression fails here instead of hanging the file.
  for (let i = 0; i < 1500 && registriesUnder(started.dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(registriesUnder(started.dir), [], 'no registry left after the SIGKILL');
  await t.rejects(fetch(`http://${started.host}/v2/`), 'nothing listens on its port');
});
