// Issue 13: without a terminal, a long pull printed nothing until the blob was done (one line after 11 s of
// silence); now a transferring blob gets a progress line at intervals. The renderer the CLI uses, with a clock
// the test moves.
import t from 'tap';
import { Writable } from 'node:stream';
import { makeRenderer } from '../../src/cli/render.js';

function sink(): { out: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out: w as unknown as NodeJS.WriteStream, text: () => text };
}

const flags = { quiet: false, json: false, debug: false, loglevel: 0 };
const digest = `sha256:${'ab'.repeat(32)}`;
const size = 100 * 1000 * 1000;

t.test('non-TTY: progress lines at the interval while a blob transfers, then its done line; none with -q', async (t) => {
  let clock = 0;
  const { out, text } = sink();
  const render = makeRenderer(flags, out, { intervalMs: 5000, now: () => clock });
  render({ type: 'blob', op: 'pull', digest, size, done: 0, state: 'start' });
  for (let s = 1; s <= 12; s++) {
    clock = s * 1000;
    render({ type: 'blob', op: 'pull', digest, size, done: s * 8 * 1000 * 1000, state: 'progress' });
  }
  render({ type: 'blob', op: 'pull', digest, size, done: size, state: 'end' });
  const lines = text().trim().split('\n');
  t.same(lines, [
    'Pulling blob abababababab 40.0 MB/100.0 MB (40%)',
    'Pulling blob abababababab 80.0 MB/100.0 MB (80%)',
    'Pulling blob abababababab 100.0 MB done',
  ]);

  const quiet = sink();
  const q = makeRenderer({ ...flags, quiet: true }, quiet.out, { intervalMs: 5000, now: () => clock });
  clock = 0;
  q({ type: 'blob', op: 'pull', digest, size, done: 0, state: 'start' });
  clock = 60_000;
  q({ type: 'blob', op: 'pull', digest, size, done: 1, state: 'progress' });
  t.equal(quiet.text(), '', '-q: no progress lines');

  const fast = sink();
  const f = makeRenderer(flags, fast.out, { intervalMs: 5000, now: () => clock });
  f({ type: 'blob', op: 'pull', digest, size, done: 0, state: 'start' });
  clock += 1000;
  f({ type: 'blob', op: 'pull', digest, size, done: size / 2, state: 'progress' });
  f({ type: 'blob', op: 'pull', digest, size, done: size, state: 'end' });
  t.equal(fast.text().trim().split('\n').length, 1, 'a blob done within the interval: its done line only');
});
