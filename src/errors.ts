// Error classes with stable codes. The CLI maps `code` to an exit code and prints `message` on one line.
// A message says what went wrong and what to do; it never contains credentials.

export class S2IError extends Error {
  readonly code: string;
  /** Process exit code the CLI uses for this error (S2I-CONTRACT.md exit codes). */
  readonly exitCode: number;
  constructor(code: string, message: string, opts: { cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'S2IError';
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Exit codes kept from s2i (S2I-CONTRACT.md). */
export const ExitCode = {
  generic: 1,
  inspect: 1,
  pull: 2,
  saveArtifacts: 3,
  assemble: 4,
  workdir: 5,
  commit: 6,
  tarTimeout: 7,
  download: 8,
  scriptsInsideImage: 9,
  install: 10,
  scriptMissing: 11,
  urlHandler: 12,
  container: 13,
  sourcePath: 14,
  userNotAllowed: 15,
  emptyRepo: 16,
  usage: 64,
  interrupted: 130,
} as const;

/** Code of any error-like value (ours, Node's system errors), or undefined. */
export function errorCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}
