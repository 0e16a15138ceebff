// src/cli/error-table.ts is the one place an error becomes an exit code (and, for a few steps, other words): every
// ErrorCode has a row, the steps whose exit depends on them give the codes the contract says (S2I-CONTRACT.md,
// spec/cli.md "Exit codes"), the innermost step wins, and no src/ file outside cli/ and errors.ts picks an exit
// code itself (a source scan, so the table stays the only one).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import ts from 'typescript';
import { exitByCode, exitCodeFor, messageFor, stepRows } from '../../src/cli/error-table.js';
import { S2IError, tagStep, withStep, withStepSync, type ErrorCode, type Step } from '../../src/errors.js';
import { projectRoot } from '../helpers/cli.js';

const srcDir = path.join(projectRoot, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}

/** The members of `ErrorCode` as src/errors.ts spells them. */
function unionCodes(): string[] {
  const text = readFileSync(path.join(srcDir, 'errors.ts'), 'utf8');
  const decl = /export type ErrorCode =([^;]+);/.exec(text)?.[1] ?? '';
  return [...decl.matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1]!);
}

t.test('every ErrorCode has an exit code, and the table names no other code', async (t) => {
  const codes = unionCodes();
  t.ok(codes.length > 100, `${codes.length} codes read from src/errors.ts`);
  t.same([...codes].sort(), Object.keys(exitByCode).sort());
  for (const c of codes) {
    const exit = exitByCode[c as ErrorCode];
    t.ok([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 64, 130].includes(exit), `${c} → ${exit} is a contract exit code`);
  }
});

t.test('every error code thrown in src/ is an ErrorCode', async (t) => {
  const known = new Set(unionCodes());
  const seen = new Set<string>();
  for (const file of tsFiles(srcDir)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (ts.isNewExpression(n) && /Error$/.test(n.expression.getText()) && n.arguments?.[0] && ts.isStringLiteral(n.arguments[0]) && n.arguments[0].text.startsWith('ERR_')) {
        seen.add(n.arguments[0].text);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  t.ok(seen.size > 100, `${seen.size} codes thrown`);
  for (const c of seen) t.ok(known.has(c), `${c} is in ErrorCode`);
});

const err = (code: ErrorCode, opts: { step?: Step; subject?: string; message?: string } = {}): S2IError => {
  const e = new S2IError(code, opts.message ?? 'what went wrong');
  if (opts.step) tagStep(opts.step, e, opts.subject);
  return e;
};

t.test('exit codes by step and code', async (t) => {
  const rows: Array<{ code: ErrorCode; step?: Step; exit: number; why: string }> = [
    // Codes that mean one exit wherever they occur.
    { code: 'ERR_USAGE', exit: 64, why: 'bad command line' },
    { code: 'ERR_INTERRUPTED', exit: 130, why: 'Ctrl-C' },
    { code: 'ERR_ASSEMBLE_FAILED', exit: 4, why: 'assemble failed' },
    { code: 'ERR_ARTIFACTS_CORRUPT', exit: 3, why: 'save-artifacts output' },
    { code: 'ERR_SCRIPT_MISSING', exit: 11, why: 'required script missing' },
    { code: 'ERR_SCRIPTS_URL_SCHEME', exit: 12, why: 'URL handler' },
    { code: 'ERR_SCRIPT_DOWNLOAD', exit: 8, why: 'download' },
    { code: 'ERR_RUNTIME_MISSING', exit: 13, why: 'no OCI runtime' },
    { code: 'ERR_CONTEXT_DIR', exit: 14, why: 'source path' },
    { code: 'ERR_USER_NOT_ALLOWED', exit: 15, why: '--allowed-uids' },
    { code: 'ERR_EMPTY_REPO', exit: 16, why: 'empty repository' },
    { code: 'ERR_PLATFORM_NOT_FOUND', exit: 2, why: 'a missing platform is a failed pull everywhere' },
    { code: 'ERR_IMAGE_NOT_PRESENT', exit: 2, why: '--pull-policy never' },
    { code: 'ERR_STORE_ROOT', exit: 1, why: 'anything else' },
    { code: 'ERR_USAGE', step: 'pull', exit: 64, why: 'a step does not change a fixed code' },
    // Registry, missing and corrupt images: 2 while pulling, 1 otherwise (copy, push, inspect).
    { code: 'ERR_MANIFEST_UNKNOWN', step: 'pull', exit: 2, why: 'unknown tag' },
    { code: 'ERR_MANIFEST_UNKNOWN', exit: 1, why: 'unknown tag, not pulling' },
    { code: 'ERR_REGISTRY_UNREACHABLE', step: 'pull', exit: 2, why: 'unreachable while pulling' },
    { code: 'ERR_REGISTRY_UNREACHABLE', exit: 1, why: 'unreachable while pushing' },
    { code: 'ERR_PROXY', step: 'pull', exit: 2, why: 'the proxy failed while pulling' },
    { code: 'ERR_PROXY', exit: 1, why: 'the proxy failed while pushing' },
    { code: 'ERR_REGISTRY_CLIENT_CERT', step: 'pull', exit: 2, why: 'client certificate refused while pulling' },
    { code: 'ERR_REGISTRY_CLIENT_CERT', exit: 1, why: 'client certificate refused while pushing' },
    { code: 'ERR_UNAUTHORIZED', step: 'pull', exit: 2, why: 'unauthorized' },
    { code: 'ERR_DIGEST_MISMATCH', step: 'pull', exit: 2, why: 'corrupt blob' },
    { code: 'ERR_DIGEST_MISMATCH', exit: 1, why: 'the registry stored another digest than pushed' },
    { code: 'ERR_LAYOUT_NOT_FOUND', step: 'pull', exit: 2, why: 'no such layout' },
    { code: 'ERR_MANIFEST_INVALID', step: 'pull', exit: 2, why: 'an index in an index' },
    { code: 'ERR_MANIFEST_INVALID', exit: 1, why: 'inspect of an index in an index' },
    { code: 'ERR_CONFIG_INVALID', step: 'pull', exit: 2, why: 'layers and diff_ids disagree' },
    { code: 'ERR_BLOB_MISSING', step: 'pull', exit: 2, why: 'base layer gone from the store' },
    { code: 'ERR_BLOB_MISSING', exit: 1, why: 'a blob to push is gone' },
    { code: 'ERR_STORE_ROOT', step: 'pull', exit: 1, why: 'not a pull failure' },
    // FROM: what would exit 1 is a failed pull.
    { code: 'ERR_INVALID_REFERENCE', step: 'from', exit: 2, why: 'FROM' },
    { code: 'ERR_TAG_NOT_FOUND', step: 'from', exit: 2, why: 'FROM' },
    { code: 'ERR_USAGE', step: 'from', exit: 64, why: 'FROM keeps fixed codes' },
    // Steps that decide alone.
    { code: 'ERR_FORMAT_UNSUPPORTED', step: 'usage', exit: 64, why: '--format against the destination' },
    { code: 'ERR_FORMAT_UNSUPPORTED', exit: 1, why: 'copy of an index into a docker-archive' },
    { code: 'ERR_ENV_SYNTAX', step: 'usage', exit: 64, why: '-e' },
    { code: 'ERR_ENV_SYNTAX', exit: 1, why: '.s2i/environment' },
    { code: 'ERR_INVALID_REFERENCE', step: 'usage', exit: 64, why: 'an image location' },
    { code: 'ERR_INVALID_REFERENCE', exit: 1, why: 'a registry name' },
    { code: 'ERR_UNSAFE_PATH', step: 'workdir', exit: 5, why: 'a WorkingDir with ..' },
    { code: 'ERR_UNSAFE_PATH', exit: 1, why: 'a layer entry with ..' },
    { code: 'ERR_LAYER_APPLY', step: 'workdir', exit: 5, why: 'WORKDIR cannot be made' },
    { code: 'ERR_SOURCE_MISSING', step: 'source', exit: 14, why: 'build SOURCE missing' },
    { code: 'ERR_SOURCE_MISSING', exit: 1, why: 'layer DIR missing' },
    { code: 'ERR_GIT_REF', step: 'source', exit: 14, why: 'ref not in the repository' },
    { code: 'ERR_GIT_REF', exit: 1, why: 'a ref that is no ref' },
    { code: 'ERR_IMAGE_INCOMPATIBLE', step: 'commit', exit: 6, why: 'the result fails --check' },
    { code: 'ERR_IMAGE_INCOMPATIBLE', exit: 1, why: 'inspect --check' },
    { code: 'ERR_RUNTIME_ARTIFACT', step: 'commit', exit: 6, why: 'artifact gone after assemble' },
    { code: 'ERR_RUNTIME_ARTIFACT', exit: 64, why: 'bad -a' },
  ];
  for (const r of rows) t.equal(exitCodeFor(err(r.code, r.step ? { step: r.step } : {})), r.exit, `${r.step ?? '-'} ${r.code}: ${r.why}`);
  t.equal(exitCodeFor(new Error('x')), 1, 'not ours: 1');
  t.equal(exitCodeFor(Object.assign(new Error('x'), { code: 'ERR_USAGE' })), 1, 'a code alone is not ours');
  t.same(Object.keys(stepRows).sort(), ['commit', 'from', 'pull', 'source', 'usage', 'workdir']);
});

t.test('messages: a step rewords only what it made a failure of its own, and only when it said what it worked on', async (t) => {
  const rows: Array<{ e: S2IError; message: string }> = [
    { e: err('ERR_REGISTRY_ERROR', { step: 'pull', subject: 'r/a:1', message: 'token service answered 500' }), message: 'pulling r/a:1: token service answered 500' },
    { e: err('ERR_LAYOUT_NOT_FOUND', { step: 'pull', subject: 'oci:/x', message: 'no layout at /x' }), message: 'oci:/x: no layout at /x' },
    { e: err('ERR_LAYOUT_NOT_FOUND', { step: 'pull', subject: 'oci:/x', message: 'no layout at oci:/x' }), message: 'no layout at oci:/x' },
    { e: err('ERR_MANIFEST_INVALID', { step: 'pull', subject: 'oci:/x', message: 'nested indexes are not supported' }), message: 'nested indexes are not supported' },
    // Tagged where it was thrown (a registry read): already a pull failure there, words kept.
    { e: err('ERR_REGISTRY_ERROR', { step: 'pull', message: 'registry error' }), message: 'registry error' },
    { e: err('ERR_PLATFORM_NOT_FOUND', { step: 'pull', subject: 'r/a:1', message: 'no s390x' }), message: 'no s390x' },
    { e: err('ERR_TAG_NOT_FOUND', { step: 'from', subject: 'oci:/b:t', message: 'no tag t' }), message: 'FROM oci:/b:t: no tag t' },
    { e: err('ERR_USAGE', { step: 'from', subject: 'oci:/b:t', message: 'bad' }), message: 'bad' },
    { e: err('ERR_ENV_SYNTAX', { step: 'usage', message: '-e x' }), message: '-e x' },
    // A registry read inside a FROM: the pull step decides what it has a row for, FROM the rest.
    { e: fromAfterRead('ERR_MANIFEST_UNKNOWN', 'manifest unknown'), message: 'manifest unknown' },
    { e: fromAfterRead('ERR_CREDENTIAL_HELPER', 'credential helper failed'), message: 'FROM oci:/b:t: credential helper failed' },
  ];
  for (const r of rows) t.equal(messageFor(r.e), r.message, `${r.e.step} ${r.e.code}`);
  t.equal(exitCodeFor(fromAfterRead('ERR_MANIFEST_UNKNOWN', 'x')), 2);
  t.equal(exitCodeFor(fromAfterRead('ERR_CREDENTIAL_HELPER', 'x')), 2);
  t.equal(exitCodeFor(err('ERR_CREDENTIAL_HELPER', { step: 'pull' })), 1, 'the pull step has no row for it');
});

/** An error a registry read tagged `pull`, then FROM `from`. */
function fromAfterRead(code: ErrorCode, message: string): S2IError {
  const e = new S2IError(code, message, { step: 'pull' });
  tagStep('from', e, 'oci:/b:t');
  return e;
}

t.test('the innermost step wins; only S2IErrors are tagged', async (t) => {
  const inner = new S2IError('ERR_DIGEST_MISMATCH', 'x', { step: 'pull' });
  t.equal(tagStep('usage', inner), inner);
  t.equal(inner.step, 'pull');
  t.same(inner.steps, [{ step: 'pull' }, { step: 'usage' }], 'innermost first');
  t.equal(exitCodeFor(inner), 2, 'the innermost step with a row for the code decides');
  const bare = new S2IError('ERR_TAG_NOT_FOUND', 'x');
  const caught = await withStep('pull', () => withStep('from', async () => Promise.reject(bare), 'oci:/b'), 'oci:/a').catch((e: unknown) => e);
  t.equal(caught, bare);
  t.equal(bare.step, 'from');
  t.same(bare.steps, [{ step: 'from', subject: 'oci:/b' }, { step: 'pull', subject: 'oci:/a' }]);
  t.equal(exitCodeFor(bare), 2);
  const plain = new Error('x');
  t.throws(() => withStepSync('pull', () => { throw plain; }), plain);
  t.notOk('step' in plain, 'a plain Error is left alone');
});

t.test('no src/ file outside cli/ and errors.ts picks an exit code', async (t) => {
  // A container's own exit status (run, usage) is what those commands return; 130 when interrupted.
  const returnsContainerStatus = new Set([path.join('pipeline', 'run-image.ts'), path.join('pipeline', 'usage.ts')]);
  const found: string[] = [];
  for (const file of tsFiles(srcDir)) {
    const rel = path.relative(srcDir, file);
    if (rel === 'errors.ts' || rel.startsWith(`cli${path.sep}`)) continue;
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (ts.isIdentifier(n) && n.text === 'ExitCode' && !returnsContainerStatus.has(rel)) found.push(`${rel}: ExitCode`);
      // An exit code given to an error: `new XError(…, { exitCode })` or `.exitCode` of an error.
      if (ts.isNewExpression(n) && /Error$/.test(n.expression.getText())) {
        for (const a of n.arguments ?? []) {
          if (ts.isObjectLiteralExpression(a) && a.properties.some((p) => p.name?.getText() === 'exitCode')) found.push(`${rel}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1} exitCode option`);
        }
      }
      if (ts.isPropertyAccessExpression(n) && n.name.text === 'exitCode' && /^(e|err|error)$/.test(n.expression.getText())) found.push(`${rel}: ${n.getText()}`);
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  t.same(found, [], 'exit codes are cli/error-table.ts’s to give');
  const pulling = tsFiles(path.join(srcDir, 'registry')).filter((f) => /\bpulling\b/.test(readFileSync(f, 'utf8')));
  t.same(pulling, [], 'the HTTP layer has no pulling flag: the pull step tags its errors');
});
