// Flag values that are secrets (--creds USER:PASS, --src-creds, --dest-creds, login's --password/-p) are kept out
// of what other users of the machine can read: once the CLI runs, its process title (/proc/PID/cmdline, `ps`)
// shows `***` for them, and an engine re-executed into its namespace gets them through its environment (readable
// by its own user only), never through its argv. What is left: the moment between exec and the first line of
// the CLI, which no program given a secret on its command line can close (hence --password-stdin and auth files).
// Imported by the launcher (launch.ts): nothing but Node here.

/** Where a re-executed CLI finds the secret values its argv shows as `***`: JSON `{ "<argv index>": "<original arg>" }`. */
const SECRET_ENV = 'OCI_S2I_SECRET_ARGS';
const MASK = '***';
const secretFlags = new Set(['--creds', '--src-creds', '--dest-creds']);
/** Only `login` has these (`-p` is --pull-policy elsewhere). */
const loginSecretFlags = new Set(['--password', '-p']);

/** Indices of argv elements that are (or end with) a secret value, and each one masked. */
function secretArgs(argv: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  const isSecret = (flag: string): boolean => secretFlags.has(flag) || (argv[0] === 'login' && loginSecretFlags.has(flag));
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && isSecret(a.slice(0, eq))) out.set(i, `${a.slice(0, eq + 1)}${MASK}`);
    else if (isSecret(a) && i + 1 < argv.length) out.set(++i, MASK);
  }
  return out;
}

/** Sets this process's title to its command line with secret values masked (when it has any). */
export function maskProcessTitle(argv: readonly string[]): void {
  const secrets = secretArgs(argv);
  if (secrets.size === 0) return;
  process.title = ['oci-s2i', ...argv.map((a, i) => secrets.get(i) ?? a)].join(' ');
}

/** argv with its secret values masked, and the environment that gives them back to the re-executed CLI (revealSecretArgs). */
export function hideSecretArgs(argv: readonly string[]): { argv: string[]; env: Record<string, string> } {
  const secrets = secretArgs(argv);
  if (secrets.size === 0) return { argv: [...argv], env: {} };
  const originals: Record<string, string> = {};
  for (const i of secrets.keys()) originals[String(i)] = argv[i]!;
  return { argv: argv.map((a, i) => secrets.get(i) ?? a), env: { [SECRET_ENV]: JSON.stringify(originals) } };
}

/**
 * The argv a re-executed CLI was meant to have: masked secret values put back from the environment (which is
 * then cleared, so no child of this process inherits it). An element is put back only where it is masked.
 */
export function revealSecretArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[SECRET_ENV];
  if (raw === undefined) return [...argv];
  delete env[SECRET_ENV];
  let originals: Record<string, unknown>;
  try {
    originals = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return [...argv];
  }
  const masked = secretArgs(argv);
  return argv.map((a, i) => {
    const o = originals[String(i)];
    return typeof o === 'string' && masked.get(i) === a ? o : a;
  });
}
