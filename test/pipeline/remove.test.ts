// Removing a build's scratch dirs: a child `rm -rf` (also through a mode-000 directory, as overlay leaves its
// work dir), and the same result when `rm` cannot be started.
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeTrees, removeTreeNow } from '../../src/pipeline/remove.js';

function tree(root: string): string[] {
  const upper = path.join(root, 'upper');
  const work = path.join(root, 'work');
  for (let i = 0; i < 50; i++) {
    mkdirSync(path.join(upper, `d${i % 5}`), { recursive: true });
    writeFileSync(path.join(upper, `d${i % 5}`, `f${i}`), 'x');
  }
  mkdirSync(path.join(work, 'work'), { recursive: true });
  writeFileSync(path.join(work, 'work', 'inside'), 'y');
  // overlay leaves its work/work at mode 000; only root (as the namespaced CLI is) can remove that.
  if (process.getuid?.() === 0) chmodSync(path.join(work, 'work'), 0o000);
  return [upper, work];
}

t.test('removeTrees removes every tree and what is left beside them stays', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-remove-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dirs = tree(root);
  writeFileSync(path.join(root, 'keep'), 'k');
  await removeTrees(dirs);
  for (const d of dirs) t.notOk(existsSync(d), d);
  t.ok(existsSync(path.join(root, 'keep')));
  removeTreeNow(root);
  t.notOk(existsSync(root));
  removeTreeNow(root); // absent: no error
});

t.test('without an `rm` to start, removeTrees still removes them', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-remove-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dirs = tree(root);
  const before = process.env.PATH;
  process.env.PATH = path.join(root, 'no-such-dir');
  try {
    await removeTrees(dirs);
  } finally {
    process.env.PATH = before;
  }
  for (const d of dirs) t.notOk(existsSync(d), d);
});
