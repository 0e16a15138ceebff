// Table tests of the Containerfile parser, word splitting and substitution (Docker's rules), .dockerignore
// matching, and --build-arg parsing: good input next to bad input, errors with file and line.
import t from 'tap';
import { parseContainerfile } from '../../src/containerfile/parse.js';
import { lintContainerfile } from '../../src/containerfile/lint.js';
import { splitWords, expandWord } from '../../src/containerfile/words.js';
import { makeIgnoreMatcher } from '../../src/containerfile/ignore.js';
import { parseBuildArgs } from '../../src/containerfile/execute.js';
import { contextRelative } from '../../src/containerfile/copy.js';
import { S2IError } from '../../src/errors.js';
import { exitCodeFor, exitOfSync } from '../helpers/exit-code.js';

t.test('instructions, comments, continuations, flags, JSON and shell forms', async (t) => {
  const cf = parseContainerfile(
    [
      '# a comment',
      '',
      'from busybox AS base',
      'ENV A=1 \\',
      '    # a comment inside a continuation is dropped',
      '',
      '    B=2',
      '  RUN echo hi \\   ',
      '  && echo there',
      'COPY --chown=1001:0 --chmod=755 a b /dest/',
      'CMD ["/bin/sh", "-c", "echo"]',
      'CMD [not json',
      'RUN echo a <<< here-string-is-fine',
      'ENTRYPOINT []',
    ].join('\n'),
  );
  t.equal(cf.escape, '\\');
  const k = cf.instructions.map((i) => [i.keyword, i.line, i.endLine]);
  t.same(k, [
    ['FROM', 3, 3],
    ['ENV', 4, 7],
    ['RUN', 8, 9],
    ['COPY', 10, 10],
    ['CMD', 11, 11],
    ['CMD', 12, 12],
    ['RUN', 13, 13],
    ['ENTRYPOINT', 14, 14],
  ]);
  t.equal(cf.instructions[1]!.args, 'A=1     B=2', 'continuation lines keep their indentation, the escape is removed');
  t.equal(cf.instructions[2]!.args, 'echo hi   && echo there');
  t.same(cf.instructions[3]!.flags, [
    { name: 'chown', value: '1001:0' },
    { name: 'chmod', value: '755' },
  ]);
  t.equal(cf.instructions[3]!.args, 'a b /dest/');
  t.same(cf.instructions[4]!.json, ['/bin/sh', '-c', 'echo']);
  t.equal(cf.instructions[5]!.json, undefined, 'not JSON: shell form');
  t.same(cf.instructions[7]!.json, []);
});

t.test('escape directive', async (t) => {
  const cf = parseContainerfile('# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /w\n');
  t.equal(cf.escape, '`');
  t.equal(cf.instructions[1]!.args, 'dir c:\\   /w');
  const late = parseContainerfile('FROM scratch\n# escape=`\nRUN a \\\n b\n');
  t.equal(late.escape, '\\', 'a directive after an instruction is a comment');
  t.equal(late.instructions[1]!.args, 'a  b');
  t.equal(parseContainerfile('# syntax=docker/dockerfile:1\n# escape=\\\nFROM scratch\n').instructions.length, 1);
});

t.test('ARG before FROM is allowed', async (t) => {
  const cf = parseContainerfile('ARG BASE=busybox\nFROM ${BASE}\n');
  t.same(cf.instructions.map((i) => i.keyword), ['ARG', 'FROM']);
});

t.test('bad input: errors name the file and line', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['FROM scratch\n\nFROBNICATE x\n', 'Dockerfile:3: unknown instruction "FROBNICATE"', /./],
    ['FROM scratch\nONBUILD RUN x\n', 'Dockerfile:2: ONBUILD', /not supported/],
    ['FROM scratch\nHEALTHCHECK CMD true\n', 'Dockerfile:2: HEALTHCHECK', /not supported/],
    ['FROM a AS one\nRUN x\nFROM b\n', 'Dockerfile:3: a second FROM', /multi-stage/],
    ['FROM a\nRUN <<EOF\necho\nEOF\n', 'Dockerfile:2: heredocs', /not supported/],
    ['FROM a\nCOPY <<-"EOT" /x\n', 'Dockerfile:2: heredocs', /./],
    ['FROM a\nCOPY --from=base /x /y\n', 'Dockerfile:2: multi-stage builds (COPY --from)', /./],
    ['FROM a\nRUN --mount=type=cache,target=/x true\n', 'Dockerfile:2: RUN --mount', /./],
    ['FROM a\nCOPY --bogus=1 a b\n', 'Dockerfile:2: unknown flag --bogus for COPY', /./],
    ['FROM a\nCOPY --chown a b\n', 'Dockerfile:2: COPY --chown needs a value', /./],
    ['FROM a\nCOPY --chmod=1 --chmod=2 a b\n', 'Dockerfile:2: COPY --chmod is given twice', /./],
    ['# just a comment\n', 'Dockerfile:1: no FROM', /./],
    ['ARG A\n\nRUN true\n', 'Dockerfile:3: RUN before FROM', /./],
    ['FROM a\nENV\n', 'Dockerfile:2: ENV needs arguments', /./],
    ['FROM a\nSHELL /bin/bash\n', 'Dockerfile:2: SHELL needs the JSON form', /./],
    ['FROM a b c d\n', 'Dockerfile:1: FROM takes IMAGE or IMAGE AS NAME', /./],
    ['# escape=x\nFROM a\n', 'Dockerfile:1: invalid escape character', /./],
    ['# escape=`\n# escape=\\\nFROM a\n', 'Dockerfile:2: the "escape" parser directive is given twice', /./],
    ['FROM a\0\n', 'Dockerfile:1: the file contains NUL bytes', /./],
  ];
  for (const [text, prefix, more] of cases) {
    try {
      parseContainerfile(text, 'Dockerfile');
      t.fail(`no error for ${JSON.stringify(text)}`);
    } catch (e) {
      t.ok(e instanceof S2IError, 'an S2IError');
      t.equal((e as S2IError).code, 'ERR_CONTAINERFILE_SYNTAX');
      t.equal(exitCodeFor(e), 64);
      t.ok((e as Error).message.startsWith(prefix), `"${(e as Error).message}" starts with "${prefix}"`);
      t.match((e as Error).message, more);
    }
  }
});

t.test('splitWords keeps quotes for expandWord, like Docker parseWords', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['a b  c', ['a', 'b', 'c']],
    ['A="x y" B=z', ['A="x y"', 'B=z']],
    ["A='x \"y' B", ["A='x \"y'", 'B']],
    ['A=x\\ y', ['A=x\\ y']],
    ['""', ['""']],
    ['  ', []],
    ['a\\', ['a']],
  ];
  for (const [input, want] of cases) t.same(splitWords(input), want, input);
  t.same(splitWords('a` b c', '`'), ['a` b', 'c'], 'backtick escape');
});

t.test('expandWord: Docker substitution rules', async (t) => {
  const env: Record<string, string> = { A: 'alpha', EMPTY: '', P: '/usr/libexec/s2i', SP: 'x y' };
  const look = (n: string) => env[n];
  const cases: Array<[string, string]> = [
    ['$A', 'alpha'],
    ['${A}', 'alpha'],
    ['pre-${A}-post', 'pre-alpha-post'],
    ['$A$A', 'alphaalpha'],
    ['$UNSET', ''],
    ['${UNSET:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${UNSET-def}', 'def'],
    ['${A:-def}', 'alpha'],
    ['${A:+set}', 'set'],
    ['${EMPTY:+set}', ''],
    ['${EMPTY+set}', 'set'],
    ['${UNSET:+set}', ''],
    ['${UNSET:-$A}', 'alpha'],
    ['${UNSET:-"a b"}', 'a b'],
    ['image://${P}', 'image:///usr/libexec/s2i'],
    ["'$A'", '$A'],
    ['"$A"', 'alpha'],
    ['"a\\"b"', 'a"b'],
    ['"a\\$A"', 'a$A'],
    ['"a\\n"', 'a\\n'],
    ['\\$A', '$A'],
    ['a\\ b', 'a b'],
    ['"Longfei Hua <x@y>"', 'Longfei Hua <x@y>'],
    ['$', '$'],
    ['$-', '$-'],
    ['$1x', 'x'],
    ['"$SP"', 'x y'],
    ['${A:?must be set}', 'alpha'],
  ];
  for (const [input, want] of cases) t.equal(expandWord(input, look), want, input);
  t.equal(expandWord('`$A', look, '`'), '$A', 'backtick escape');
  const bad: Array<[string, RegExp]> = [
    ['${A', /missing "}"/],
    ['${}', /variable name/],
    ['${A%%x}', /unsupported modifier/],
    ['${A/x/y}', /unsupported modifier/],
    ["'open", /single quote/],
    ['"open', /double quote/],
    ['${UNSET:?must be set}', /UNSET: must be set/],
    ['${UNSET?}', /UNSET: is not set/],
  ];
  for (const [input, re] of bad) t.throws(() => expandWord(input, look), { name: 'WordError', message: re }, input);
});

t.test('.dockerignore matching', async (t) => {
  const m = makeIgnoreMatcher('# comment\n\n*.log\n/build\nsecret/**\n!keep.log\ndocs/*.md\n')!;
  const cases: Array<[string, boolean]> = [
    ['a.log', true],
    ['keep.log', false],
    ['sub/a.log', false],
    ['build', true],
    ['build/x/y', true],
    ['secret/a/b', true],
    ['docs/a.md', true],
    ['docs/sub/a.md', false],
    ['src/main.go', false],
  ];
  for (const [p, want] of cases) t.equal(m(p), want, p);
  t.equal(makeIgnoreMatcher('# only comments\n'), undefined);
  t.throws(() => makeIgnoreMatcher('ok\n[unclosed\n'), /\.dockerignore:2:/);
});

t.test('--build-arg parsing', async (t) => {
  t.same([...parseBuildArgs(['A=1', 'B=', 'C=x=y', 'FROM_ENV', 'MISSING'], { FROM_ENV: 'e' })], [
    ['A', '1'],
    ['B', ''],
    ['C', 'x=y'],
    ['FROM_ENV', 'e'],
  ]);
  for (const bad of ['=x', '1A=x', 'A B=x', 'A-B=1', '']) t.throws(exitOfSync(() => parseBuildArgs([bad])), { code: 'ERR_BUILD_ARG', exitCode: 64 }, bad);
});

t.test('COPY sources never leave the context', async (t) => {
  t.equal(contextRelative('../../etc/passwd'), 'etc/passwd');
  t.equal(contextRelative('/abs/x'), 'abs/x');
  t.equal(contextRelative('./a/../b/'), 'b');
  t.equal(contextRelative('.'), '.');
});

t.test('lint: checks that need no image fail before any pull, naming the line', async (t) => {
  const good = 'FROM a\nARG X=1\nENV A=$X B="c d"\nLABEL k=v\nLABEL maintainer "Me <me@x>"\nCOPY --chmod=0755 a b /d/\nCOPY --chmod=$M a /d\nEXPOSE 8080 53/udp 9000-9001/tcp $P\nADD x.tar /opt/\n';
  t.doesNotThrow(() => lintContainerfile(parseContainerfile(good), 'Containerfile'));
  const bad: Array<[string, string]> = [
    ['FROM a\nENV A=${B%%x}\n', 'Containerfile:2: cannot substitute variables'],
    ['FROM a\n\nLABEL a="open\n', 'Containerfile:3: cannot substitute variables'],
    ['FROM a\nCOPY --chmod=u+x a /a\n', 'Containerfile:2: --chmod=u+x is not an octal mode'],
    ['FROM a\nCOPY --chmod=99 a /a\n', 'Containerfile:2: --chmod=99 is not an octal mode'],
    ['FROM a\nCOPY a b /x\n', 'Containerfile:2: COPY: with more than one source file the destination must be a directory'],
    ['FROM a\nCOPY a\n', 'Containerfile:2: COPY needs at least one source and a destination'],
    ['FROM a\nADD https://example.com/x.tgz /x\n', 'Containerfile:2: ADD: "https://example.com/x.tgz" is a URL'],
    ['FROM a\nEXPOSE 99999\n', 'Containerfile:2: invalid port "99999"'],
    ['FROM a\nEXPOSE 90-80\n', 'Containerfile:2: invalid port "90-80"'],
    ['FROM a\nEXPOSE http\n', 'Containerfile:2: invalid port "http"'],
    ['FROM a\nENV A=1 B\n', 'Containerfile:2: "B" is not NAME=VALUE'],
    ['FROM a\nENV =1\n', 'Containerfile:2: "=1" is not NAME=VALUE'],
    ['FROM a\nENV A\n', 'Containerfile:2: ENV A needs a value'],
    ['FROM a\nARG 1X\n', 'Containerfile:2: invalid ARG name "1X"'],
  ];
  for (const [text, prefix] of bad) {
    t.throws(exitOfSync(() => lintContainerfile(parseContainerfile(text), 'Containerfile')), { code: 'ERR_CONTAINERFILE_SYNTAX', exitCode: 64 }, prefix);
    try {
      lintContainerfile(parseContainerfile(text), 'Containerfile');
    } catch (e) {
      t.ok((e as Error).message.startsWith(prefix), `"${(e as Error).message}" starts with "${prefix}"`);
    }
  }
});
