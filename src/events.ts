// Progress events. Library code emits these and never prints; the CLI renders them.

export type ProgressEvent =
  | { type: 'step'; name: string; state: 'start' | 'end'; ms?: number }
  | { type: 'blob'; op: 'pull' | 'push'; digest: string; size: number; done: number; state: 'start' | 'progress' | 'end' | 'skipped' | 'mounted' | 'cached' }
  | { type: 'log'; level: 'info' | 'warn' | 'debug'; message: string }
  /** Where a build's assemble runs, chosen once per build (`--isolation`): `path` is a short name for tools
   *  (`sandbox/root/overlay`, `sandbox/userns-single/copy`, …), `message` the line shown at info level. */
  | { type: 'isolation'; path: string; message: string }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Buffer }
  /** --save-temp-dir: the build's directory, kept whatever the outcome (a failed build's too). */
  | { type: 'temp-dir'; path: string }
  /** A registry image served by another endpoint than its name (registries.conf: a mirror, a rewritten location,
   *  a short name's candidate); `image` as asked, `endpoint` host/repository[:tag][@digest]. */
  | { type: 'pull-source'; image: string; endpoint: string; mirror: boolean };

export type ProgressSink = (e: ProgressEvent) => void;

export const noProgress: ProgressSink = () => {};
