// Secret flag values out of argv and process titles (cli/secret-args.ts), as a table: what is masked (both flag
// forms, login's -p only for login, nothing after `--`), the round trip through the environment of a re-executed
// CLI (cleared once read), and what a forged or stale environment cannot do. The real processes: test/pipeline/push.test.ts.
import t from 'tap';
import { hideSecretArgs, revealSecretArgs } from '../../src/cli/secret-args.js';

const cases: Array<{ argv: string[]; masked: string[] }> = [
  { argv: ['build', '.', 'b', 't', '--creds', 'u:pw'], masked: ['build', '.', 'b', 't', '--creds', '***'] },
  { argv: ['copy', '--src-creds=a:1', '--dest-creds', 'b:2', 's', 'd'], masked: ['copy', '--src-creds=***', '--dest-creds', '***', 's', 'd'] },
  { argv: ['login', '-u', 'u', '-p', 'pw', 'h'], masked: ['login', '-u', 'u', '-p', '***', 'h'] },
  { argv: ['login', '--password=pw', 'h'], masked: ['login', '--password=***', 'h'] },
  { argv: ['build', '.', 'b', '-p', 'always'], masked: ['build', '.', 'b', '-p', 'always'] },
  { argv: ['run', 'img', '--', '--creds', 'x'], masked: ['run', 'img', '--', '--creds', 'x'] },
  { argv: ['inspect', 'img', '--creds'], masked: ['inspect', 'img', '--creds'] },
  { argv: ['inspect', 'img'], masked: ['inspect', 'img'] },
];

t.test('masked values, and back through the environment', async (t) => {
  for (const c of cases) {
    const hidden = hideSecretArgs(c.argv);
    t.same(hidden.argv, c.masked, c.argv.join(' '));
    const env: NodeJS.ProcessEnv = { ...hidden.env, OTHER: 'kept' };
    t.notOk(JSON.stringify(hidden.argv).includes('pw'), 'no secret in the argv');
    t.same(revealSecretArgs(hidden.argv, env), c.argv, 'revealed');
    t.same(Object.keys(env), ['OTHER'], 'the variable is cleared once read');
  }
});

t.test('the environment puts back only masked elements', async (t) => {
  const { env } = hideSecretArgs(['build', '--creds', 'u:pw']);
  t.same(revealSecretArgs(['build', '--creds', 'other:arg'], { ...env }), ['build', '--creds', 'other:arg'], 'an element that is not masked is kept');
  t.same(revealSecretArgs(['build', 'x', '***'], { ...env }), ['build', 'x', '***'], 'a *** that is no flag value is kept');
  t.same(revealSecretArgs(['build', '--creds', '***'], { OCI_S2I_SECRET_ARGS: 'not json' }), ['build', '--creds', '***'], 'bad JSON: nothing put back');
});
