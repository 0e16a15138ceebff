// Go binaries in a layer: the SBOM lists the main module, each dependency and the standard library of every Go
// binary it finds, as `go version -m` (the Go toolchain's own reader, the independent check) prints them, whether
// the binary keeps its symbols or not; a C binary, a truncated ELF and a file that only claims to be one list
// nothing and stop nothing. The Go program is built here, offline (its dependency vendored).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSbom } from '../../src/sbom/index.js';
import { diffID } from '../helpers/sbom.js';

const hasGo = spawnSync('go', ['version']).status === 0;
const tmp = mkdtempSync(path.join(tmpdir(), 'sbom-go-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

function write(rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(tmp, 'mod', rel)), { recursive: true });
  writeFileSync(path.join(tmp, 'mod', rel), text);
}

/** Builds the module into `out` with extra `go build` flags. */
function goBuild(out: string, flags: string[]): void {
  execFileSync('go', ['build', ...flags, '-o', out, '.'], {
    cwd: path.join(tmp, 'mod'),
    env: { ...process.env, GOCACHE: path.join(tmp, 'gocache'), GOPATH: path.join(tmp, 'gopath'), CGO_ENABLED: '0', GOFLAGS: '-mod=vendor', GOPROXY: 'off', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** `go version -m` of a binary as package URLs (what the SBOM should say). */
function goVersionPurls(file: string): string[] {
  const out = execFileSync('go', ['version', '-m', file], { encoding: 'utf8' });
  const go = /: go(\d+\.\d+(?:\.\d+)?)/.exec(out)![1]!;
  const mods = [...out.matchAll(/^\t(?:mod|dep)\t(\S+)\t(\S+)/gm)].map(([, p, v]) => {
    const i = p!.lastIndexOf('/');
    return `pkg:golang/${p!.slice(0, i)}/${p!.slice(i + 1)}${v === '(devel)' ? '' : `@${v}`}`;
  });
  return [...mods, `pkg:golang/stdlib@${go}`].sort();
}

t.test('Go binaries: main module, dependencies and stdlib, as go version -m says', { skip: !hasGo && 'go is not installed (setup.sh installs golang-go)' }, async (t) => {
  write('go.mod', 'module example.com/hello\n\ngo 1.19\n\nrequire example.com/greet v1.2.3\n');
  write('vendor/modules.txt', '# example.com/greet v1.2.3\n## explicit; go 1.19\nexample.com/greet\n');
  write('vendor/example.com/greet/greet.go', 'package greet\n\nfunc Hi() string { return "hi" }\n');
  write('main.go', 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\nfunc main() { fmt.Println(greet.Hi()) }\n');
  const layer = path.join(tmp, 'layer');
  mkdirSync(path.join(layer, 'app'), { recursive: true });
  goBuild(path.join(layer, 'app', 'hello'), []);
  goBuild(path.join(layer, 'app', 'hello-stripped'), ['-ldflags=-s -w']);
  // Not Go: a C binary (with a large writable segment), an ELF cut after its header, a file that only starts like one.
  copyFileSync(process.execPath, path.join(layer, 'app', 'node'));
  writeFileSync(path.join(layer, 'app', 'truncated'), readFileSync(path.join(layer, 'app', 'hello')).subarray(0, 4096));
  writeFileSync(path.join(layer, 'app', 'fake'), Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(200, 0xff)]));
  for (const f of ['node', 'truncated', 'fake']) chmodSync(path.join(layer, 'app', f), 0o755);

  const want = goVersionPurls(path.join(layer, 'app', 'hello'));
  t.same(want.filter((p) => !p.includes('stdlib')), ['pkg:golang/example.com/greet@v1.2.3', 'pkg:golang/example.com/hello'], 'go version -m: the main module and the vendored dependency');
  t.same(goVersionPurls(path.join(layer, 'app', 'hello-stripped')), want, 'the stripped build says the same');

  const doc = await generateSbom({ format: 'cyclonedx', subject: { name: 'registry.example/app:1' }, layers: [{ diffID: diffID('1'), dir: layer }], created: '2024-05-06T07:08:09Z', tool: { name: 'oci-s2i', version: 'test' } });
  const components = (JSON.parse(doc.bytes.toString('utf8')) as { components: Array<{ purl: string; properties?: Array<{ name: string; value: string }> }> }).components;
  const byFile = new Map<string, string[]>();
  for (const c of components) {
    const where = c.properties?.find((p) => p.name.endsWith(':location'))?.value ?? '';
    byFile.set(where, [...(byFile.get(where) ?? []), c.purl]);
  }
  t.same([...byFile.keys()].map((k) => k.replace(/^\//, '')).sort(), ['app/hello', 'app/hello-stripped'], 'only the two Go binaries list packages');
  for (const [where, purls] of byFile) t.same(purls.sort(), want, `${where}: what go version -m says`);
  t.same(doc.warnings.filter((w) => !/truncated|fake/.test(w)), [], 'no warning but for the cut or fake ELF');
});
