// The one table from an error to what the CLI does with it: exit code (S2I-CONTRACT.md, spec/cli.md "Exit
// codes") and, for a few steps, the wording. Nothing else in src/ picks an exit code: a throw site gives the
// code (`ErrorCode`), the steps tag what passes through them (`Step`, errors.ts), and this table maps
// (step, code) to the exit. A code means one exit wherever it occurs (`exitByCode`) unless the step it
// went through says otherwise (`stepRows`: the innermost step whose row has a say about the code decides).
import { ExitCode, S2IError, type ErrorCode, type Step, type StepTag } from '../errors.js';

/** The exit code of each error code, wherever it occurs (unless a step row below says otherwise). */
export const exitByCode: Readonly<Record<ErrorCode, number>> = {
  ERR_ABORTED: ExitCode.interrupted,
  ERR_ALLOWED_UIDS_SYNTAX: ExitCode.usage,
  ERR_ARCHIVE_INVALID: ExitCode.generic,
  ERR_ARCHIVE_NOT_FOUND: ExitCode.generic,
  ERR_ARTIFACTS_CORRUPT: ExitCode.saveArtifacts,
  ERR_ARTIFACTS_UNSAFE: ExitCode.saveArtifacts,
  ERR_ASSEMBLE_FAILED: ExitCode.assemble,
  ERR_AS_DOCKERFILE_VALUE: ExitCode.generic,
  ERR_AUTH_FILE_INVALID: ExitCode.generic,
  ERR_AUTH_FILE_MISSING: ExitCode.usage,
  ERR_BAD_ADD_HOST: ExitCode.usage,
  ERR_BAD_COMPRESSION: ExitCode.generic,
  ERR_BAD_COMPRESSION_LEVEL: ExitCode.generic,
  ERR_BAD_MOUNT: ExitCode.usage,
  ERR_BAD_PATH: ExitCode.generic,
  ERR_BLOB_MISSING: ExitCode.generic,
  ERR_BLOB_TOO_LARGE: ExitCode.generic,
  ERR_BLOB_UNKNOWN: ExitCode.generic,
  ERR_BUILD_ARG: ExitCode.usage,
  ERR_COMPRESS: ExitCode.generic,
  ERR_CONFIG_INVALID: ExitCode.generic,
  ERR_CONFLICTING_REF: ExitCode.generic,
  ERR_CONTAINERFILE_MISSING: ExitCode.usage,
  ERR_CONTAINERFILE_SYNTAX: ExitCode.usage,
  ERR_CONTEXT_DIR: ExitCode.sourcePath,
  ERR_COPY_FAILED: ExitCode.sourcePath,
  ERR_CREATE_NAME: ExitCode.generic,
  ERR_CREATE_WRITE: ExitCode.generic,
  ERR_CREDENTIAL_HELPER: ExitCode.generic,
  ERR_DENIED: ExitCode.generic,
  ERR_DESTINATION: ExitCode.generic,
  ERR_DIFFID_MISMATCH: ExitCode.generic,
  ERR_DIGEST_MISMATCH: ExitCode.generic,
  ERR_EMPTY_REPO: ExitCode.emptyRepo,
  ERR_ENV_FILE: ExitCode.generic,
  ERR_ENV_SYNTAX: ExitCode.generic,
  ERR_EXCLUDE_SYNTAX: ExitCode.generic,
  ERR_FOREIGN_LAYER: ExitCode.generic,
  ERR_FORMAT_UNSUPPORTED: ExitCode.generic,
  ERR_GIT_CLONE: ExitCode.sourcePath,
  ERR_GIT_REF: ExitCode.generic,
  ERR_GIT_SUBMODULE: ExitCode.sourcePath,
  ERR_GIT_URL: ExitCode.sourcePath,
  ERR_IGNORE_SYNTAX: ExitCode.usage,
  ERR_IGNORE_UNREADABLE: ExitCode.usage,
  ERR_IMAGE_INCOMPATIBLE: ExitCode.inspect,
  ERR_IMAGE_METADATA: ExitCode.generic,
  ERR_IMAGE_NOT_PRESENT: ExitCode.pull,
  ERR_INJECT_DESTINATION: ExitCode.generic,
  ERR_INTERNAL_STALL: ExitCode.generic,
  ERR_INTERRUPTED: ExitCode.interrupted,
  ERR_INVALID_DESCRIPTOR: ExitCode.generic,
  ERR_INVALID_DIGEST: ExitCode.generic,
  ERR_INVALID_ENV: ExitCode.generic,
  ERR_INVALID_PLATFORM: ExitCode.usage,
  ERR_INVALID_REFERENCE: ExitCode.generic,
  ERR_INVALID_TAG: ExitCode.generic,
  ERR_INVALID_TIMESTAMP: ExitCode.usage,
  ERR_JSON_INVALID: ExitCode.generic,
  ERR_LABEL_SYNTAX: ExitCode.usage,
  ERR_ANNOTATION_SYNTAX: ExitCode.usage,
  ERR_LAYER_APPLY: ExitCode.generic,
  ERR_LAYER_CORRUPT: ExitCode.generic,
  ERR_LAYER_MEDIA_TYPE: ExitCode.generic,
  ERR_LAYER_SOURCE_CHANGED: ExitCode.generic,
  ERR_LAYER_TOO_LARGE: ExitCode.generic,
  ERR_LAYER_WRITE: ExitCode.generic,
  ERR_LAYOUT_INVALID: ExitCode.generic,
  ERR_LAYOUT_NOT_FOUND: ExitCode.generic,
  ERR_LOCAL_IMAGE_AMBIGUOUS: ExitCode.generic,
  ERR_LOCAL_IMAGE_CONFLICT: ExitCode.generic,
  ERR_LOCAL_IMAGE_UNKNOWN: ExitCode.generic,
  ERR_LOCK_CONTENDED: ExitCode.generic,
  ERR_LOCK_TIMEOUT: ExitCode.generic,
  ERR_LOGIN_FAILED: ExitCode.generic,
  ERR_MANIFEST_INVALID: ExitCode.generic,
  ERR_MANIFEST_TOO_LARGE: ExitCode.generic,
  ERR_MANIFEST_UNKNOWN: ExitCode.generic,
  ERR_MANIFEST_UNSUPPORTED: ExitCode.generic,
  ERR_NAME_UNKNOWN: ExitCode.generic,
  ERR_NAMESPACE: ExitCode.container,
  ERR_NATIVE_MISSING: ExitCode.generic,
  ERR_NOT_A_FILE: ExitCode.generic,
  ERR_NOT_IN_BUILDER: ExitCode.container,
  ERR_NOT_LOGGED_IN: ExitCode.generic,
  ERR_NO_COMMAND: ExitCode.usage,
  ERR_OUTPUT_FILE: ExitCode.generic,
  ERR_OVERLAY: ExitCode.container,
  ERR_OVERLAY_UNSUPPORTED: ExitCode.generic,
  ERR_PARENT_GONE: ExitCode.interrupted,
  ERR_PLATFORM_NOT_FOUND: ExitCode.pull,
  // containers-policy.json(5) or registries.d that cannot be used (syntax, unknown requirement, signedBy, a missing key file): bad input.
  ERR_POLICY_INVALID: ExitCode.usage,
  // The signature policy refuses an image (builder, runtime, previous image): nothing of it runs; a pull failure.
  ERR_POLICY_REJECTED: ExitCode.pull,
  ERR_PROXY: ExitCode.generic,
  ERR_PUSH_NOT_RESUMABLE: ExitCode.generic,
  ERR_REBUILD_COMMIT: ExitCode.sourcePath,
  ERR_REBUILD_LABELS: ExitCode.inspect,
  ERR_REGISTRY_CLIENT_CERT: ExitCode.generic,
  // containers-registries.conf(5) that cannot be used (syntax, unknown key, conflicting prefixes): bad input.
  ERR_REGISTRIES_CONF: ExitCode.usage,
  ERR_REGISTRY_BLOCKED: ExitCode.generic,
  ERR_REGISTRY_ERROR: ExitCode.generic,
  ERR_REGISTRY_TLS: ExitCode.generic,
  ERR_REGISTRY_UNREACHABLE: ExitCode.generic,
  ERR_RUNTIME_ARTIFACT: ExitCode.usage,
  ERR_RUNTIME_MISSING: ExitCode.container,
  ERR_RUNTIME_START: ExitCode.container,
  ERR_RUNTIME_UNKNOWN: ExitCode.usage,
  ERR_RUNTIME_UNSUPPORTED: ExitCode.container,
  ERR_RUN_FAILED: ExitCode.generic,
  ERR_S2IIGNORE_READ: ExitCode.generic,
  ERR_S2IIGNORE_SYNTAX: ExitCode.generic,
  ERR_SANDBOX: ExitCode.container,
  ERR_SBOM_INPUT: ExitCode.generic,
  // s2i: a plain error (exit 1), "could not download any scripts from URL".
  ERR_SCRIPTS_URL_EMPTY: ExitCode.generic,
  ERR_SCRIPTS_URL_SCHEME: ExitCode.urlHandler,
  ERR_SCRIPT_DOWNLOAD: ExitCode.download,
  ERR_SCRIPT_MISSING: ExitCode.scriptMissing,
  // A short name that registries.conf does not resolve to one image (no search registries, ambiguous when enforcing).
  ERR_SHORT_NAME: ExitCode.pull,
  ERR_SIZE_MISMATCH: ExitCode.generic,
  ERR_SIGNATURE_STORE: ExitCode.generic,
  // A signing key that cannot be read, or the wrong passphrase for it: bad input.
  ERR_SIGN_KEY: ExitCode.usage,
  ERR_SIGN_PASSPHRASE: ExitCode.usage,
  ERR_SNAPSHOT: ExitCode.generic,
  ERR_SNAPSHOT_EXCLUDE: ExitCode.generic,
  ERR_SNAPSHOT_ROOT: ExitCode.generic,
  ERR_SOURCE_MISSING: ExitCode.generic,
  ERR_SOURCE_NOT_DIR: ExitCode.generic,
  ERR_SOURCE_UNREADABLE: ExitCode.generic,
  ERR_STORE_CORRUPT: ExitCode.generic,
  ERR_STORE_ROOT: ExitCode.generic,
  ERR_SYNC_FILE: ExitCode.usage,
  ERR_TAG_NOT_FOUND: ExitCode.generic,
  ERR_TLS_CONFIG: ExitCode.generic,
  ERR_TOO_MANY_LAYERS: ExitCode.container,
  ERR_TOO_MANY_REQUESTS: ExitCode.generic,
  ERR_UNAUTHORIZED: ExitCode.generic,
  ERR_UNSAFE_PATH: ExitCode.generic,
  ERR_UNSHARE: ExitCode.generic,
  ERR_UNSUPPORTED: ExitCode.generic,
  ERR_UPLOAD_SOURCE: ExitCode.generic,
  ERR_USAGE: ExitCode.usage,
  ERR_USER_NOT_ALLOWED: ExitCode.userNotAllowed,
  ERR_USER_UNKNOWN: ExitCode.generic,
  ERR_USE_CONFIG: ExitCode.usage,
  ERR_WORKDIR: ExitCode.workdir,
};

/** A registry's refusal or silence: pulling, it is "pulling NAME: …". */
const registryCodes: readonly ErrorCode[] = [
  'ERR_REGISTRY_BLOCKED',
  'ERR_REGISTRY_ERROR',
  'ERR_REGISTRY_UNREACHABLE',
  'ERR_REGISTRY_TLS',
  'ERR_REGISTRY_CLIENT_CERT',
  'ERR_PROXY',
  'ERR_UNAUTHORIZED',
  'ERR_DENIED',
  'ERR_NAME_UNKNOWN',
];
/** The image is not where it was said to be; pulling, the message names it ("NAME: …"). */
const notThereCodes: readonly ErrorCode[] = ['ERR_TAG_NOT_FOUND', 'ERR_LOCAL_IMAGE_UNKNOWN', 'ERR_LOCAL_IMAGE_AMBIGUOUS', 'ERR_ARCHIVE_INVALID', 'ERR_ARCHIVE_NOT_FOUND', 'ERR_LAYOUT_INVALID', 'ERR_LAYOUT_NOT_FOUND', 'ERR_BLOB_UNKNOWN'];
/** Bytes that do not match their descriptor, or a layer that is not a valid tar: a corrupt blob. */
const corruptCodes: readonly ErrorCode[] = ['ERR_DIGEST_MISMATCH', 'ERR_SIZE_MISMATCH', 'ERR_DIFFID_MISMATCH', 'ERR_LAYER_CORRUPT', 'ERR_BLOB_TOO_LARGE'];
/** A manifest, index or config that cannot be used (also: an index in an index, layers and diff_ids disagreeing). */
const unusableImageCodes: readonly ErrorCode[] = [
  'ERR_MANIFEST_INVALID',
  'ERR_MANIFEST_UNSUPPORTED',
  'ERR_MANIFEST_TOO_LARGE',
  'ERR_MANIFEST_UNKNOWN',
  'ERR_CONFIG_INVALID',
  'ERR_JSON_INVALID',
  'ERR_INVALID_DIGEST',
  'ERR_TOO_MANY_REQUESTS',
  'ERR_BLOB_MISSING',
  'ERR_FOREIGN_LAYER',
];

export interface StepRow {
  /** Exit codes of codes that exit differently in this step. */
  codes?: Partial<Record<ErrorCode, number>>;
  /** Every code exits with this in this step, whatever `exitByCode` says. */
  all?: number;
  /** Codes that would exit 1 (`exitByCode`) exit with this instead in this step. */
  generic?: number;
  /** The message as printed, given the error's own message and what the step worked on (when it said). */
  message?: (code: ErrorCode, message: string, subject: string) => string;
}

const pullCodes = [...registryCodes, ...notThereCodes, ...corruptCodes, ...unusableImageCodes];

/** Where the step an error happened in changes its exit code or wording. */
export const stepRows: Readonly<Record<Step, StepRow>> = {
  // spec/cli.md: 2 = "pulling an image failed: unknown image or tag, registry unreachable, unauthorized, corrupt blob".
  pull: {
    codes: Object.fromEntries(pullCodes.map((c) => [c, ExitCode.pull])),
    message: (code, message, name) => {
      if (registryCodes.includes(code)) return `pulling ${name}: ${message}`;
      if (notThereCodes.includes(code) || corruptCodes.includes(code)) return message.includes(name) ? message : `${name}: ${message}`;
      return message;
    },
  },
  // A Containerfile's FROM: whatever keeps the base image from being read is a failed pull, named by its FROM.
  from: { generic: ExitCode.pull, message: (_code, message, from) => `FROM ${from}: ${message}` },
  // A flag conflict found after parsing (e.g. --format against what the destination holds) is still bad usage.
  usage: { all: ExitCode.usage },
  // spec/cli.md: 14 = "the source path does not exist or is not a directory" (and a git ref that is not there).
  source: { codes: { ERR_SOURCE_MISSING: ExitCode.sourcePath, ERR_GIT_REF: ExitCode.sourcePath } },
  // spec/cli.md: 5 = "a path inside the image could not be used (destination, working directory)".
  workdir: { all: ExitCode.workdir },
  // spec/cli.md: 6 = "writing the new layer or image failed" (the result fails its --check; an artifact is gone).
  commit: { codes: { ERR_IMAGE_INCOMPATIBLE: ExitCode.commit, ERR_RUNTIME_ARTIFACT: ExitCode.commit } },
};

/** The exit of `code` by the row of `tag`'s step, when that row has a say about it. */
function decide(tag: StepTag, code: ErrorCode, byCode: number): { exit: number; reworded: boolean } | undefined {
  const row = stepRows[tag.step];
  if (row.all !== undefined) return { exit: row.all, reworded: false };
  const own = row.codes?.[code];
  if (own !== undefined) return { exit: own, reworded: own !== byCode };
  if (row.generic !== undefined && byCode === ExitCode.generic) return { exit: row.generic, reworded: true };
  return undefined;
}

/** The innermost step of `e` with a say about its code (and how), or the code's own exit. */
function lookup(e: S2IError): { exit: number; reworded: boolean; tag?: StepTag } {
  const byCode = exitByCode[e.code] ?? ExitCode.generic;
  for (const tag of e.steps) {
    const d = decide(tag, e.code, byCode);
    if (d) return { ...d, tag };
  }
  return { exit: byCode, reworded: false };
}

/** The process exit code for `e` (1 for anything that is not ours). */
export function exitCodeFor(e: unknown): number {
  return e instanceof S2IError ? lookup(e).exit : ExitCode.generic;
}

/**
 * The message the CLI prints for `e`: the deciding step's wording applies when that step named what it worked on
 * and changed the exit code (an error already a pull failure where it was thrown keeps its words).
 */
export function messageFor(e: S2IError): string {
  const { tag, reworded } = lookup(e);
  const row = tag ? stepRows[tag.step] : undefined;
  if (!tag || !row?.message || tag.subject === undefined || !reworded) return e.message;
  return row.message(e.code, e.message, tag.subject);
}
