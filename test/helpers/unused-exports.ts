// Finds the exports of src/**/*.ts that no other module imports (ts-prune's question), by parsing each file
// with the TypeScript compiler API: syntax only, no type checking, so the whole tree takes well under a second.
// Users are src/, test/, bench/ and scripts/ (bin/ is an entry point: the test's allow-list).
// What counts as a use of `name` from module M:
//   import { name } / import type { name } / export { name } from M   (a re-export also counts as a use)
//   import * as ns / export * from M / a bare import(M) or require(M)  (every export of M: nothing to tell apart)
//   (await import(M)).name, const { name } = await import(M), import(M).name in a type position
// Specifiers are resolved as the sources write them: './x.js' is ./x.ts, and ../dist/src/x.js (scripts, bin) is
// src/x.ts. Tests also start child Node processes whose code is a string: a name taken in such a string
// (`const { name } = await import(${url})`, `(await import(${url})).name`) is a use of it in every module whose
// file name (`layer-cache.js`) the same file mentions, as the URL cannot be read without running the test.
// A name used only inside its own module is reported too, marked `local`: its `export` can go.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface UnusedExport {
  /** Path relative to the project root, with forward slashes. */
  file: string;
  name: string;
  line: number;
  /** True when the module itself still uses the name (drop `export`); false when nothing does (dead code). */
  local: boolean;
}

const userDirs = ['src', 'test', 'bench', 'scripts'];
const skipDirs = new Set(['node_modules', 'dist', 'go-app', 'results']);
const sourceExt = /\.(?:ts|mts|cts|js|mjs|cjs)$/;

function listFiles(dir: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory()) {
      // Dot dirs hold no sources: bench/.data has the benchmarks' generated trees (thousands of .js files).
      if (!skipDirs.has(e.name) && !e.name.startsWith('.')) listFiles(path.join(dir, e.name), out);
    } else if (e.isFile() && sourceExt.test(e.name) && !e.name.endsWith('.d.ts')) {
      out.push(path.join(dir, e.name));
    }
  }
}

/** The .ts file a relative specifier names, or undefined when it leads outside the project's own sources. */
function resolveSpecifier(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  let p = path.resolve(path.dirname(from), spec);
  const dist = path.join(root, 'dist') + path.sep;
  if (p.startsWith(dist)) p = path.join(root, p.slice(dist.length));
  return p.replace(/\.(?:m|c)?js$/, '.ts');
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

function bindingNames(name: ts.BindingName, out: ts.Identifier[]): void {
  if (ts.isIdentifier(name)) out.push(name);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, out);
}

interface ModuleInfo {
  /** Exported name → the identifier that declares it (for the line and to tell local uses apart). */
  exports: Map<string, ts.Node>;
  /** Identifiers in the module's own text, minus the declaring ones, by name: its local uses. */
  localNames: Set<string>;
}

export function findUnusedExports(root: string): UnusedExport[] {
  const files: string[] = [];
  for (const d of userDirs) listFiles(path.join(root, d), files);
  const srcDir = path.join(root, 'src') + path.sep;
  const modules = new Map<string, ModuleInfo & { sf: ts.SourceFile }>();
  const texts = new Map<string, string>();
  /** file → names its code strings take from an import(). */
  const stringImports = new Map<string, Set<string>>();
  /** file → names imported from it by other modules ('*' = all of them). */
  const used = new Map<string, Set<string>>();
  const use = (file: string | undefined, name: string, by: string): void => {
    if (file === undefined || file === by) return;
    let s = used.get(file);
    if (!s) used.set(file, (s = new Set()));
    s.add(name);
  };

  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    texts.set(file, text);
    const kind = /\.(?:m|c)?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
    const resolve = (spec: ts.Node | undefined): string | undefined =>
      spec && ts.isStringLiteralLike(spec) ? resolveSpecifier(root, file, spec.text) : undefined;
    const exports = new Map<string, ts.Node>();
    const declaring = new Set<ts.Node>();
    const addExport = (name: string, node: ts.Node): void => {
      exports.set(name, node);
      declaring.add(node);
    };

    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st)) {
        const target = resolve(st.moduleSpecifier);
        const c = st.importClause;
        if (!c) use(target, '*', file); // import './x.js' for its effects
        else {
          if (c.name) use(target, 'default', file);
          const b = c.namedBindings;
          if (b && ts.isNamespaceImport(b)) use(target, '*', file);
          else if (b) for (const el of b.elements) use(target, (el.propertyName ?? el.name).text, file);
        }
      } else if (ts.isExportDeclaration(st)) {
        const target = resolve(st.moduleSpecifier);
        const clause = st.exportClause;
        if (!clause) use(target, '*', file);
        else if (ts.isNamespaceExport(clause)) {
          use(target, '*', file);
          addExport(clause.name.text, clause.name);
        } else {
          for (const el of clause.elements) {
            if (target !== undefined) use(target, (el.propertyName ?? el.name).text, file);
            addExport(el.name.text, el.name);
          }
        }
      } else if (ts.isExportAssignment(st)) {
        addExport('default', st);
      } else if (hasModifier(st, ts.SyntaxKind.ExportKeyword)) {
        const isDefault = hasModifier(st, ts.SyntaxKind.DefaultKeyword);
        if (ts.isVariableStatement(st)) {
          const ids: ts.Identifier[] = [];
          for (const d of st.declarationList.declarations) bindingNames(d.name, ids);
          for (const id of ids) addExport(id.text, id);
        } else if (
          ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) ||
          ts.isTypeAliasDeclaration(st) || ts.isEnumDeclaration(st) || ts.isModuleDeclaration(st)
        ) {
          const id = st.name && ts.isIdentifier(st.name) ? st.name : undefined;
          if (isDefault) addExport('default', st);
          else if (id) addExport(id.text, id);
        }
      }
    }

    const localNames = new Set<string>();
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
        const target = resolve(node.arguments[0]);
        if (target !== undefined) {
          for (const name of dynamicImportNames(node)) use(target, name, file);
        }
      } else if (ts.isImportTypeNode(node)) {
        const target = ts.isLiteralTypeNode(node.argument) ? resolve(node.argument.literal) : undefined;
        if (target !== undefined) {
          let q = node.qualifier;
          while (q && ts.isQualifiedName(q)) q = q.left;
          use(target, q ? q.text : '*', file);
        }
      } else if ((ts.isTemplateExpression(node) || ts.isStringLiteralLike(node)) && node.getText(sf).includes('import(')) {
        let names = stringImports.get(file);
        if (!names) stringImports.set(file, (names = new Set()));
        for (const name of namesImportedInCode(node.getText(sf))) names.add(name);
        return; // the code inside is text, not identifiers of this module
      } else if (ts.isIdentifier(node) && !declaring.has(node) && !isMemberName(node)) {
        localNames.add(node.text);
      }
      ts.forEachChild(node, visit);
    };
    ts.forEachChild(sf, visit);
    if (file.startsWith(srcDir) && /\.ts$/.test(file)) modules.set(file, { sf, exports, localNames });
  }

  const out: UnusedExport[] = [];
  for (const [file, m] of modules) {
    const u = used.get(file);
    if (u?.has('*')) continue;
    const jsName = path.basename(file).replace(/\.ts$/, '.js');
    const mentioning = [...stringImports].filter(([f]) => f !== file && texts.get(f)!.includes(jsName)).map(([, n]) => n);
    for (const [name, node] of m.exports) {
      if (u?.has(name)) continue;
      if (mentioning.some((n) => n.has(name))) continue;
      out.push({
        file: path.relative(root, file).split(path.sep).join('/'),
        name,
        line: m.sf.getLineAndCharacterOfPosition(node.getStart(m.sf)).line + 1,
        local: name !== 'default' && m.localNames.has(name),
      });
    }
  }
  return out.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
}

/** The names taken from a dynamic import: `(await import(M)).a`, `const { a } = await import(M)`; else all. */
function dynamicImportNames(call: ts.CallExpression): string[] {
  let n: ts.Node = call;
  while (ts.isParenthesizedExpression(n.parent) || ts.isAwaitExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (ts.isPropertyAccessExpression(p) && p.expression === n) return [p.name.text];
  if (ts.isVariableDeclaration(p) && p.initializer === n && ts.isObjectBindingPattern(p.name)) {
    const names: string[] = [];
    for (const el of p.name.elements) {
      if (el.dotDotDotToken) return ['*'];
      const key = el.propertyName ?? el.name;
      if (!ts.isIdentifier(key)) return ['*'];
      names.push(key.text);
    }
    return names;
  }
  return ['*'];
}

/** Names that code held in a string takes from dynamic imports (only the two forms the tests write). */
function namesImportedInCode(code: string): string[] {
  const names: string[] = [];
  for (const m of code.matchAll(/\{([^{}]*)\}\s*=\s*await\s+import\(/g)) {
    for (const part of m[1]!.split(',')) {
      const key = part.split(':')[0]!.trim();
      if (/^[A-Za-z_$][\w$]*$/.test(key)) names.push(key);
    }
  }
  for (const m of code.matchAll(/\(await\s+import\([^()]*(?:\([^()]*\)[^()]*)*\)\)\.([A-Za-z_$][\w$]*)/g)) names.push(m[1]!);
  return names;
}

/** `x.name`, `{ name: v }`, `name() {}`, `A.name` in a type: a member that only shares the export's name. */
function isMemberName(id: ts.Identifier): boolean {
  const p = id.parent;
  return (
    ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && (ts.isPropertyAccessExpression(p) ? p.name : p.right) === id) ||
    ((ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isEnumMember(p)) && p.name === id)
  );
}
