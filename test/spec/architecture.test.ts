// spec/architecture.md's module map is held to the code: every relative import of every src/ file must stay
// inside its folder, go to src/errors.ts or src/events.ts, or go to a folder its row allows; every folder has a
// row. The map is read from the markdown table itself, so the document and this check cannot drift apart.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../helpers/cli.js';

const srcDir = path.join(projectRoot, 'src');
const shared = new Set(['errors.ts', 'events.ts']);

/** folder → allowed folders ('*' = every folder), from the "Module map" table. */
export function parseModuleMap(markdown: string): Map<string, Set<string> | '*'> {
  const map = new Map<string, Set<string> | '*'>();
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Module map'));
  if (!section) throw new Error('spec/architecture.md has no "## Module map" section');
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const m = /^`([a-z0-9-]+)\/`$/.exec(cells[1] ?? '');
    if (!m) continue;
    const allowed = cells[3] ?? '';
    map.set(m[1]!, allowed === 'every folder' ? '*' : new Set([...allowed.matchAll(/`([a-z0-9-]+)`/g)].map((x) => x[1]!)));
  }
  return map;
}

/** Relative import specifiers of a TypeScript file (static imports and exports, dynamic import()). */
export function relativeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}

t.test('the parsers', async (t) => {
  const map = parseModuleMap('# x\n## Module map\n| folder | owns | may import |\n| --- | --- | --- |\n| `a/` | x | — |\n| `b/` | y | `a`, `c` |\n| `cli/` | z | every folder |\n## Next\n| `d/` | w | `a` |\n');
  t.same([...map.keys()], ['a', 'b', 'cli']);
  t.same([...(map.get('b') as Set<string>)], ['a', 'c']);
  t.equal(map.get('cli'), '*');
  t.same(relativeImports("import x from '../a/b.js';\nexport { y } from './c.js';\nconst z = await import('../d/e.js');\nimport '../side.js';\nimport y from 'node:fs';"), ['../a/b.js', './c.js', '../d/e.js', '../side.js']);
});

t.test('every src/ import is one spec/architecture.md allows', async (t) => {
  const map = parseModuleMap(readFileSync(path.join(projectRoot, 'spec', 'architecture.md'), 'utf8'));
  const folders = readdirSync(srcDir).filter((n) => statSync(path.join(srcDir, n)).isDirectory());
  for (const f of folders) t.ok(map.has(f), `src/${f}/ has a row in the module map`);
  for (const f of map.keys()) t.ok(folders.includes(f), `the row ${f}/ names a folder that exists`);
  const violations: string[] = [];
  for (const file of tsFiles(srcDir)) {
    const rel = path.relative(srcDir, file);
    const from = rel.split(path.sep)[0]!;
    if (!rel.includes(path.sep)) continue; // errors.ts, events.ts
    const allowed = map.get(from);
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const target = path.relative(srcDir, path.resolve(path.dirname(file), spec));
      if (target.startsWith('..')) {
        violations.push(`${rel} imports ${spec}, outside src/`);
        continue;
      }
      const parts = target.split(path.sep);
      if (parts.length === 1) {
        if (!shared.has(parts[0]!.replace(/\.js$/, '.ts'))) violations.push(`${rel} imports src/${parts[0]}`);
        continue;
      }
      const to = parts[0]!;
      if (to === from || allowed === '*') continue;
      if (!allowed?.has(to)) violations.push(`${rel} imports ${to}/ (${spec}), which the ${from}/ row does not allow`);
    }
  }
  t.same(violations, [], 'no import outside the module map');
});
