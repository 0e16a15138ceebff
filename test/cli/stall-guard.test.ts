// Issue 16, finding 4, the general part: a command whose promise never settles used to let Node exit 0 once the
// event loop emptied (a tar entry with a negative size did exactly that to `build` and `pull`). main() now
// aborts such a command with ERR_INTERNAL_STALL, runs the build steps' cleanups if it still does not finish, and
// exits 1 with one line. Each case runs main() in a child process with a command made to stall.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

const here = path.dirname(fileURLToPath(import.meta.url));
const mainUrl = pathToFileURL(path.join(here, '..', '..', 'src', 'cli', 'main.js')).href;
const stepsUrl = pathToFileURL(path.join(here, '..', '..', 'src', 'pipeline', 'steps.js')).href;

/** `body` is the command's run(ctx), given `steps` (a Steps whose cleanup writes `marker`) in scope. */
function runStalling(body: string, marker: string): { code: number | null; stderr: string; stdout: string } {
  const script = `
    import fs from 'node:fs';
    const { main, commandEntries } = await import(${JSON.stringify(mainUrl)});
    const { Steps } = await import(${JSON.stringify(stepsUrl)});
    const command = {
      name: 'stall', summary: 'stalls', args: [], params: [],
      async run(ctx) {
        const steps = new Steps(() => {});
        steps.defer('marker', () => fs.writeFileSync(${JSON.stringify(marker)}, 'cleaned'));
        ${body}
      },
    };
    commandEntries.push({ name: 'stall', load: async () => command });
    main(['stall']).then((code) => process.exit(code));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

t.test('a command that stalls never exits 0', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-stall-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string, string]> = [
    ['ignores the abort: cleanups run by the guard', 'await new Promise(() => {});'],
    ['unwinds on the abort through its finally', `try { await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))); } finally { await steps.cleanup(); }`],
    ['swallows the abort and returns 0', `await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)); await steps.cleanup(); return 0;`],
  ];
  for (const [i, [name, body]] of cases.entries()) {
    const marker = path.join(dir, `marker-${i}`);
    const r = runStalling(body, marker);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.equal(r.stderr, 'oci-s2i: internal error: the command stopped without finishing (nothing was left to wait for); please report this with the --debug output\n', `${name}: one line`);
    t.ok(existsSync(marker), `${name}: the cleanups ran`);
  }
});

t.test('a command that finishes is not touched', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-stall-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'marker');
  const r = runStalling(`await new Promise((r) => setTimeout(r, 50)); await steps.cleanup(); return 0;`, marker);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  t.ok(existsSync(marker));
});
