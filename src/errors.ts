// Errors: one class, a fixed code per condition (`ErrorCode`), and the pipeline step it happened in (`Step`).
// Nothing here or below `cli/` decides an exit code: the CLI's one table (`cli/error-table.ts`) maps
// (step, code) to the exit code (S2I-CONTRACT.md) and, for a few steps, rewords the message. A throw site gives
// the code; a step tags what passes through it (`withStep`, `tagStep`), and the innermost step that has a say
// about the code wins (a registry read inside a FROM is a pull; what the pull step has no row for is FROM's). A
// throw site may name its step itself when it knows it (a digest mismatch of bytes read from a source is a pull
// failure).
// A message says what went wrong and what to do, on one line; it never contains credentials.

/** Every error code the engine throws; `cli/error-table.ts` gives each an exit code. */
export type ErrorCode =
  | 'ERR_ABORTED'
  | 'ERR_ALLOWED_UIDS_SYNTAX'
  | 'ERR_ARCHIVE_INVALID'
  | 'ERR_ARCHIVE_NOT_FOUND'
  | 'ERR_ARTIFACTS_CORRUPT'
  | 'ERR_ARTIFACTS_UNSAFE'
  | 'ERR_ASSEMBLE_FAILED'
  | 'ERR_AS_DOCKERFILE_VALUE'
  | 'ERR_AUTH_FILE_INVALID'
  | 'ERR_AUTH_FILE_MISSING'
  | 'ERR_BAD_ADD_HOST'
  | 'ERR_BAD_COMPRESSION'
  | 'ERR_BAD_COMPRESSION_LEVEL'
  | 'ERR_BAD_MOUNT'
  | 'ERR_BAD_PATH'
  | 'ERR_BLOB_MISSING'
  | 'ERR_BLOB_TOO_LARGE'
  | 'ERR_BLOB_UNKNOWN'
  | 'ERR_BUILD_ARG'
  | 'ERR_COMPRESS'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFLICTING_REF'
  | 'ERR_CONTAINERFILE_MISSING'
  | 'ERR_CONTAINERFILE_SYNTAX'
  | 'ERR_CONTEXT_DIR'
  | 'ERR_COPY_FAILED'
  | 'ERR_CREATE_NAME'
  | 'ERR_CREATE_WRITE'
  | 'ERR_CREDENTIAL_HELPER'
  | 'ERR_DENIED'
  | 'ERR_DESTINATION'
  | 'ERR_DIFFID_MISMATCH'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_EMPTY_REPO'
  | 'ERR_ENV_FILE'
  | 'ERR_ENV_SYNTAX'
  | 'ERR_EXCLUDE_SYNTAX'
  | 'ERR_FOREIGN_LAYER'
  | 'ERR_FORMAT_UNSUPPORTED'
  | 'ERR_GIT_CLONE'
  | 'ERR_GIT_REF'
  | 'ERR_GIT_SUBMODULE'
  | 'ERR_GIT_URL'
  | 'ERR_IGNORE_SYNTAX'
  | 'ERR_IGNORE_UNREADABLE'
  | 'ERR_IMAGE_INCOMPATIBLE'
  | 'ERR_IMAGE_METADATA'
  | 'ERR_IMAGE_NOT_PRESENT'
  | 'ERR_INJECT_DESTINATION'
  | 'ERR_INTERNAL_STALL'
  | 'ERR_INTERRUPTED'
  | 'ERR_INVALID_DESCRIPTOR'
  | 'ERR_INVALID_DIGEST'
  | 'ERR_INVALID_ENV'
  | 'ERR_INVALID_PLATFORM'
  | 'ERR_INVALID_REFERENCE'
  | 'ERR_INVALID_TAG'
  | 'ERR_INVALID_TIMESTAMP'
  | 'ERR_JSON_INVALID'
  | 'ERR_LABEL_SYNTAX'
  | 'ERR_ANNOTATION_SYNTAX'
  | 'ERR_LAYER_APPLY'
  | 'ERR_LAYER_CORRUPT'
  | 'ERR_LAYER_MEDIA_TYPE'
  | 'ERR_LAYER_SOURCE_CHANGED'
  | 'ERR_LAYER_TOO_LARGE'
  | 'ERR_LAYER_WRITE'
  | 'ERR_LAYOUT_INVALID'
  | 'ERR_LAYOUT_NOT_FOUND'
  | 'ERR_LOCAL_IMAGE_AMBIGUOUS'
  | 'ERR_LOCAL_IMAGE_CONFLICT'
  | 'ERR_LOCAL_IMAGE_UNKNOWN'
  | 'ERR_LOCK_CONTENDED'
  | 'ERR_LOCK_TIMEOUT'
  | 'ERR_LOGIN_FAILED'
  | 'ERR_MANIFEST_INVALID'
  | 'ERR_MANIFEST_TOO_LARGE'
  | 'ERR_MANIFEST_UNKNOWN'
  | 'ERR_MANIFEST_UNSUPPORTED'
  | 'ERR_NAMESPACE'
  | 'ERR_NAME_UNKNOWN'
  | 'ERR_NATIVE_MISSING'
  | 'ERR_NOT_A_FILE'
  | 'ERR_NOT_IN_BUILDER'
  | 'ERR_NOT_LOGGED_IN'
  | 'ERR_NO_COMMAND'
  | 'ERR_OUTPUT_FILE'
  | 'ERR_OVERLAY'
  | 'ERR_OVERLAY_UNSUPPORTED'
  | 'ERR_PARENT_GONE'
  | 'ERR_PLATFORM_NOT_FOUND'
  | 'ERR_POLICY_INVALID'
  | 'ERR_POLICY_REJECTED'
  | 'ERR_PROXY'
  | 'ERR_PUSH_NOT_RESUMABLE'
  | 'ERR_REBUILD_COMMIT'
  | 'ERR_REBUILD_LABELS'
  | 'ERR_REGISTRY_CLIENT_CERT'
  | 'ERR_REGISTRIES_CONF'
  | 'ERR_REGISTRY_BLOCKED'
  | 'ERR_REGISTRY_ERROR'
  | 'ERR_REGISTRY_TLS'
  | 'ERR_REGISTRY_UNREACHABLE'
  | 'ERR_RUNTIME_ARTIFACT'
  | 'ERR_RUNTIME_MISSING'
  | 'ERR_RUNTIME_START'
  | 'ERR_RUNTIME_UNKNOWN'
  | 'ERR_RUNTIME_UNSUPPORTED'
  | 'ERR_RUN_FAILED'
  | 'ERR_S2IIGNORE_READ'
  | 'ERR_S2IIGNORE_SYNTAX'
  | 'ERR_SANDBOX'
  | 'ERR_SBOM_INPUT'
  | 'ERR_SCRIPTS_URL_EMPTY'
  | 'ERR_SCRIPTS_URL_SCHEME'
  | 'ERR_SCRIPT_DOWNLOAD'
  | 'ERR_SCRIPT_MISSING'
  | 'ERR_SHORT_NAME'
  | 'ERR_SIZE_MISMATCH'
  | 'ERR_SIGNATURE_STORE'
  | 'ERR_SIGN_KEY'
  | 'ERR_SIGN_PASSPHRASE'
  | 'ERR_SNAPSHOT'
  | 'ERR_SNAPSHOT_EXCLUDE'
  | 'ERR_SNAPSHOT_ROOT'
  | 'ERR_SOURCE_MISSING'
  | 'ERR_SOURCE_NOT_DIR'
  | 'ERR_SOURCE_UNREADABLE'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_STORE_ROOT'
  | 'ERR_SYNC_FILE'
  | 'ERR_TAG_NOT_FOUND'
  | 'ERR_TLS_CONFIG'
  | 'ERR_TOO_MANY_LAYERS'
  | 'ERR_TOO_MANY_REQUESTS'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_UNSAFE_PATH'
  | 'ERR_UNSHARE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_UPLOAD_SOURCE'
  | 'ERR_USAGE'
  | 'ERR_USER_NOT_ALLOWED'
  | 'ERR_USER_UNKNOWN'
  | 'ERR_USE_CONFIG'
  | 'ERR_WORKDIR';

/**
 * The pipeline step an error happened in, where the exit code depends on it:
 * - `usage`: checking what the command line asked for (a flag conflict found late is still a usage error);
 * - `source`: reading the application source (local directory, git clone, build context);
 * - `pull`: reading an image from where it lives (registry, layout, archive, the store's copy of it);
 * - `from`: resolving a Containerfile's FROM image;
 * - `workdir`: making a path inside the image usable (working directory, destination);
 * - `commit`: making the new image from the assembled root file system.
 */
export type Step = 'usage' | 'source' | 'pull' | 'from' | 'workdir' | 'commit';

export class S2IError extends Error {
  readonly code: ErrorCode;
  /** The steps this error went through, innermost first, each with what it worked on when it said (`tagStep`). */
  readonly steps: StepTag[] = [];
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; step?: Step } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'S2IError';
    this.code = code;
    if (opts.step) this.steps.push({ step: opts.step });
  }

  /** The innermost step. */
  get step(): Step | undefined {
    return this.steps[0]?.step;
  }
}

export interface StepTag {
  step: Step;
  /** What the step worked on (an image name), for the message. */
  subject?: string;
}

/**
 * Tags `e` (when it is an S2IError) as having gone through `step`, working on `subject`, outside the steps it
 * went through already, and returns it: `catch (e) { throw tagStep('pull', e, name); }`.
 */
export function tagStep(step: Step, e: unknown, subject?: string): unknown {
  if (e instanceof S2IError) e.steps.push(subject === undefined ? { step } : { step, subject });
  return e;
}

/** Runs `f` with what it throws (or rejects with) tagged with `step` (see `tagStep`). */
export async function withStep<T>(step: Step, f: () => Promise<T>, subject?: string): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw tagStep(step, e, subject);
  }
}

/** `withStep` for synchronous work. */
export function withStepSync<T>(step: Step, f: () => T, subject?: string): T {
  try {
    return f();
  } catch (e) {
    throw tagStep(step, e, subject);
  }
}

/** Exit codes kept from s2i (S2I-CONTRACT.md); which error gets which is `cli/error-table.ts`'s to say. */
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
